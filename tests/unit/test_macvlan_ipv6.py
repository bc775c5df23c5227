"""The macvlan driver's IPv6, as Docker 28's (libnetwork/drivers/macvlan): the IPAM's
static address on the MACVLAN, the subnet's gateway as the IPv6 default route
unless the network is internal, "ipv6 pool is empty" for an IPv6 network without an
IPv6 pool, and IPv6-only networks (`--ipv4=false`) accepted. Driven directly over the
fake fabric (the engine's IPv6 allocation is another part of the work); the fabric's
kernel side (no DAD, accept_ra left alone) is tested on the kernel."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from ipaddress import IPv6Network as Net6

import pytest

from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.macvlan import MacvlanDriver
from emulator.drivers.macvlan.driver import CAPABILITY
from emulator.errdefs import InvalidParameter, NotFound
from emulator.fabric.base import MacvlanPlug
from emulator.fabric.fake import FakeFabric

NET, EP = "f" * 64, "e" * 64
DUAL = IPAMData(IPv4Network("198.51.100.0/24"), IPv4Address("198.51.100.1"),
                Net6("2001:db8:1::/64"), IPv6Address("2001:db8:1::1"))
ONLY6 = IPAMData(subnet6=Net6("2001:db8:2::/64"), gateway6=IPv6Address("2001:db8:2::1"))
V6 = IPv6Interface("2001:db8:1::10/64")


@pytest.fixture
def fabric() -> FakeFabric:
    return FakeFabric("h1", nics=("eth0", "eth1"))


def spec(ipv6: bool = True, ipv4: bool = True, internal: bool = False) -> NetworkSpec:
    return NetworkSpec(NET, "lan6", {"parent": "eth1"}, internal=internal,
                       enable_ipv6=ipv6, enable_ipv4=ipv4)


def join(fabric: FakeFabric, driver: MacvlanDriver, address, address6,
         wants_gateway: bool = True):
    info = driver.create_endpoint(NET, EndpointSpec(EP, address, None, address6))
    sandbox = fabric.create_sandbox("c1", "c1", False)
    joined = driver.join(NET, EP, SandboxRef(sandbox, "eth0", wants_gateway))
    plug = fabric.sandbox_ifaces["c1"]["eth0"]
    assert isinstance(plug, MacvlanPlug)
    return info, joined, plug


def test_macvlan_declares_ipv6():
    assert CAPABILITY.ipv6 is True


def test_a_dual_stack_endpoint_gets_both_addresses_and_gateways(fabric):
    driver = MacvlanDriver(fabric)
    driver.create_network(spec(), DUAL)
    info, joined, plug = join(fabric, driver, IPv4Interface("198.51.100.10/24"), V6)
    assert info.address6 == V6
    assert (plug.address, plug.address6) == (IPv4Interface("198.51.100.10/24"), V6)
    assert (plug.gateway, plug.gateway6) == (IPv4Address("198.51.100.1"),
                                             IPv6Address("2001:db8:1::1"))
    assert joined.gateway6 == IPv6Address("2001:db8:1::1")
    driver.delete_network(NET)
    assert fabric.macvlans["eth1"] == [] and fabric.sandbox_ifaces["c1"] == {}


def test_an_ipv6_only_network_is_accepted_and_its_endpoint_has_no_ipv4(fabric):
    driver = MacvlanDriver(fabric)
    driver.create_network(spec(ipv4=False), ONLY6)
    address6 = IPv6Interface("2001:db8:2::2/64")
    info, joined, plug = join(fabric, driver, None, address6)
    assert info.address is None and plug.address is None and joined.gateway is None
    assert plug.address6 == address6 and plug.gateway6 == IPv6Address("2001:db8:2::1")


def test_an_internal_network_gives_no_ipv6_default_route(fabric):
    driver = MacvlanDriver(fabric)
    driver.create_network(spec(internal=True), DUAL)
    _, joined, plug = join(fabric, driver, IPv4Interface("198.51.100.10/24"), V6)
    assert plug.address6 == V6
    assert plug.gateway6 is None and joined.gateway6 is None and plug.gateway is None


def test_a_container_routed_elsewhere_gets_no_ipv6_default_route_here(fabric):
    driver = MacvlanDriver(fabric)
    driver.create_network(spec(), DUAL)
    _, joined, plug = join(fabric, driver, IPv4Interface("198.51.100.10/24"), V6,
                           wants_gateway=False)
    assert plug.address6 == V6 and plug.gateway6 is None and joined.gateway6 is None


def test_a_network_without_ipv6_gives_its_endpoints_none(fabric):
    driver = MacvlanDriver(fabric)
    driver.create_network(spec(ipv6=False), DUAL)
    info, joined, plug = join(fabric, driver, IPv4Interface("198.51.100.10/24"), None)
    assert info.address6 is None and plug.address6 is None and plug.gateway6 is None


@pytest.mark.parametrize("ipv4, ipam, message", [
    (True, IPAMData(IPv4Network("198.51.100.0/24"), IPv4Address("198.51.100.1")),
     "ipv6 pool is empty"),
    (True, ONLY6, "ipv4 pool is empty"),
])
def test_a_family_enabled_without_its_pool_is_refused(fabric, ipv4, ipam, message):
    driver = MacvlanDriver(fabric)
    with pytest.raises(InvalidParameter, match=f"^{message}$"):
        driver.create_network(spec(ipv4=ipv4), ipam)
    with pytest.raises(NotFound):
        driver.network_options(NET)
