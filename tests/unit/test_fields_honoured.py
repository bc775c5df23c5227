"""Create-request fields the emulator honours, through the Engine API over a fake fabric.

Each test is named by the field table (emulator/api/containerfields.py) for the
fields it shows honoured; the MAC address and legacy-link tests follow moby v28.5.2
(api/server/router/container/container_routes.go handleMACAddressBC,
daemon/container_operations.go validateEndpointSettings, daemon/daemon_unix.go
registerLinks, daemon/container_operations_unix.go addLegacyLinks) and note where
20.10 (API < 1.44) differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import dns.message
import pytest
from api_helpers import FakeProcesses, call
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.api import containers, networks
from emulator.api.containers import CONTAINER_WIDE_MAC_DEPRECATED
from emulator.api.context import HostContext
from emulator.api.router import Request
from emulator.cnm.dnsanswers import Forward, answer
from emulator.cnm.dnsnames import NameTable
from emulator.cnm.endpoints import parse_mac
from emulator.cnm.engine import Engine
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.cnm.links import link_env
from emulator.cnm.model import Container
from emulator.drivers.portmapping import PortOptions, parse_port_key
from emulator.fabric.fake import FakeFabric

MAC = "02:42:ac:11:00:99"


@pytest.fixture
def engine(fabric: FakeFabric, tmp_path: Path) -> Engine:
    return Engine("h1", fabric, state_dir=tmp_path / "state", dns_servers=["192.0.2.53"])


@pytest.fixture
def host(engine: Engine, fabric: FakeFabric, tmp_path: Path) -> HostContext:
    engine.lifecycle = ContainerLifecycle(engine, tmp_path, FakeProcesses(fabric).wait_end)
    return HostContext(engine)


def create(host: HostContext, name: str | None = None, api_version: str | None = None,
           **body) -> dict:
    """The create's answer body (status 201)."""
    request = Request("POST", "/", {"name": [name]} if name else {}, {},
                      json.dumps({"Image": "alpine", **body}).encode(),
                      api_version=api_version)
    response = containers.create_container(host, request)
    assert response.status == 201
    return response.body


def start(host: HostContext, name: str) -> None:
    assert call(containers.start_container, host, "POST", id=name).status == 204


def inspect(host: HostContext, name: str) -> dict:
    return call(containers.inspect_container, host, id=name).body


def network(host: HostContext, name: str, subnet: str | None = None) -> str:
    ipam = {"IPAM": {"Config": [{"Subnet": subnet}]}} if subnet else {}
    return call(networks.create_network, host, "POST", {"Name": name, **ipam}).body["Id"]


def iface_mac(fabric: FakeFabric, host: HostContext, name: str, ifname: str = "eth0") -> str:
    return fabric.sandbox_ifaces[host.engine.get_container(name).id][ifname].mac


# -- fields named by the table ------------------------------------------------------------


def test_hostname_and_domainname(host: HostContext, engine: Engine) -> None:
    create(host, "web", Hostname="web1", Domainname="corp.example")
    start(host, "web")
    shown = inspect(host, "web")
    assert (shown["Config"]["Hostname"], shown["Config"]["Domainname"]) == ("web1",
                                                                            "corp.example")
    hosts = Path(shown["HostsPath"]).read_text().splitlines()
    assert hosts[-1].split("\t")[1] == "web1.corp.example web1"
    assert Path(shown["HostnamePath"]).read_text() == "web1\n"


def test_exposed_and_published_ports(host: HostContext) -> None:
    create(host, "web", ExposedPorts={"80/tcp": {}, "53/udp": {}},
           HostConfig={"PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                       "PublishAllPorts": True})
    start(host, "web")
    shown = inspect(host, "web")
    assert [b["HostPort"] for b in shown["HostConfig"]["PortBindings"]["80/tcp"]] == ["8080"]
    assert shown["HostConfig"]["PublishAllPorts"] is True
    ports = shown["NetworkSettings"]["Ports"]
    assert {b["HostPort"] for b in ports["80/tcp"]} == {"8080"}
    assert ports["53/udp"] and all(b["HostPort"] != "0" for b in ports["53/udp"])


def test_labels(host: HostContext) -> None:
    create(host, "web", Labels={"tier": "front"})
    create(host, "db")
    assert inspect(host, "web")["Config"]["Labels"] == {"tier": "front"}
    listed = call(containers.list_containers, host,
                  query={"all": "1", "filters": '{"label": ["tier=front"]}'}).body
    assert [c["Names"] for c in listed] == [["/web"]]


def test_network_mode(host: HostContext) -> None:
    network(host, "n1")
    create(host, "web", HostConfig={"NetworkMode": "n1"})
    create(host, "solo", HostConfig={"NetworkMode": "none"})
    assert list(inspect(host, "web")["NetworkSettings"]["Networks"]) == ["n1"]
    assert inspect(host, "web")["HostConfig"]["NetworkMode"] == "n1"
    assert list(inspect(host, "solo")["NetworkSettings"]["Networks"]) == ["none"]


def test_endpoint_address_and_aliases(host: HostContext) -> None:
    network(host, "n1", "10.9.0.0/24")
    create(host, "web", HostConfig={"NetworkMode": "n1"}, NetworkingConfig={
        "EndpointsConfig": {"n1": {"IPAMConfig": {"IPv4Address": "10.9.0.7"},
                                   "Aliases": ["www"]}}})
    start(host, "web")
    shown = inspect(host, "web")["NetworkSettings"]["Networks"]["n1"]
    assert shown["IPAddress"] == "10.9.0.7" and shown["Aliases"] == ["www"]


def test_endpoint_network_id(host: HostContext) -> None:
    """daemon's getNetworkID: on a user-defined network the endpoint's NetworkID, when
    given, names the network joined (clients recreating a container echo inspect's);
    the operational fields echoed with it are ignored, as dockerd fills them in."""
    network(host, "n1", "10.9.0.0/24")
    n2 = network(host, "n2", "10.8.0.0/24")
    create(host, "web", HostConfig={"NetworkMode": "n1"}, NetworkingConfig={
        "EndpointsConfig": {"n1": {"NetworkID": n2, "IPAddress": "10.9.0.99",
                                   "EndpointID": "e" * 64, "Gateway": "10.9.0.254"}}})
    start(host, "web")
    networks_shown = inspect(host, "web")["NetworkSettings"]["Networks"]
    assert list(networks_shown) == ["n2"]
    shown = networks_shown["n2"]
    assert shown["NetworkID"] == n2 and shown["IPAddress"].startswith("10.8.0.")
    assert shown["Gateway"] == "10.8.0.1" and shown["EndpointID"] != "e" * 64


# -- MAC addresses --------------------------------------------------------------------------


@pytest.mark.parametrize("text,kernel", [
    ("02:42:AC:11:00:99", MAC), ("02-42-ac-11-00-99", MAC), ("0242.ac11.0099", MAC),
    ("02:42:ac:11:00", None), ("02:42-ac:11:00:99", None), ("zz:42:ac:11:00:99", None),
    ("02:42:ac:11:00:99:00:01", None), ("", None),
])
def test_mac_spellings_go_takes(text: str, kernel: str | None) -> None:
    assert parse_mac(text) == kernel


def test_endpoint_mac_reaches_the_interface_and_inspect(host: HostContext,
                                                        fabric: FakeFabric) -> None:
    answer_body = create(host, "web", NetworkingConfig={
        "EndpointsConfig": {"bridge": {"MacAddress": MAC.upper()}}})
    assert answer_body["Warnings"] == []
    start(host, "web")
    assert iface_mac(fabric, host, "web") == MAC
    shown = inspect(host, "web")
    assert shown["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == MAC
    assert shown["NetworkSettings"]["MacAddress"] == MAC
    assert shown["Config"]["MacAddress"] == MAC.upper()


def test_container_wide_mac_moves_to_the_main_network_with_a_warning(
        host: HostContext, fabric: FakeFabric) -> None:
    """docker-py's mac_address: Config.MacAddress, deprecated since API 1.44."""
    network(host, "n1")
    answer_body = create(host, "web", MacAddress=MAC, HostConfig={"NetworkMode": "n1"})
    assert answer_body["Warnings"] == [CONTAINER_WIDE_MAC_DEPRECATED]
    start(host, "web")
    assert iface_mac(fabric, host, "web") == MAC


def test_container_wide_mac_is_checked_against_the_endpoints(host: HostContext) -> None:
    network(host, "n1")
    with docker_error(err.InvalidParameter, 400, "the container-wide MAC address must match "
                      "the endpoint-specific MAC address for the main network, or be left "
                      "empty"):
        create(host, "a", MacAddress=MAC, NetworkingConfig={
            "EndpointsConfig": {"bridge": {"MacAddress": "02:42:ac:11:00:98"}}})
    with docker_error(err.InvalidParameter, 400, "unable to migrate container-wide MAC address "
                      "to a specific network: HostConfig.NetworkMode must match the identity "
                      "of a network in NetworkSettings.Networks"):
        create(host, "b", MacAddress=MAC, HostConfig={"NetworkMode": "bridge"},
               NetworkingConfig={"EndpointsConfig": {"n1": {}}})
    assert host.engine.containers == {}


def test_an_invalid_mac_is_refused_naming_the_network(host: HostContext) -> None:
    with docker_error(err.InvalidParameter, 400,
                      "invalid config for network bridge: invalid MAC address 02:42:zz"):
        create(host, "web", NetworkingConfig={
            "EndpointsConfig": {"bridge": {"MacAddress": "02:42:zz"}}})


def test_mac_on_host_or_none_is_taken_and_has_no_interface(host: HostContext,
                                                           fabric: FakeFabric) -> None:
    """Docker 28 (API >= 1.44) drops it with the deprecation warning: no interface to set."""
    answer_body = create(host, "solo", MacAddress=MAC, HostConfig={"NetworkMode": "none"})
    assert answer_body["Warnings"] == [CONTAINER_WIDE_MAC_DEPRECATED]
    start(host, "solo")
    assert "eth0" not in fabric.sandbox_ifaces[host.engine.get_container("solo").id]
    assert "MacAddress" not in inspect(host, "solo")["Config"]


def test_old_api_mac_conflicts_with_host_and_none(host: HostContext) -> None:
    """API < 1.44 (20.10's runconfig validateNetContainerMode, and 28 for old clients)."""
    for mode in ("host", "none"):
        with docker_error(err.InvalidParameter, 400,
                          "conflicting options: mac-address and the network mode"):
            create(host, f"old-{mode}", api_version="1.41", MacAddress=MAC,
                   HostConfig={"NetworkMode": mode})
    created = create(host, "old", api_version="1.41", MacAddress=MAC)
    assert created["Warnings"] == []
    assert inspect(host, "old")["Config"]["MacAddress"] == MAC


def test_connect_with_a_mac(host: HostContext, fabric: FakeFabric) -> None:
    net = network(host, "n1")
    create(host, "web")
    start(host, "web")
    call(networks.connect_container, host, "POST",
         {"Container": "web", "EndpointConfig": {"MacAddress": MAC}}, id=net)
    assert iface_mac(fabric, host, "web", "eth1") == MAC
    with docker_error(err.InvalidParameter, 400, "invalid MAC address nope"):
        call(networks.connect_container, host, "POST",
             {"Container": "web", "EndpointConfig": {"MacAddress": "nope"}},
             id=network(host, "n2"))


# -- default-bridge network settings --------------------------------------------------------


def test_top_level_network_settings_are_the_default_bridges(host: HostContext) -> None:
    network(host, "n1")
    create(host, "web")
    create(host, "other", HostConfig={"NetworkMode": "n1"})
    start(host, "web")
    start(host, "other")
    settings = inspect(host, "web")["NetworkSettings"]
    bridge = settings["Networks"]["bridge"]
    assert settings["IPAddress"] == bridge["IPAddress"] != ""
    assert (settings["IPPrefixLen"], settings["Gateway"]) == (16, bridge["Gateway"])
    assert settings["MacAddress"] == bridge["MacAddress"] != ""
    assert settings["EndpointID"] == bridge["EndpointID"] != ""
    assert (settings["GlobalIPv6Address"], settings["GlobalIPv6PrefixLen"]) == ("", 0)
    elsewhere = inspect(host, "other")["NetworkSettings"]
    assert (elsewhere["IPAddress"], elsewhere["Gateway"], elsewhere["MacAddress"],
            elsewhere["IPPrefixLen"]) == ("", "", "", 0)


# -- legacy links ------------------------------------------------------------------------------


def test_link_to_a_missing_container_is_a_bad_parameter(host: HostContext) -> None:
    with docker_error(err.InvalidParameter, 400,
                      "could not get container for nope: No such container: nope"):
        create(host, "web", HostConfig={"Links": ["nope:db"]})
    with docker_error(err.InvalidParameter, 400, "bad format for links: a:b:c"):
        create(host, "web", HostConfig={"Links": ["a:b:c"]})


def test_link_from_or_to_host_mode_conflicts(host: HostContext) -> None:
    message = ("conflicting options: host type networking can't be used with links. This "
               "would result in undefined behavior")
    create(host, "db")
    with docker_error(err.InvalidParameter, 400, message):
        create(host, "web", HostConfig={"NetworkMode": "host", "Links": ["db"]})
    create(host, "hostly", HostConfig={"NetworkMode": "host"})
    with docker_error(err.InvalidParameter, 400, message):
        create(host, "web", HostConfig={"Links": ["hostly:h"]})


def test_link_to_a_stopped_container_fails_the_start(host: HostContext) -> None:
    create(host, "db")
    create(host, "web", HostConfig={"Links": ["db:database"]})
    with docker_error(err.DockerError, 500,
                      "Cannot link to a non running container: /db AS /web/database"):
        call(containers.start_container, host, "POST", id="web")
    assert not host.engine.get_container("web").running
    start(host, "db")
    start(host, "web")


def test_link_to_a_container_off_the_default_bridge_fails_the_start(host: HostContext) -> None:
    network(host, "n1")
    create(host, "db", HostConfig={"NetworkMode": "n1"})
    start(host, "db")
    create(host, "web", HostConfig={"Links": ["db"]})
    with docker_error(err.DockerError, 500,
                      "Cannot link to /db, as it does not belong to the default network"):
        call(containers.start_container, host, "POST", id="web")


def test_link_writes_hosts_lines_and_shows_in_inspect(host: HostContext) -> None:
    create(host, "db", Hostname="dbhost")
    create(host, "cache")
    start(host, "db")
    start(host, "cache")
    create(host, "web", HostConfig={"Links": ["db:database", "/cache:/web/cache"]})
    start(host, "web")
    shown = inspect(host, "web")
    assert sorted(shown["HostConfig"]["Links"]) == ["/cache:/web/cache", "/db:/web/database"]
    engine = host.engine
    db, cache = engine.get_container("db"), engine.get_container("cache")
    bridge = engine.get_network("bridge").id
    lines = Path(shown["HostsPath"]).read_text().splitlines()
    own = engine.get_container("web")
    assert lines[-3:] == [
        f"{db.endpoints[bridge].address.ip}\tdatabase dbhost db",
        f"{cache.endpoints[bridge].address.ip}\tcache {cache.hostname}",
        f"{own.endpoints[bridge].address.ip}\t{own.hostname}",
    ]


def test_a_linked_container_back_with_a_new_address_updates_the_linker(
        host: HostContext) -> None:
    create(host, "db")
    start(host, "db")
    create(host, "web", HostConfig={"Links": ["db:database"]})
    start(host, "web")
    engine = host.engine
    bridge = engine.get_network("bridge").id
    before = engine.get_container("db").endpoints[bridge].address.ip
    call(containers.stop_container, host, "POST", id="db")
    create(host, "filler")
    start(host, "filler")  # takes an address, so db comes back on another
    start(host, "db")
    after = engine.get_container("db").endpoints[bridge].address.ip
    assert after != before
    hosts = Path(inspect(host, "web")["HostsPath"]).read_text().splitlines()
    db = engine.get_container("db")
    assert f"{after}\tdatabase {db.hostname} db" in hosts
    assert not any(line.startswith(f"{before}\t") for line in hosts)


def test_link_on_a_user_network_is_a_name_only_the_linker_resolves(host: HostContext) -> None:
    engine = host.engine
    network(host, "n1")
    for name in ("db", "other"):
        create(host, name, HostConfig={"NetworkMode": "n1"})
        start(host, name)
    create(host, "web", HostConfig={"NetworkMode": "n1", "Links": ["db:database"]},
           NetworkingConfig={"EndpointsConfig": {"n1": {"Links": ["db:database"]}}})
    start(host, "web")
    assert engine.get_container("web").links == {}  # no legacy link

    def ask(source: str, name: str) -> list[str] | Forward:
        reply = answer(NameTable(engine.view()), engine.get_container(source).id,
                       dns.message.make_query(name, "A"), False)
        if isinstance(reply, Forward):  # not a name it knows: asked upstream
            return reply
        return [r.to_text() for rrset in dns.message.from_wire(reply).answer for r in rrset]

    db_ip = str(engine.get_container("db").endpoints[engine.get_network("n1").id].address.ip)
    assert ask("web", "database") == [db_ip]
    assert ask("web", "db") == [db_ip]
    assert isinstance(ask("other", "database"), Forward)
    shown = inspect(host, "web")["NetworkSettings"]["Networks"]["n1"]
    assert shown["Links"] == ["db:database"]


def test_link_variables_are_dockers() -> None:
    """moby's links_test.go TestLinkMultipleEnv, as its oracle (order aside)."""
    child = Container("c" * 64, "db", "db", ["true"], "", env=["PASSWORD=gordon", "PATH=/bin"],
                      ports=PortOptions(exposed=tuple(parse_port_key(p) for p in (
                          "6300/udp", "6379/tcp", "6380/tcp", "6381/tcp", "6382/udp"))))
    ip = "172.0.17.2"

    def port(number: int, proto: str) -> list[str]:
        prefix = f"DOCKER_PORT_{number}_{proto.upper()}"
        return [f"{prefix}={proto}://{ip}:{number}", f"{prefix}_ADDR={ip}",
                f"{prefix}_PORT={number}", f"{prefix}_PROTO={proto}"]

    assert sorted(link_env("docker", "db", child, ip)) == sorted([
        "DOCKER_ENV_PASSWORD=gordon", "DOCKER_NAME=/db/docker", f"DOCKER_PORT=tcp://{ip}:6379",
        *port(6300, "udp"), *port(6379, "tcp"), *port(6380, "tcp"), *port(6381, "tcp"),
        *port(6382, "udp"),
        f"DOCKER_PORT_6379_TCP_END=tcp://{ip}:6381", "DOCKER_PORT_6379_TCP_PORT_END=6381",
        "DOCKER_PORT_6379_TCP_PORT_START=6379", f"DOCKER_PORT_6379_TCP_START=tcp://{ip}:6379",
    ])


def test_a_linking_container_starts_with_the_links_variables(host: HostContext,
                                                             fabric: FakeFabric) -> None:
    started: dict[str, dict[str, str]] = {}
    original = fabric.start_process

    def recording(sandbox, command, hostname, env=None, files=None, **kwargs) -> None:
        started[sandbox.key] = dict(env or {})
        original(sandbox, command, hostname, env, files, **kwargs)

    fabric.start_process = recording  # type: ignore[method-assign]
    create(host, "db", Env=["PASSWORD=gordon"], ExposedPorts={"5432/tcp": {}})
    start(host, "db")
    create(host, "web", Env=["DB_NAME=mine"], HostConfig={"Links": ["db"]})
    start(host, "web")
    env = started[host.engine.get_container("web").id]
    db_ip = str(host.engine.get_container("db").endpoints[
        host.engine.get_network("bridge").id].address.ip)
    assert env["DB_PORT"] == f"tcp://{db_ip}:5432"
    assert env["DB_PORT_5432_TCP_ADDR"] == db_ip
    assert env["DB_ENV_PASSWORD"] == "gordon"
    assert env["DB_NAME"] == "mine"  # its own --env wins


# -- --sysctl ------------------------------------------------------------------------------------


def test_network_sysctls_are_written_before_the_process(host: HostContext,
                                                        fabric: FakeFabric) -> None:
    answer_body = create(host, "web", HostConfig={"Sysctls": {
        "net.ipv4.ip_forward": "1", "net.ipv4.conf.eth0.rp_filter": "0"}})
    assert answer_body["Warnings"] == [
        'Migrated sysctl "net.ipv4.conf.eth0.rp_filter" to DriverOpts{'
        '"com.docker.network.endpoint.sysctls":"net.ipv4.conf.IFNAME.rp_filter=0"}.']
    start(host, "web")
    steps = [entry for entry in fabric.log if entry[0] in ("exec", "start_process")]
    assert steps[-3:] == [("exec", "sysctl -q -w net.ipv4.ip_forward=1"),
                          ("exec", "sysctl -q -w net.ipv4.conf.eth0.rp_filter=0"),
                          ("start_process", "sleep")]
    assert inspect(host, "web")["HostConfig"]["Sysctls"] == {
        "net.ipv4.ip_forward": "1", "net.ipv4.conf.eth0.rp_filter": "0"}


def test_sysctls_docker_or_the_emulator_refuse(host: HostContext) -> None:
    with docker_error(err.NotImplementedByEmulator, 501,
                      "--sysctl kernel.shmmax is not supported by the emulator: only net.* "
                      "sysctls are, in the container's network namespace"):
        create(host, "web", HostConfig={"Sysctls": {"kernel.shmmax": "1"}})
    with docker_error(err.DockerError, 500,
                      "unable to determine network endpoint for sysctl "
                      "net.ipv4.conf.eth1.rp_filter, use driver option "
                      "'com.docker.network.endpoint.sysctls' to set per-interface sysctls"):
        create(host, "web", HostConfig={"Sysctls": {"net.ipv4.conf.eth1.rp_filter": "0"}})
    create(host, "hostly", HostConfig={"NetworkMode": "host",
                                       "Sysctls": {"net.ipv4.ip_forward": "1"}})
    with docker_error(err.DockerError, 500,
                      "failed to create task for container: OCI runtime create failed: "
                      'sysctl "net.ipv4.ip_forward" not allowed in host network namespace: '
                      "unknown"):
        call(containers.start_container, host, "POST", id="hostly")
    assert not host.engine.get_container("hostly").running
