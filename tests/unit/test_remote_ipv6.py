"""The remote driver's IPv6, as Docker 28's libnetwork/drivers/remote speaks it:
CreateNetwork's IPv6Data and enable_ipv6, CreateEndpoint's Interface.AddressIPv6
and the reply that may fill it, Join's GatewayIPv6. The driver is driven directly
(the engine's IPv6 allocation is another part of the work) against a fake plugin on
a Unix socket, over the fake fabric."""

from __future__ import annotations

import threading
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from ipaddress import IPv6Network as Net6
from pathlib import Path

import pytest

from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.remote.client import PluginAddress
from emulator.drivers.remote.driver import RemoteDriver
from emulator.errdefs import DockerError, NotImplementedByEmulator
from emulator.fabric.base import Plug
from emulator.fabric.fake import FakeFabric
from emulator.mesh.driver import MeshDriver, PluginError
from emulator.pluginhttp import Handler, PluginServer

NAME = "rp6"
NET, EP = "n" * 64, "e" * 64
DUAL = IPAMData(IPv4Network("10.18.0.0/24"), IPv4Address("10.18.0.1"),
                Net6("fd00:18::/64"), IPv6Address("fd00:18::1"),
                aux_addresses={"router": IPv4Address("10.18.0.254")},
                aux_addresses6={"router6": IPv6Address("fd00:18::fe")})
ONLY6 = IPAMData(subnet6=Net6("fd00:19::/64"), gateway6=IPv6Address("fd00:19::1"))


class Plugin(Handler):
    name = NAME

    def __init__(self, fabric: FakeFabric) -> None:
        self.fabric = fabric
        self.calls: list[tuple[str, dict]] = []
        self.capabilities: dict = {"Scope": "local"}
        self.interface: dict | None = None
        self.join_extra: dict = {"Gateway": "10.18.0.1", "GatewayIPv6": "fd00:18::1"}
        self.skip: dict = {}

    def sent(self, call: str) -> list[dict]:
        return [body for name, body in self.calls if name == call]

    def activate(self, body: dict) -> dict:
        return {"Implements": ["NetworkDriver"]}

    def get_capabilities(self, body: dict) -> dict:
        return self.capabilities

    def gw_alloc_check(self, body: dict) -> dict:
        self.calls.append(("GwAllocCheck", body))
        return {"SkipIPv4": False, "SkipIPv6": False, **self.skip}

    def create_network(self, body: dict) -> dict:
        self.calls.append(("CreateNetwork", body))
        return {}

    def delete_network(self, body: dict) -> dict:
        return {}

    def create_endpoint(self, body: dict) -> dict:
        self.calls.append(("CreateEndpoint", body))
        return {} if self.interface is None else {"Interface": self.interface}

    def delete_endpoint(self, body: dict) -> dict:
        self.calls.append(("DeleteEndpoint", body))
        return {}

    def join(self, body: dict) -> dict:
        self.calls.append(("Join", body))
        src = f"rp{body['EndpointID'][:8]}"
        self.fabric.host_links.add(src)
        return {"InterfaceName": {"SrcName": src, "DstPrefix": "eth"}, **self.join_extra}

    def leave(self, body: dict) -> dict:
        self.calls.append(("Leave", body))
        return {}


@pytest.fixture
def served(tmp_path: Path):
    fabric = FakeFabric("h1")
    plugin = Plugin(fabric)
    sock = str(tmp_path / f"{NAME}.sock")
    server = PluginServer(sock, plugin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fabric, plugin, (lambda: RemoteDriver.activate(PluginAddress(NAME, unix=sock), fabric))
    server.close()
    thread.join(5)


def spec(ipv6: bool = True, ipv4: bool = True) -> NetworkSpec:
    return NetworkSpec(NET, "v6net", {"foo": "bar"}, enable_ipv6=ipv6, enable_ipv4=ipv4)


def test_remote_drivers_declare_ipv6(served):
    _, _, activate = served
    assert activate().capability.ipv6 is True


def test_create_network_sends_ipv6_data_and_enable_ipv6(served):
    _, plugin, activate = served
    activate().create_network(spec(), DUAL)
    (body,) = plugin.sent("CreateNetwork")
    assert body["Options"]["com.docker.network.enable_ipv6"] is True
    assert body["Options"]["com.docker.network.enable_ipv4"] is True
    assert body["IPv4Data"] == [{"AddressSpace": "LocalDefault", "Pool": "10.18.0.0/24",
                                 "Gateway": "10.18.0.1/24",
                                 "AuxAddresses": {"router": "10.18.0.254/24"}}]
    assert body["IPv6Data"] == [{"AddressSpace": "LocalDefault", "Pool": "fd00:18::/64",
                                 "Gateway": "fd00:18::1/64",
                                 "AuxAddresses": {"router6": "fd00:18::fe/64"}}]


def test_an_ipv6_only_network_sends_no_ipv4_data(served):
    _, plugin, activate = served
    activate().create_network(spec(ipv4=False), ONLY6)
    (body,) = plugin.sent("CreateNetwork")
    assert body["Options"]["com.docker.network.enable_ipv4"] is False
    assert body["IPv4Data"] == []
    assert body["IPv6Data"] == [{"AddressSpace": "LocalDefault", "Pool": "fd00:19::/64",
                                 "Gateway": "fd00:19::1/64"}]


def test_a_network_without_ipv6_sends_empty_ipv6_data(served):
    _, plugin, activate = served
    activate().create_network(spec(ipv6=False), DUAL)
    (body,) = plugin.sent("CreateNetwork")
    assert body["Options"]["com.docker.network.enable_ipv6"] is False
    assert body["IPv6Data"] == []


def test_create_endpoint_sends_address_ipv6_and_the_driver_keeps_it(served):
    _, plugin, activate = served
    driver = activate()
    driver.create_network(spec(), DUAL)
    info = driver.create_endpoint(NET, EndpointSpec(
        EP, IPv4Interface("10.18.0.2/24"), "02:42:0a:12:00:02", IPv6Interface("fd00:18::2/64")))
    (body,) = plugin.sent("CreateEndpoint")
    assert body["Interface"] == {"Address": "10.18.0.2/24", "AddressIPv6": "fd00:18::2/64",
                                 "MacAddress": "02:42:0a:12:00:02"}
    assert info.address6 == IPv6Interface("fd00:18::2/64")


def test_the_plugin_may_give_the_ipv6_address_the_ipam_did_not(served):
    _, plugin, activate = served
    plugin.interface = {"AddressIPv6": "fd00:18::77/64"}
    driver = activate()
    driver.create_network(spec(), DUAL)
    info = driver.create_endpoint(NET, EndpointSpec(EP, IPv4Interface("10.18.0.2/24")))
    assert info.address6 == IPv6Interface("fd00:18::77/64")
    assert info.address == IPv4Interface("10.18.0.2/24")


def test_an_ipv6_address_in_the_address_field_is_filed_by_its_family(served):
    """endpointInterface.SetIPAddress looks at the address, not the field."""
    _, plugin, activate = served
    plugin.interface = {"Address": "fd00:18::78/64"}
    driver = activate()
    driver.create_network(spec(), DUAL)
    info = driver.create_endpoint(NET, EndpointSpec(EP, IPv4Interface("10.18.0.2/24")))
    assert info.address6 == IPv6Interface("fd00:18::78/64")


@pytest.mark.parametrize("reply", [{"AddressIPv6": "fd00:18::2/64"},
                                   {"AddressIPv6": "fd00:18::9/64"},
                                   {"Address": "fd00:18::9/64"}])
def test_a_reply_changing_the_ipv6_address_ipam_set_is_refused_and_rolled_back(served, reply):
    _, plugin, activate = served
    plugin.interface = reply
    driver = activate()
    driver.create_network(spec(), DUAL)
    given = next(iter(reply.values()))
    with pytest.raises(DockerError) as raised:
        driver.create_endpoint(NET, EndpointSpec(EP, IPv4Interface("10.18.0.2/24"), None,
                                                 IPv6Interface("fd00:18::2/64")))
    assert raised.value.message == (
        "driver modified interface address: endpoint interface IP present (fd00:18::2/64). "
        f"Cannot be modified with ({given}).; rolled back")
    assert len(plugin.sent("DeleteEndpoint")) == 1


def test_an_unparsable_ipv6_address_in_the_reply_is_refused(served):
    _, plugin, activate = served
    plugin.interface = {"AddressIPv6": "fd00:18::zz/64"}
    driver = activate()
    driver.create_network(spec(), DUAL)
    with pytest.raises(DockerError, match=r"invalid CIDR address: fd00:18::zz/64; rolled back"):
        driver.create_endpoint(NET, EndpointSpec(EP, IPv4Interface("10.18.0.2/24")))


def joined(served, ipv6_address: str | None = "fd00:18::2/64", wants_gateway: bool = True):
    fabric, plugin, activate = served
    driver = activate()
    driver.create_network(spec(), DUAL)
    driver.create_endpoint(NET, EndpointSpec(
        EP, IPv4Interface("10.18.0.2/24"), None,
        IPv6Interface(ipv6_address) if ipv6_address else None))
    sandbox = fabric.create_sandbox("c1", "c1", False)
    return driver, driver.join(NET, EP, SandboxRef(sandbox, "eth0", wants_gateway))


def test_join_gives_the_ipv6_gateway_and_the_interface_gets_the_ipv6_address(served):
    fabric = served[0]
    _, info = joined(served)
    assert info.gateway6 == IPv6Address("fd00:18::1")
    assert info.gateway == IPv4Address("10.18.0.1")
    plug = fabric.sandbox_ifaces["c1"]["eth0"]
    assert isinstance(plug, Plug)
    assert plug.address6 == IPv6Interface("fd00:18::2/64")
    assert plug.gateway6 == IPv6Address("fd00:18::1")


def test_an_ipv6_gateway_alone_needs_no_gateway_service(served):
    served[1].join_extra = {"GatewayIPv6": "fd00:18::1"}
    _, info = joined(served)
    assert info.gateway is None and info.gateway6 == IPv6Address("fd00:18::1")
    assert info.needs_gateway_service is False


def test_a_container_not_routed_through_this_network_gets_no_ipv6_default_route(served):
    fabric = served[0]
    _, info = joined(served, wants_gateway=False)
    assert info.gateway6 == IPv6Address("fd00:18::1")  # the join's, as libnetwork records it
    assert fabric.sandbox_ifaces["c1"]["eth0"].gateway6 is None


@pytest.mark.parametrize("value, message", [
    ("fd00:18::zz", 'unable to parse GatewayIPv6 "fd00:18::zz"'),
    ("10.18.0.1", 'unable to parse GatewayIPv6 "10.18.0.1" (not IPv6)'),
])
def test_a_bad_gateway_ipv6_is_refused_and_rolled_back(served, value, message):
    plugin = served[1]
    plugin.join_extra = {"GatewayIPv6": value}
    with pytest.raises(DockerError) as raised:
        joined(served)
    assert raised.value.message == f"plugin {NAME}: {message}; rolled back"
    assert len(plugin.sent("Leave")) == 1


def test_ipv6_static_routes_are_refused_by_name(served):
    plugin = served[1]
    plugin.join_extra = {"StaticRoutes": [
        {"Destination": "fd00:99::/64", "RouteType": 0, "NextHop": "fd00:18::fe"}]}
    with pytest.raises(DockerError, match=r"IPv6 static routes \(fd00:99::/64\).*rolled back"):
        joined(served)


@pytest.mark.parametrize("skip, ipv4, refused", [
    ({"SkipIPv6": True}, True, "SkipIPv6"), ({"SkipIPv4": True}, False, None)])
def test_gw_alloc_check_skips_are_refused_only_for_a_family_the_network_has(
        served, skip, ipv4, refused):
    _, plugin, activate = served
    plugin.capabilities = {"Scope": "local", "GwAllocChecker": True}
    plugin.skip = skip
    driver = activate()
    net = spec(ipv4=ipv4)
    if refused is None:
        driver.validate_network(net, ONLY6)
        return
    with pytest.raises(NotImplementedByEmulator, match=refused):
        driver.validate_network(net, DUAL)
    (body,) = plugin.sent("GwAllocCheck")
    assert body["Options"]["com.docker.network.enable_ipv6"] is True


def test_the_mesh_plugin_refuses_an_ipv6_network_by_name():
    """Its peer records and VXLAN forwarding are IPv4: it says so instead of building
    a network whose IPv6 would not cross hosts."""
    mesh = MeshDriver("192.0.2.11", dataplane=None, lock=threading.RLock(),  # type: ignore[arg-type]
                      mtu=1450)
    with pytest.raises(PluginError, match="mesh: IPv6 networks are not supported"):
        mesh.create_network({"NetworkID": NET, "Options": {},
                             "IPv4Data": [{"Pool": "10.40.0.0/24", "Gateway": "10.40.0.1/24"}],
                             "IPv6Data": [{"Pool": "fd00:40::/64", "Gateway": "fd00:40::1/64"}]})
    assert mesh.networks == {}
