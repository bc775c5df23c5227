"""The bridge driver with IPv6 (issue 19), on the fake fabric: what a dual-stack
network gives the kernel (the bridge's gateway address, each container's address and
default route), what its join answers, the host firewall's part (the same interface
rules as IPv4, NAT66, published ports on [::]) and Docker 28's refusals.

The texts are libnetwork's (drivers/bridge/bridge_linux.go validateIPv6Subnet,
checkConflict, newGwMode) in Docker 28.5.2.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from ipaddress import IPv6Network as Net6

import pytest
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.drivers import host, null
from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.bridge import BridgeDriver
from emulator.drivers.bridge.driver import CAPABILITY
from emulator.drivers.hostfirewall import SKELETON
from emulator.drivers.portmapping import PortBinding
from emulator.fabric.fake import FakeFabric

A, B = "a" * 64, "b" * 64
DUAL = IPAMData(IPv4Network("10.50.0.0/24"), IPv4Address("10.50.0.1"),
                Net6("fd00:1::/64"), IPv6Address("fd00:1::1"))
DUAL_B = IPAMData(IPv4Network("10.51.0.0/24"), IPv4Address("10.51.0.1"),
                  Net6("fd00:2::/64"), IPv6Address("fd00:2::1"))


def v6_spec(net_id: str = A, internal: bool = False, options=None,
            enable_ipv4: bool = True) -> NetworkSpec:
    return NetworkSpec(net_id, "v6", dict(options or {}), internal, enable_ipv6=True,
                       enable_ipv4=enable_ipv4)


def endpoint(n: int, v4: bool = True) -> EndpointSpec:
    return EndpointSpec(f"{n}" * 64, IPv4Interface(f"10.50.0.{n}/24") if v4 else None,
                        address6=IPv6Interface(f"fd00:1::{n}/64"))


@pytest.fixture
def driver(fabric: FakeFabric) -> BridgeDriver:
    return BridgeDriver(fabric)


def test_bridge_and_host_and_null_accept_ipv6_networks() -> None:
    assert CAPABILITY.ipv6 and host.CAPABILITY.ipv6 and null.CAPABILITY.ipv6


def test_the_bridge_gets_the_ipv6_gateway_address(driver, fabric) -> None:
    driver.create_network(v6_spec(), DUAL)
    link = fabric.links["br-aaaaaaaaaaaa"]
    assert link.address == IPv4Interface("10.50.0.1/24")
    assert link.address6 == IPv6Interface("fd00:1::1/64")


def test_an_ipv4_network_gives_the_bridge_no_ipv6(driver, fabric) -> None:
    driver.create_network(NetworkSpec(A, "v4", {}), DUAL)  # IPv6 not enabled: ignored
    assert fabric.links["br-aaaaaaaaaaaa"].address6 is None
    info = driver.create_endpoint(A, EndpointSpec("e" * 64, IPv4Interface("10.50.0.2/24")))
    assert info.address6 is None
    sandbox = fabric.create_sandbox("c", "c", False)
    joined = driver.join(A, "e" * 64, SandboxRef(sandbox, "eth0", True))
    assert joined.gateway6 is None
    assert fabric.sandbox_ifaces["c"]["eth0"].address6 is None


def test_a_container_gets_its_ipv6_address_and_default_route(driver, fabric) -> None:
    driver.create_network(v6_spec(), DUAL)
    info = driver.create_endpoint(A, endpoint(2))
    assert info.address6 == IPv6Interface("fd00:1::2/64")
    sandbox = fabric.create_sandbox("c", "c", False)
    joined = driver.join(A, "2" * 64, SandboxRef(sandbox, "eth0", True))
    assert joined.gateway == IPv4Address("10.50.0.1")
    assert joined.gateway6 == IPv6Address("fd00:1::1")
    plug = fabric.sandbox_ifaces["c"]["eth0"]
    assert plug.address6 == IPv6Interface("fd00:1::2/64")
    assert fabric.default_routes6["c"] == IPv6Address("fd00:1::1")


def test_no_ipv6_gateway_on_an_internal_network_or_when_not_wanted(driver, fabric) -> None:
    driver.create_network(v6_spec(internal=True), DUAL)
    driver.create_endpoint(A, endpoint(2))
    internal = driver.join(A, "2" * 64, SandboxRef(fabric.create_sandbox("c", "c", False),
                                                   "eth0", True))
    assert internal.gateway6 is None and "c" not in fabric.default_routes6
    driver.create_network(v6_spec(B), DUAL_B)
    driver.create_endpoint(B, EndpointSpec("3" * 64, None,
                                           address6=IPv6Interface("fd00:2::3/64")))
    second = driver.join(B, "3" * 64, SandboxRef(fabric.create_sandbox("d", "d", False),
                                                 "eth1", False))
    assert second.gateway6 is None


def test_an_ipv6_only_network(driver, fabric) -> None:
    ipam = IPAMData(subnet6=Net6("fd00:3::/64"), gateway6=IPv6Address("fd00:3::1"))
    driver.create_network(v6_spec(enable_ipv4=False), ipam)
    assert fabric.links["br-aaaaaaaaaaaa"].address is None
    assert fabric.links["br-aaaaaaaaaaaa"].address6 == IPv6Interface("fd00:3::1/64")
    driver.create_endpoint(A, EndpointSpec("2" * 64, None,
                                           address6=IPv6Interface("fd00:3::2/64")))
    joined = driver.join(A, "2" * 64, SandboxRef(fabric.create_sandbox("c", "c", False),
                                                 "eth0", True))
    assert joined.gateway is None and joined.gateway6 == IPv6Address("fd00:3::1")
    assert "subnets6_64 { fd00:3:: }" in fabric.ruleset


def test_dual_stack_is_isolated_by_the_same_rules_for_both_families(driver, fabric) -> None:
    """The rules that isolate networks, keep internal ones in and apply ICC match
    interfaces, not addresses: one rule for both families, so a dual-stack network
    cannot be isolated over IPv4 and open over IPv6."""
    driver.create_network(v6_spec(), DUAL)
    driver.create_network(v6_spec(B, internal=True,
                                  options={"com.docker.network.bridge.enable_icc": "false"}),
                          DUAL_B)
    forward = SKELETON[SKELETON.index("chain forward"):SKELETON.index("chain postrouting")]
    assert " ip " not in forward and " ip6 " not in forward and "saddr" not in forward
    assert "table inet cnm" in fabric.ruleset
    ruleset = fabric.ruleset
    assert 'internal_bridges { "br-bbbbbbbbbbbb" }' in ruleset
    assert 'icc_off { "br-bbbbbbbbbbbb" }' in ruleset
    assert "masq6_64 { fd00:1:: }" in ruleset  # NAT66 for the non-internal one only
    assert "fd00:2::" not in ruleset.split("masq6_64 {")[1].split("}")[0]


def test_masquerade_off_means_no_nat66(driver, fabric) -> None:
    driver.create_network(
        v6_spec(options={"com.docker.network.bridge.enable_ip_masquerade": "false"}), DUAL)
    assert "masq6_64" not in fabric.ruleset
    assert "subnets6_64 { fd00:1:: }" in fabric.ruleset


def test_overlapping_ipv6_subnets_conflict(driver) -> None:
    driver.create_network(v6_spec(), DUAL)
    other = IPAMData(IPv4Network("10.60.0.0/24"), IPv4Address("10.60.0.1"),
                     Net6("fd00:1::/48"), IPv6Address("fd00:1::1"))
    with docker_error(err.Forbidden, 403,
                      f"cannot create network {B} (br-bbbbbbbbbbbb): conflicts with network "
                      f"{A} (br-aaaaaaaaaaaa): networks have overlapping IPv6"):
        driver.create_network(v6_spec(B), other)
    driver.delete_network(A)
    driver.create_network(v6_spec(B), other)  # free again


@pytest.mark.parametrize(("subnet", "gateway", "message"), [
    ("fe80::/80", "fe80::1", "'fe80::1/80' clashes with the Link-Local prefix 'fe80::/64'"),
    ("fe80::/10", "fe80::1", "'fe80::1/10' clashes with the Link-Local prefix 'fe80::/64'"),
    ("ff05::/64", "ff05::1", "multicast subnet 'ff05::1/64' is not allowed"),
])
def test_docker_refuses_these_ipv6_subnets(driver, fabric, subnet, gateway, message) -> None:
    ipam = IPAMData(IPv4Network("10.50.0.0/24"), IPv4Address("10.50.0.1"), Net6(subnet),
                    IPv6Address(gateway))
    with docker_error(err.InvalidParameter, 400, message):
        driver.create_network(v6_spec(), ipam)
    assert fabric.links == {}


def test_a_network_needs_a_family_and_an_ipv6_pool(driver, fabric) -> None:
    with docker_error(err.InvalidParameter, 400, "IPv4 or IPv6 must be enabled"):
        driver.create_network(NetworkSpec(A, "none", {}, enable_ipv4=False), DUAL)
    with docker_error(err.InvalidParameter, 400, "ipv6 pool is empty"):
        driver.create_network(v6_spec(), IPAMData(IPv4Network("10.50.0.0/24"),
                                                  IPv4Address("10.50.0.1")))
    assert fabric.links == {}


def test_the_link_local_prefix_itself_is_allowed(driver, fabric) -> None:
    ipam = IPAMData(IPv4Network("10.50.0.0/24"), IPv4Address("10.50.0.1"),
                    Net6("fe80::/64"), IPv6Address("fe80::1"))
    driver.create_network(v6_spec(), ipam)
    assert fabric.links["br-aaaaaaaaaaaa"].address6 == IPv6Interface("fe80::1/64")


@pytest.mark.parametrize("key", ["com.docker.network.bridge.gateway_mode_ipv6",
                                 "com.docker.network.bridge.gateway_mode_ipv4"])
def test_gateway_modes(driver, fabric, key) -> None:
    with docker_error(err.InvalidParameter, 400,
                      f"failed to parse {key} value: bogus (unknown gateway mode bogus)"):
        driver.create_network(v6_spec(options={key: "bogus"}), DUAL)
    for mode in ("routed", "nat-unprotected", "isolated"):
        with docker_error(err.NotImplementedByEmulator, 501,
                          f"{key}={mode} is not supported by the emulator (only the "
                          "default, nat)"):
            driver.create_network(v6_spec(options={key: mode}), DUAL)
    assert fabric.links == {}
    driver.create_network(v6_spec(options={key: "nat"}), DUAL)


def test_an_ipv6_address_on_a_network_without_ipv6_is_refused(driver) -> None:
    driver.create_network(NetworkSpec(A, "v4", {}), DUAL)
    with pytest.raises(err.InvalidParameter, match="has no IPv6"):
        driver.create_endpoint(A, endpoint(2))


# -- published ports over IPv6 ----------------------------------------------------


def joined(driver: BridgeDriver, fabric: FakeFabric, n: int, v4: bool = True) -> str:
    driver.create_endpoint(A, endpoint(n, v4))
    driver.join(A, f"{n}" * 64, SandboxRef(fabric.create_sandbox(f"c{n}", "c", False),
                                           "eth0", True))
    return f"{n}" * 64


def test_a_published_port_is_bound_on_both_families_with_one_host_port(driver, fabric) -> None:
    driver.create_network(v6_spec(), DUAL)
    ep = joined(driver, fabric, 2)
    done = driver.publish(A, ep, (PortBinding("tcp", 80),))
    assert [(str(b.host_ip), b.host_port) for b in done] == [
        ("0.0.0.0", done[0].host_port), ("::", done[0].host_port)]
    ruleset = fabric.ruleset
    assert f"published_any {{ tcp . {done[0].host_port} : 10.50.0.2 . 80 }}" in ruleset
    assert f"published6_any {{ tcp . {done[0].host_port} : fd00:1::2 . 80 }}" in ruleset
    driver.unpublish(A, ep)
    assert "fd00:1::2 . 80" not in fabric.ruleset and "10.50.0.2 . 80" not in fabric.ruleset


def test_a_fixed_host_port_taken_on_ipv6_is_refused_with_docker_text(driver, fabric) -> None:
    driver.create_network(v6_spec(), DUAL)
    driver.publish(A, joined(driver, fabric, 2),
                   (PortBinding("tcp", 80, IPv6Address("::"), 8080, 8080),))
    with docker_error(err.Forbidden, 403,
                      "Bind for [::]:8080 failed: port is already allocated"):
        driver.publish(A, joined(driver, fabric, 3), (PortBinding("tcp", 80, None, 8080, 8080),))
    # all or none: the 0.0.0.0 half was given back
    driver.publish(A, joined(driver, fabric, 4),
                   (PortBinding("tcp", 80, IPv4Address("0.0.0.0"), 8080, 8080),))


def test_an_ipv6_host_address_dnats_to_the_container_ipv6(driver, fabric) -> None:
    driver.create_network(v6_spec(), DUAL)
    ep = joined(driver, fabric, 2)
    done = driver.publish(A, ep, (PortBinding("udp", 53, IPv6Address("fd00:b6::10"), 5353,
                                              5353),))
    assert [(str(b.host_ip), b.host_port) for b in done] == [("fd00:b6::10", 5353)]
    assert "published6_at { fd00:b6::10 . udp . 5353 : fd00:1::2 . 53 }" in fabric.ruleset


def test_an_ipv4_only_container_gets_no_ipv6_binding(driver, fabric) -> None:
    """Docker's userland proxy would carry [::] to the container's IPv4 (6->4); the
    emulator has no proxy, so it binds 0.0.0.0 only, as before IPv6."""
    driver.create_network(NetworkSpec(A, "v4", {}), DUAL)
    driver.create_endpoint(A, EndpointSpec("2" * 64, IPv4Interface("10.50.0.2/24")))
    driver.join(A, "2" * 64, SandboxRef(fabric.create_sandbox("c", "c", False), "eth0", True))
    done = driver.publish(A, "2" * 64, (PortBinding("tcp", 80),
                                        PortBinding("tcp", 81, IPv6Address("::"), 9090, 9090)))
    assert [str(b.host_ip) for b in done] == ["0.0.0.0"]
    assert "published6" not in fabric.ruleset.split("}\n}\n", 1)[1]


def test_an_ipv6_only_container_is_published_on_ipv6_only(driver, fabric) -> None:
    driver.create_network(v6_spec(), DUAL)
    ep = joined(driver, fabric, 2, v4=False)
    done = driver.publish(A, ep, (PortBinding("tcp", 80, None, 8080, 8080),))
    assert [(str(b.host_ip), b.host_port) for b in done] == [("::", 8080)]
