"""Published ports through the Engine API on the fake fabric: what `docker run -p`,
`docker port`, `docker ps` and `docker inspect` see, Docker's refusals, and the
host firewall's DNAT elements coming and going with the container."""

from __future__ import annotations

import pytest
from api_helpers import FakeProcesses, call
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.api import containers, networks
from emulator.api.context import HostContext
from emulator.cnm.engine import Engine
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.drivers.portmapping import port_specs_to_api
from emulator.fabric.fake import FakeFabric

ALLOCATED = "Bind for 0.0.0.0:8080 failed: port is already allocated"


@pytest.fixture
def host(engine: Engine, fabric: FakeFabric, tmp_path) -> HostContext:
    engine.lifecycle = ContainerLifecycle(engine, tmp_path, FakeProcesses(fabric).wait_end)
    return HostContext(engine)


def run(host: HostContext, name: str, specs: list[str], network: str = "default",
        start: bool = True, **extra) -> dict:
    exposed, bindings = port_specs_to_api(specs)
    body = {"Cmd": ["sleep", "9"], "ExposedPorts": {**exposed, **extra.pop("expose", {})},
            "HostConfig": {"PortBindings": bindings, "NetworkMode": network, **extra}}
    created = call(containers.create_container, host, "POST", body, query={"name": name})
    assert created.status == 201
    if start:
        call(containers.start_container, host, "POST", id=name)
    return created.body


def inspect(host: HostContext, name: str) -> dict:
    return call(containers.inspect_container, host, id=name).body


def listed_ports(host: HostContext, name: str) -> list[dict]:
    listed = call(containers.list_containers, host, query={"all": "1"}).body
    return next(c["Ports"] for c in listed if c["Names"] == ["/" + name])


def test_a_published_port_shows_in_inspect_and_the_list(host: HostContext) -> None:
    run(host, "web", ["8080:80", "127.0.0.1:5353:53/udp"])
    shown = inspect(host, "web")
    assert shown["NetworkSettings"]["Ports"] == {
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
    }
    assert shown["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]}
    assert shown["HostConfig"]["PublishAllPorts"] is False
    assert shown["Config"]["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert listed_ports(host, "web") == [
        {"IP": "127.0.0.1", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]


def test_the_firewall_dnats_while_the_container_runs(host: HostContext,
                                                     fabric: FakeFabric) -> None:
    run(host, "web", ["8080:80"])
    ip = inspect(host, "web")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert f"tcp . 8080 : {ip} . 80" in fabric.firewall.elements["published_any"]
    assert fabric.sysctls["net/ipv4/conf/docker0/route_localnet"] == "1"
    call(containers.stop_container, host, "POST", id="web")
    assert not fabric.firewall.elements["published_any"]
    assert inspect(host, "web")["NetworkSettings"]["Ports"] == {}
    call(containers.start_container, host, "POST", id="web")
    call(containers.remove_container, host, "DELETE", id="web", query={"force": "1"})
    assert not fabric.firewall.elements["published_any"]


def test_a_taken_port_is_refused_at_start_with_docker_s_text(host: HostContext) -> None:
    run(host, "web", ["8080:80"])
    run(host, "web2", ["8080:80"], start=False)
    ep_id = None
    with pytest.raises(err.DockerError) as refused:
        call(containers.start_container, host, "POST", id="web2")
    ep_id = refused.value.message.split("(")[1].split(")")[0]
    assert refused.value.status == 500
    assert refused.value.message == (
        "failed to set up container networking: driver failed programming external "
        f"connectivity on endpoint web2 ({ep_id}): {ALLOCATED}")
    assert inspect(host, "web2")["State"]["Running"] is False
    call(containers.stop_container, host, "POST", id="web")
    call(containers.start_container, host, "POST", id="web2")  # the port was released
    assert inspect(host, "web2")["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "8080"


def test_any_port_comes_from_the_host_s_local_range(host: HostContext,
                                                    fabric: FakeFabric) -> None:
    fabric.sysctls["net.ipv4.ip_local_port_range"] = "40000\t40009"
    run(host, "one", ["80"])
    run(host, "two", ["80", "8000-8010:81"])
    assert inspect(host, "one")["NetworkSettings"]["Ports"]["80/tcp"] == [
        {"HostIp": "0.0.0.0", "HostPort": "40000"}]
    ports = inspect(host, "two")["NetworkSettings"]["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "40001"}]
    assert ports["81/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8000"}]


def test_publish_all_publishes_the_exposed_ports(host: HostContext) -> None:
    run(host, "web", [], PublishAllPorts=True, expose={"80/tcp": {}, "90/udp": {}})
    ports = inspect(host, "web")["NetworkSettings"]["Ports"]
    assert sorted(ports) == ["80/tcp", "90/udp"]
    assert all(int(b[0]["HostPort"]) >= 32768 for b in ports.values())
    run(host, "quiet", [], expose={"7000/tcp": {}})
    assert inspect(host, "quiet")["NetworkSettings"]["Ports"] == {"7000/tcp": None}
    assert listed_ports(host, "quiet") == [{"PrivatePort": 7000, "Type": "tcp"}]


def test_host_mode_discards_published_ports_with_docker_s_warning(host: HostContext,
                                                                   fabric: FakeFabric) -> None:
    created = run(host, "hostmode", ["8080:80"], network="host")
    assert created["Warnings"] == ["Published ports are discarded when using host network mode"]
    assert inspect(host, "hostmode")["NetworkSettings"]["Ports"] == {}
    assert listed_ports(host, "hostmode") == []
    assert not fabric.firewall.elements.get("published_any")


def test_an_internal_network_publishes_nothing(host: HostContext, fabric: FakeFabric) -> None:
    call(networks.create_network, host, "POST", {"Name": "inside", "Internal": True})
    run(host, "web", ["8080:80"], network="inside")
    assert inspect(host, "web")["NetworkSettings"]["Ports"] == {}
    assert not fabric.firewall.elements.get("published_any")
    run(host, "web2", ["8080:80"])  # nothing was taken


def test_bad_port_bindings_are_refused_at_create(host: HostContext) -> None:
    body = {"Cmd": ["true"], "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "x"}]}}}
    with docker_error(err.InvalidParameter, 400, 'invalid port specification: "x"'):
        call(containers.create_container, host, "POST", body, query={"name": "bad"})
    assert not host.engine.containers


def test_a_macvlan_container_ignores_published_ports_silently(tmp_path) -> None:
    """As dockerd: the macvlan driver programs no external connectivity, and no warning."""
    fabric = FakeFabric("h1", nics=("eth0", "eth1"))
    engine = Engine("h1", fabric)
    engine.lifecycle = ContainerLifecycle(engine, tmp_path, FakeProcesses(fabric).wait_end)
    host = HostContext(engine)
    call(networks.create_network, host, "POST",
         {"Name": "lan", "Driver": "macvlan", "Options": {"parent": "eth1"}})
    created = run(host, "mv", ["8080:80"], network="lan")
    assert created["Warnings"] == []
    assert inspect(host, "mv")["NetworkSettings"]["Ports"] == {}
    assert not fabric.firewall.elements.get("published_any")


def test_ports_follow_the_default_route_when_networks_change(host: HostContext,
                                                             fabric: FakeFabric) -> None:
    """libnetwork programs the ports on the endpoint holding the gateway, and moves them."""
    call(networks.create_network, host, "POST", {"Name": "aaa"})
    run(host, "web", ["8080:80"])
    old = inspect(host, "web")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    call(networks.connect_container, host, "POST", {"Container": "web"}, id="aaa")
    new = inspect(host, "web")["NetworkSettings"]["Networks"]["aaa"]["IPAddress"]
    assert fabric.firewall.elements["published_any"] == {f"tcp . 8080 : {new} . 80"}
    call(networks.disconnect_container, host, "POST", {"Container": "web"}, id="aaa")
    assert fabric.firewall.elements["published_any"] == {f"tcp . 8080 : {old} . 80"}
    assert inspect(host, "web")["NetworkSettings"]["Ports"] == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
