"""The remote driver speaks the protocol as Docker 28 does, checked against a fake plugin.

The plugin is served on a Unix socket in the test's directory (no root, no kernel);
the engine runs over the fake fabric, in which the plugin's interfaces "exist" once
its Join names them. Each test asserts what the plugin was sent or what the user sees.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from emulator.cnm.endpoints import AttachRequest
from emulator.cnm.engine import Engine
from emulator.cnm.networks import NetworkRequest
from emulator.errdefs import DockerError, NotImplementedByEmulator
from emulator.fabric.fake import FakeFabric
from emulator.pluginhttp import CallFailed, Handler, PluginServer

NAME = "rp18"


class FakePlugin(Handler):
    """A plugin that records every call and answers as its attributes say."""

    name = NAME

    def __init__(self, fabric: FakeFabric) -> None:
        self.fabric = fabric
        self.calls: list[tuple[str, dict]] = []
        self.capabilities: dict = {"Scope": "local"}
        self.gateway: str | None = "10.18.0.1"
        self.disable_gateway_service = False
        self.endpoint_interface: dict | None = None
        self.fail: set[str] = set()
        self.skip_ipv4 = False
        self.gatewayless: set[str] = set()  # networks whose Join names no gateway

    def _record(self, call: str, body: dict) -> None:
        self.calls.append((call, body))
        if call in self.fail:
            raise CallFailed(f"{call} failed on purpose")

    def sent(self, call: str) -> list[dict]:
        return [body for name, body in self.calls if name == call]

    def activate(self, body: dict) -> dict:
        return {"Implements": ["NetworkDriver"]}

    def get_capabilities(self, body: dict) -> dict:
        self._record("GetCapabilities", body)
        return self.capabilities

    def gw_alloc_check(self, body: dict) -> dict:
        self._record("GwAllocCheck", body)
        return {"SkipIPv4": self.skip_ipv4, "SkipIPv6": False}

    def create_network(self, body: dict) -> dict:
        self._record("CreateNetwork", body)
        return {}

    def delete_network(self, body: dict) -> dict:
        self._record("DeleteNetwork", body)
        return {}

    def create_endpoint(self, body: dict) -> dict:
        self._record("CreateEndpoint", body)
        if self.endpoint_interface is None:
            return {}
        return {"Interface": self.endpoint_interface}

    def delete_endpoint(self, body: dict) -> dict:
        self._record("DeleteEndpoint", body)
        return {}

    def join(self, body: dict) -> dict:
        self._record("Join", body)
        src = f"rp{body['EndpointID'][:8]}"
        self.fabric.host_links.add(src)
        reply: dict = {"InterfaceName": {"SrcName": src, "DstPrefix": "eth"}}
        if self.gateway and body["NetworkID"] not in self.gatewayless:
            reply["Gateway"] = self.gateway
        if self.disable_gateway_service:
            reply["DisableGatewayService"] = True
        return reply

    def leave(self, body: dict) -> dict:
        self._record("Leave", body)
        return {}


@pytest.fixture
def served(tmp_path: Path):
    fabric = FakeFabric("h1")
    plugin = FakePlugin(fabric)
    server = PluginServer(str(tmp_path / f"{NAME}.sock"), plugin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    engine = Engine("h1", fabric, plugin_dir=tmp_path, plugin_timeout=5.0,
                    dns_servers=["192.0.2.53"])
    yield engine, plugin
    engine.close()
    server.close()
    thread.join(5)


def network(engine: Engine, name: str = "n1", **extra) -> str:
    """A network of the plugin: the first on 10.18.0.0/24, the next on 10.18.1.0/24..."""
    index = sum(n.driver == NAME for n in engine.networks.values())
    request = NetworkRequest(name, driver=NAME, subnet=f"10.18.{index}.0/24", **extra)
    return engine.create_network(request).id


def run(engine: Engine, net: str, name: str = "c1", ip: str | None = None):
    return engine.run_container(name, [AttachRequest(net, ip)], command=["sleep", "1000"])


# -- CreateNetwork ------------------------------------------------------------

def test_create_network_carries_the_generic_options_docker_28_passes(served):
    engine, plugin = served
    network(engine, options={"com.docker.network.driver.mtu": "1400", "foo": "bar"},
            labels={"team": "blue"})
    (body,) = plugin.sent("CreateNetwork")
    assert body["Options"] == {
        "com.docker.network.generic": {"com.docker.network.driver.mtu": "1400", "foo": "bar"},
        "com.docker.network.enable_ipv4": True,
        "com.docker.network.enable_ipv6": False,
    }
    assert body["IPv4Data"] == [{"AddressSpace": "LocalDefault", "Pool": "10.18.0.0/24",
                                 "Gateway": "10.18.0.1/24"}]
    assert body["IPv6Data"] == []


def test_an_internal_network_tells_the_plugin_so(served):
    engine, plugin = served
    network(engine, internal=True)
    (body,) = plugin.sent("CreateNetwork")
    assert body["Options"]["com.docker.network.internal"] is True


# -- GwAllocCheck --------------------------------------------------------------

def test_gw_alloc_check_is_asked_only_of_a_plugin_that_states_it(served):
    engine, plugin = served
    network(engine, "n1")
    assert plugin.sent("GwAllocCheck") == []


def test_gw_alloc_check_comes_before_create_network_with_the_same_options(tmp_path, served):
    engine, plugin = served
    plugin.capabilities = {"Scope": "local", "GwAllocChecker": True}
    network(engine, internal=True)
    calls = [name for name, _ in plugin.calls]
    assert calls.index("GwAllocCheck") < calls.index("CreateNetwork")
    (check,) = plugin.sent("GwAllocCheck")
    assert check == {"Options": plugin.sent("CreateNetwork")[0]["Options"]}


def test_a_plugin_that_skips_the_ipv4_gateway_is_refused_with_its_name(served):
    engine, plugin = served
    plugin.capabilities = {"Scope": "local", "GwAllocChecker": True}
    plugin.skip_ipv4 = True
    with pytest.raises(NotImplementedByEmulator, match=f"plugin {NAME} answered GwAllocCheck "
                       "with SkipIPv4"):
        network(engine)
    assert plugin.sent("CreateNetwork") == []
    assert engine.addresses.pools() == [p for p in engine.addresses.pools()
                                        if str(p.subnet) != "10.18.0.0/24"]


def test_capabilities_are_asked_once_as_dockerd_does_for_a_legacy_plugin(served):
    engine, plugin = served
    network(engine, "n1")
    plugin.capabilities = {"Scope": "global"}  # as if restarted with new ones
    network(engine, "n2")
    assert len(plugin.sent("GetCapabilities")) == 1
    assert {n.scope for n in engine.networks.values() if n.driver == NAME} == {"local"}


# -- CreateEndpoint --------------------------------------------------------------

def test_an_address_in_the_create_endpoint_reply_is_refused_even_the_same(served):
    engine, plugin = served
    net = network(engine)
    plugin.endpoint_interface = {"Address": "10.18.0.5/24"}
    with pytest.raises(DockerError) as info:
        run(engine, net, ip="10.18.0.5")
    assert info.value.message == (
        "failed to create endpoint c1 on network n1: driver modified interface address: "
        "endpoint interface IP present (10.18.0.5/24). Cannot be modified with "
        "(10.18.0.5/24).; rolled back")
    created, deleted = plugin.sent("CreateEndpoint"), plugin.sent("DeleteEndpoint")
    assert [d["EndpointID"] for d in deleted] == [c["EndpointID"] for c in created]


def test_a_mac_in_the_reply_is_accepted_when_none_was_asked(served):
    engine, plugin = served
    net = network(engine)
    plugin.endpoint_interface = {"MacAddress": "02:AA:BB:CC:DD:EE"}
    container = run(engine, net)
    assert container.endpoints[net].mac == "02:aa:bb:cc:dd:ee"


def test_a_reply_address_that_is_no_cidr_is_refused_with_go_s_text(served):
    engine, plugin = served
    net = network(engine)
    plugin.endpoint_interface = {"Address": "10.18.0.300"}
    with pytest.raises(DockerError, match=r"invalid CIDR address: 10\.18\.0\.300; rolled back"):
        run(engine, net)


# -- Join ------------------------------------------------------------------------

def test_join_gets_a_sandbox_key_path(served):
    engine, plugin = served
    net = network(engine)
    container = run(engine, net)
    (join,) = plugin.sent("Join")
    assert join["SandboxKey"] == f"/run/cnm/fake/netns/{container.id[:12]}"


def test_a_join_without_gateway_gets_an_endpoint_on_docker_gwbridge(served):
    engine, plugin = served
    plugin.gateway = None
    net = network(engine)
    container = run(engine, net)
    gwbridge = engine.get_network("docker_gwbridge")
    assert gwbridge.driver == "bridge"
    assert set(container.endpoints) == {net, gwbridge.id}
    assert container.endpoints[gwbridge.id].name == f"gateway_{container.id[:12]}"
    assert container.gateway_network == gwbridge.id
    engine.disconnect(net, container.id)
    assert set(container.endpoints) == set()


def test_disable_gateway_service_or_a_gateway_or_internal_means_no_gwbridge(served):
    engine, plugin = served
    with_gateway = network(engine, "gw")
    run(engine, with_gateway, "c1")
    plugin.gateway, plugin.disable_gateway_service = None, True
    disabled = network(engine, "disabled")
    run(engine, disabled, "c2")
    plugin.disable_gateway_service = False
    internal = network(engine, "internal", internal=True)
    run(engine, internal, "c3")
    assert "docker_gwbridge" not in {n.name for n in engine.networks.values()}


# -- Leave, DeleteEndpoint, DeleteNetwork ---------------------------------------------

def test_on_leave_the_interface_goes_back_to_the_host_under_its_src_name(served):
    engine, plugin = served
    net = network(engine)
    container = run(engine, net)
    (join,) = plugin.sent("Join")
    src = f"rp{join['EndpointID'][:8]}"
    assert src not in engine.fabric.host_links
    engine.disconnect(net, container.id)
    assert src in engine.fabric.host_links
    log = [entry for entry in engine.fabric.log if entry[0] == "release_link"]
    assert log == [("release_link", f"{container.id}/eth0 -> {src}")]
    names = [name for name, _ in plugin.calls]
    assert names[-2:] == ["Leave", "DeleteEndpoint"]


@pytest.mark.parametrize("failing", ["Leave", "DeleteEndpoint"])
def test_a_failing_leave_or_delete_endpoint_is_logged_and_disconnect_carries_on(
        served, failing, caplog):
    engine, plugin = served
    net = network(engine)
    container = run(engine, net)
    plugin.fail.add(failing)
    with caplog.at_level(logging.WARNING, logger="emulator.drivers.remote.driver"):
        engine.disconnect(net, container.id)
    assert f"remote: {failing} failed on purpose" in caplog.text
    assert "driver error" in caplog.text
    assert engine.get_container(container.id).endpoints == {}
    engine.remove_network(net)
    assert net not in engine.networks


def test_rm_f_carries_on_after_a_failing_leave_and_ps_a_still_renders(served):
    from emulator.api.shapes.containers import status_text

    engine, plugin = served
    net = network(engine)
    container = run(engine, net)
    stopped = run(engine, net, "c2")
    plugin.fail.update({"Leave", "DeleteEndpoint"})
    engine.stop_container(stopped.id)
    engine.remove_containers([container.id], force=True)
    assert list(engine.containers) == [stopped.id]
    assert status_text(engine.get_container(stopped.id)).startswith("Exited (143)")
    engine.remove_containers([stopped.id], force=True)
    plugin.fail.add("DeleteNetwork")
    engine.remove_network(net)
    assert net not in engine.networks


def test_ps_renders_a_stopped_container_that_never_recorded_its_finish(served):
    """The stamp docker-py and the CLI failed on: a zero FinishedAt after a start."""
    from emulator.api.shapes.containers import status_text

    engine, _ = served
    container = run(engine, network(engine))
    container.running = False
    container.finished_at = "0001-01-01T00:00:00Z"
    assert status_text(container).startswith("Exited (")


def test_a_plugin_gateway_takes_over_from_docker_gwbridge_and_gives_it_back(served):
    """As dockerd 20.10 does (checked in the lab): a network whose Join names a gateway
    makes docker_gwbridge unneeded; when it goes, docker_gwbridge comes back."""
    engine, plugin = served
    plugin.gateway = "10.18.1.1"
    without = network(engine, "b-nogw")
    plugin.gatewayless.add(without)
    container = run(engine, without)
    gwbridge = engine.get_network("docker_gwbridge").id
    assert container.gateway_network == gwbridge
    with_gateway = network(engine, "a-gw")
    engine.connect(with_gateway, container.id)
    assert set(container.endpoints) == {without, with_gateway}
    assert container.gateway_network == with_gateway
    assert str(container.endpoints[with_gateway].gateway) == "10.18.1.1"
    assert str(engine.fabric.default_routes[container.id]) == "10.18.1.1"
    engine.disconnect(with_gateway, container.id)
    assert set(container.endpoints) == {without, gwbridge}
    assert container.gateway_network == gwbridge


# -- the reply parsers, libnetwork's texts ------------------------------------------

def test_a_mac_in_the_reply_is_refused_when_the_endpoint_has_one():
    from ipaddress import IPv4Interface

    from emulator.drivers.base import EndpointSpec
    from emulator.drivers.remote.protocol import ReplyRefused, endpoint_interface

    asked = EndpointSpec("e1", IPv4Interface("10.0.0.2/24"), mac="02:42:0A:00:00:02")
    with pytest.raises(ReplyRefused) as info:
        endpoint_interface({"Interface": {"MacAddress": "02:42:0a:00:00:02"}}, asked)
    assert str(info.value) == (
        "driver modified interface MAC address: endpoint interface MAC address present "
        "(02:42:0a:00:00:02). Cannot be modified with 02:42:0a:00:00:02.")
    with pytest.raises(ReplyRefused, match="address zz: invalid MAC address"):
        endpoint_interface({"Interface": {"MacAddress": "zz"}}, asked)


@pytest.mark.parametrize(("reply", "needs"), [
    ({}, True),
    ({"Gateway": "10.0.0.1"}, False),
    ({"DisableGatewayService": True}, False),
    ({"StaticRoutes": [{"Destination": "0.0.0.0/0", "RouteType": 1}]}, False),
    ({"StaticRoutes": [{"Destination": "10.9.0.0/16", "RouteType": 1}]}, True),
])
def test_needs_gateway_service_is_libnetworks_need_default_gw(reply, needs):
    from emulator.drivers.remote.protocol import join_reply

    parsed = join_reply({"InterfaceName": {"SrcName": "veth0"}, **reply})
    assert parsed.needs_gateway_service(internal=False) is needs
    assert parsed.needs_gateway_service(internal=True) is False


def test_a_gateway_that_is_no_ip_is_refused_as_libnetwork_says():
    from emulator.drivers.remote.protocol import ReplyRefused, join_reply

    with pytest.raises(ReplyRefused, match='unable to parse Gateway "10.0.0.1/24"'):
        join_reply({"InterfaceName": {"SrcName": "veth0"}, "Gateway": "10.0.0.1/24"})


def test_a_failed_rollback_is_reported_first_as_in_docker_28():
    from emulator.drivers.remote.protocol import rolled_back

    assert rolled_back("bad reply", None) == "bad reply; rolled back"
    assert rolled_back("bad reply", "remote: gone") == (
        "remote: gone; failed to roll back: bad reply")
