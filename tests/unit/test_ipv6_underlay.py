"""An IPv6 underlay: the topology option, swarm nodes advertising IPv6, the overlay's
VXLAN devices made for IPv6 VTEPs, and the outer headers the overhead experiment reads.

Docker 25+ runs overlay VXLAN over IPv6 when a node's advertise (data-path) address
is IPv6 (libnetwork drivers/overlay isIPv6Transport); dockerd favours IPv4 when an
interface has both, so the topology says which family a host advertises by default.
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
)

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from emulator import cli
from emulator import errdefs as err
from emulator.api.shapes import swarm as swarm_shapes
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.overlay import OverlayDriver
from emulator.drivers.overlay.driver import CAPABILITY
from emulator.experiments import overlay_overhead
from emulator.experiments import overlay_wire as wire
from emulator.fabric.fake import FakeFabric
from emulator.swarm.cluster import SwarmBinding, SwarmDirectory, host_port, parse_node_address
from emulator.swarm.controlplane import ControlPlane
from emulator.topology import TopologyError, load_topology_text, topology_to_data
from emulator.topology.resolve import topology_from_data

# -- the topology option ---------------------------------------------------------------


def topology(underlay: str = "{subnet6: '2001:db8::/64', advertise: ipv6}",
             hosts: str = "h1: {}, h2: {}", extra: str = "") -> str:
    return f"name: lab\nunderlay: {underlay}\n{extra}hosts: {{{hosts}}}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load_topology_text(text, source="t")
    return [str(p).removeprefix("t:") for p in caught.value.problems]


def test_hosts_and_outside_get_the_ipv6_address_at_their_ipv4_offset() -> None:
    lab = load_topology_text(topology(hosts="h1: {}, h2: {address6: '2001:db8::99'}"))
    assert str(lab.underlay.subnet6) == "2001:db8::/64"
    assert [(str(h.address), str(h.address6)) for h in lab.hosts] == [
        ("192.0.2.11", "2001:db8::b"), ("192.0.2.12", "2001:db8::99")]
    assert str(lab.outside.address6) == "2001:db8::fe"
    assert [str(lab.advertise_address(h)) for h in lab.hosts] == ["2001:db8::b", "2001:db8::99"]


def test_a_dual_stack_underlay_advertises_ipv4_unless_told_otherwise() -> None:
    """dockerd favours IPv4 when an interface has one address of each family."""
    lab = load_topology_text(topology(underlay="{subnet6: 'fd00:1::/64'}"))
    assert lab.underlay.advertise == "ipv4"
    assert [str(lab.advertise_address(h)) for h in lab.hosts] == ["192.0.2.11", "192.0.2.12"]
    assert all(h.address6 is not None for h in lab.hosts)


def test_without_subnet6_nothing_changes() -> None:
    lab = load_topology_text(topology(underlay="{}"))
    assert lab.underlay.subnet6 is None and lab.outside.address6 is None
    assert all(h.address6 is None for h in lab.hosts)
    assert "subnet6" not in topology_to_data(lab)["underlay"]


def test_the_ipv6_underlay_writes_back_and_loads_the_same() -> None:
    lab = load_topology_text(topology(hosts="h1: {}, h2: {address6: '2001:db8::99'}"))
    data = topology_to_data(lab)
    assert data["underlay"]["subnet6"] == "2001:db8::/64"
    assert data["underlay"]["advertise"] == "ipv6"
    assert topology_from_data(data) == lab


def test_ipv6_fields_without_subnet6_are_refused_naming_what_is_missing() -> None:
    text = topology(underlay="{advertise: ipv6}", hosts="h1: {address6: '2001:db8::1'}",
                    extra="outside: {address6: '2001:db8::fe'}\n")
    assert problems(text) == [
        "2: underlay.advertise: ipv6 needs IPv6 addresses on the underlay (underlay.subnet6);"
        " allowed: set underlay.subnet6, advertise: ipv4",
        "3: outside.address6: the underlay has no IPv6: an IPv6 address needs "
        "underlay.subnet6; allowed: set underlay.subnet6, remove this address6",
        "4: hosts.h1.address6: the underlay has no IPv6: an IPv6 address needs "
        "underlay.subnet6; allowed: set underlay.subnet6, remove this address6",
    ]


def test_an_ipv6_only_underlay_is_refused_as_not_implemented() -> None:
    assert problems(topology(underlay="{subnet: '2001:db8::/64'}")) == [
        "2: underlay.subnet: '2001:db8::/64' is an IPv6 network: an IPv6-only underlay is "
        "not implemented; allowed: an IPv4 subnet here and the IPv6 one in underlay.subnet6 "
        "(a dual-stack underlay)"]


@pytest.mark.parametrize(("subnet6", "message"), [
    ("192.0.2.0/24", "invalid IPv6 network '192.0.2.0/24'"),
    ("2001:db8::1/64", "'2001:db8::1/64' has host bits set (did you mean '2001:db8::/64'?)"),
    ("fe80::/64", "fe80::/64 is not a unicast prefix a link can be numbered from"),
    ("ff02::/64", "ff02::/64 is not a unicast prefix a link can be numbered from"),
    ("2001:db8::/124", "/124 is too long for an underlay"),
])
def test_unusable_subnet6_is_refused(subnet6: str, message: str) -> None:
    (problem,) = problems(topology(underlay=f"{{subnet6: '{subnet6}'}}"))
    assert problem.startswith(f"2: underlay.subnet6: {message}")


def test_address6_problems_are_named() -> None:
    hosts = ("h1: {address6: '2001:db9::1'}, h2: {address6: '2001:db8::'}, "
             "h3: {address6: '192.0.2.5'}, h4: {address6: '2001:db8::fe'}, h5: {}, "
             "h6: {address6: '2001:db8::f'}")
    found = problems(topology(hosts=hosts))
    assert sorted(found) == [
        "1: outside: its default IPv6 address 2001:db8::fe (same offset as 192.0.2.254) is "
        "already the address of host 'h4'; allowed: give it an address6, another address6 "
        "for the other",
        "3: hosts.h1.address6: 2001:db9::1 is not in the underlay subnet6 2001:db8::/64; "
        "allowed: 2001:db8::1 to 2001:db8::ffff:ffff:ffff:ffff",
        "3: hosts.h2.address6: 2001:db8:: is the subnet's own address (Subnet-Router "
        "anycast); allowed: 2001:db8::1 to 2001:db8::ffff:ffff:ffff:ffff",
        "3: hosts.h3.address6: '192.0.2.5' is not an IPv6 address; allowed: e.g. "
        "2001:db8::11",
        "3: hosts.h5: its default IPv6 address 2001:db8::f (same offset as 192.0.2.15) is "
        "already the address of host 'h6'; allowed: give it an address6, another address6 "
        "for the other",
    ]


def test_the_real_engine_cannot_advertise_ipv6() -> None:
    """Debian's dockerd 20.10 has no IPv6 VXLAN underlay (added in Docker 25)."""
    (problem,) = problems(topology(hosts="h1: {engine: docker}, h2: {}"))
    assert problem.startswith("3: hosts.h1.engine: engine 'docker' cannot advertise IPv6 to "
                              "a swarm here (underlay.advertise: ipv6)")
    lab = load_topology_text(topology())
    with pytest.raises(ValueError, match="underlay.advertise: ipv6"):
        lab.with_engine("docker")
    dual = load_topology_text(topology(underlay="{subnet6: '2001:db8::/64'}"))
    assert {h.engine for h in dual.with_engine("docker").hosts} == {"docker"}


# -- swarm addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "address"), [
    ("192.0.2.11", "192.0.2.11"), ("192.0.2.11:2377", "192.0.2.11"),
    ("2001:db8::b", "2001:db8::b"), ("[2001:db8::b]:2377", "2001:db8::b"),
    ("[2001:db8::b]", "2001:db8::b"),
])
def test_node_addresses_parse_like_go_split_host_port(text: str, address: str) -> None:
    assert parse_node_address(text) == ip_address(address)


@pytest.mark.parametrize("text", ["::", "0.0.0.0", "[2001:db8::b]x", "h1:2377", "2001:db8::zz"])
def test_bad_node_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_node_address(text)


def test_host_port_brackets_ipv6() -> None:
    assert host_port(IPv6Address("2001:db8::b"), 2377) == "[2001:db8::b]:2377"
    assert host_port(IPv4Address("192.0.2.11"), 2377) == "192.0.2.11:2377"


def fake(engine: Engine) -> FakeFabric:
    assert isinstance(engine.fabric, FakeFabric)
    return engine.fabric


def engines(*advertised: str) -> list[Engine]:
    directory = SwarmDirectory()
    return [Engine(f"h{i}", FakeFabric(f"h{i}"), advertise=ip_address(addr),
                   swarm_directory=directory) for i, addr in enumerate(advertised, 1)]


def test_an_ipv6_swarm_programs_ipv6_vteps_on_ipv6_vxlan_devices() -> None:
    h1, h2 = engines("2001:db8::b", "2001:db8::c")
    h1.swarm_init()
    h2.swarm_join(["[2001:db8::b]:2377"], h1.swarm_join_token("worker"))
    assert str(h2.swarm_node.addr) == "2001:db8::c"
    info = swarm_shapes.swarm_info(h2)
    assert info["RemoteManagers"][0]["Addr"] == "[2001:db8::b]:2377"
    net = h1.create_network(NetworkRequest("ov", "overlay", attachable=True))
    c1 = h1.run_container("c1", [AttachRequest("ov")])
    c2 = h2.run_container("c2", [AttachRequest("ov")])
    key = f"1-{net.id[:10]}"
    vni = net.options["com.docker.network.driver.overlay.vxlanid_list"]
    for engine in (h1, h2):
        assert fake(engine).vxlan_ipv6[f"{key}/vxlan0"] is True
        assert ("add_vxlan", f"vxlan0 vni {vni} port 4789 ipv6") in fake(engine).log
    ep1, ep2 = c1.endpoints[net.id], c2.endpoints[net.id]
    assert fake(h1).peers[key][str(ep2.address.ip)] == (ep2.mac, "2001:db8::c")
    assert fake(h2).peers[key][str(ep1.address.ip)] == (ep1.mac, "2001:db8::b")


def test_an_ipv4_swarm_keeps_ipv4_vxlan_devices() -> None:
    h1, h2 = engines("192.0.2.11", "192.0.2.12")
    h1.swarm_init()
    h2.swarm_join(["192.0.2.11:2377"], h1.swarm_join_token("worker"))
    net = h1.create_network(NetworkRequest("ov", "overlay", attachable=True))
    h1.run_container("c1", [AttachRequest("ov")])
    assert fake(h1).vxlan_ipv6[f"1-{net.id[:10]}/vxlan0"] is False


def test_an_ipv6_advertise_addr_given_to_swarm_init_wins_over_the_default() -> None:
    (h1,) = engines("192.0.2.11")
    h1.swarm_init(advertise_addr="2001:db8::b")
    assert str(h1.swarm_node.addr) == "2001:db8::b"


def test_a_node_of_the_other_family_is_refused_with_a_reason() -> None:
    h1, h2 = engines("2001:db8::b", "192.0.2.12")
    h1.swarm_init()
    with pytest.raises(err.InvalidParameter) as caught:
        h2.swarm_join(["[2001:db8::b]:2377"], h1.swarm_join_token("worker"))
    assert str(caught.value) == (
        "advertise address 192.0.2.12 is IPv4 but this swarm's nodes advertise IPv6 "
        "(2001:db8::b on h1): the emulator's overlay runs VXLAN between nodes of one address "
        "family; advertise an IPv6 address")
    assert h2.swarm is None


# -- outer headers on the wire -----------------------------------------------------------

INNER = bytes(Ether() / IP(src="10.0.1.2", dst="10.0.1.3") / UDP(dport=9999) / (b"x" * 100))


def test_vxlan_over_ipv6_adds_70_bytes_and_over_ipv4_50() -> None:
    over6 = bytes(Ether() / IPv6(src="2001:db8::b", dst="2001:db8::c") / UDP(dport=4789)
                  / VXLAN(vni=4097) / INNER)
    over4 = bytes(Ether() / IP(src="192.0.2.11", dst="192.0.2.12") / UDP(dport=4789)
                  / VXLAN(vni=4097) / INNER)
    assert len(over6) - len(INNER) == overlay_overhead.WIRE_OVERHEAD["ipv6"] == 70
    assert len(over4) - len(INNER) == overlay_overhead.WIRE_OVERHEAD["ipv4"] == 50
    for frame, version in ((over6, 6), (over4, 4)):
        assert wire.udp_dport(frame) == wire.VXLAN_PORT
        assert wire.vni_of(frame) == 4097
        assert wire.ip_version(frame) == version
        assert not wire.is_fragment(frame)


def test_ipv6_fragments_are_recognised() -> None:
    first = bytes(Ether() / IPv6() / IPv6ExtHdrFragment(offset=0, m=1, nh=17)
                  / UDP(dport=4789) / VXLAN(vni=7) / INNER)
    later = bytes(Ether() / IPv6() / IPv6ExtHdrFragment(offset=100, m=0, nh=17) / (b"y" * 30))
    assert (wire.udp_dport(first), wire.vni_of(first), wire.is_fragment(first)) == (4789, 7, True)
    assert (wire.udp_dport(later), wire.vni_of(later), wire.is_fragment(later)) == (
        None, None, True)


def test_too_big_messages_of_both_families_give_their_mtu() -> None:
    assert wire.is_frag_needed(bytes(Ether() / IPv6() / ICMPv6PacketTooBig(mtu=1430))) == 1430
    assert wire.is_frag_needed(
        bytes(Ether() / IP() / ICMP(type=3, code=4, nexthopmtu=1430))) == 1430
    assert wire.is_frag_needed(bytes(Ether() / IP() / ICMP(type=3, code=3))) is None


def test_docker_counts_50_bytes_so_an_ipv6_path_is_20_smaller() -> None:
    assert overlay_overhead.path_mtu("ipv4", 1500) == 1450
    assert overlay_overhead.path_mtu("ipv6", 1500) == 1430
    assert overlay_overhead.payloads(1450, 1430)[-3:] == [1402, 1403, 1422]
    assert overlay_overhead.payloads(1450, 1450) == overlay_overhead.payloads(1450)
    six = overlay_overhead.underlay_topology("oo1", "ipv6", 9000)
    assert six["underlay"] == {"mtu": 9000, "subnet6": "2001:db8::/64", "advertise": "ipv6"}
    assert topology_from_data(six).underlay.advertise == "ipv6"


# -- IPv6 inside the overlay, at the driver ---------------------------------------------


def overlay_driver(host: str, vtep: str, control):
    fabric = FakeFabric(host)
    driver = OverlayDriver(fabric)
    driver.bind(SwarmBinding(host, ip_address(vtep), 4789, control))
    return driver, fabric


def dual_stack_spec(net_id: str = "n" * 25, enable_ipv4: bool = True):
    spec = NetworkSpec(net_id, "ov6", {"com.docker.network.driver.overlay.vxlanid_list": "4097"},
                       enable_ipv6=True, enable_ipv4=enable_ipv4)
    ipam = IPAMData(subnet=IPv4Network("10.0.9.0/24"), gateway=IPv4Address("10.0.9.1"),
                    subnet6=IPv6Network("fd00:9::/64"), gateway6=IPv6Address("fd00:9::1"))
    return spec, ipam


def join(driver, fabric, net_id: str, ep_id: str, v4: str, v6: str):
    info = driver.create_endpoint(net_id, EndpointSpec(ep_id, IPv4Interface(v4),
                                                       address6=IPv6Interface(v6)))
    sandbox = fabric.create_sandbox(f"sb-{ep_id}", ep_id, False)
    joined = driver.join(net_id, ep_id, SandboxRef(sandbox, "eth0", True))
    return info, joined, fabric.sandbox_ifaces[f"sb-{ep_id}"]["eth0"]


def test_an_overlay_endpoint_gets_its_ipv6_address_on_the_container_interface() -> None:
    assert CAPABILITY.ipv6
    control = ControlPlane()
    d1, f1 = overlay_driver("h1", "2001:db8::b", control)
    d2, f2 = overlay_driver("h2", "2001:db8::c", control)
    spec, ipam = dual_stack_spec()
    for driver in (d1, d2):
        driver.create_network(spec, ipam)
    info, joined, plug = join(d1, f1, spec.id, "e1", "10.0.9.2/24", "fd00:9::2/64")
    _, _, _ = join(d2, f2, spec.id, "e2", "10.0.9.3/24", "fd00:9::3/64")
    assert str(info.address6) == "fd00:9::2/64"
    assert str(plug.address6) == "fd00:9::2/64" and str(plug.address) == "10.0.9.2/24"
    # As in Docker 28: no IPv6 gateway from the overlay, IPv4 neighbours only.
    assert joined.gateway6 is None and plug.gateway6 is None
    key = f"1-{spec.id[:10]}"
    assert set(f1.peers[key]) == {"10.0.9.3"}
    assert f1.peers[key]["10.0.9.3"][1] == "2001:db8::c"


def test_an_overlay_without_ipv4_is_refused_as_docker_does() -> None:
    driver, _ = overlay_driver("h1", "192.0.2.11", ControlPlane())
    spec, ipam = dual_stack_spec(enable_ipv4=False)
    with pytest.raises(err.DockerError, match="^ipv4 pool is empty$"):
        driver.create_network(spec, ipam)


# -- `cnm topology check` ------------------------------------------------------------------


def test_topology_check_accepts_an_ipv6_underlay(capsys, tmp_path) -> None:
    path = tmp_path / "lab6.yaml"
    path.write_text(topology())
    assert cli.main(["topology", "check", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_topology_check_names_what_the_ipv6_underlay_lacks(capsys, tmp_path) -> None:
    path = tmp_path / "lab6.yaml"
    path.write_text(topology(underlay="{advertise: ipv6, subnet: '2001:db8::/64'}"))
    assert cli.main(["topology", "check", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:2: underlay.subnet: '2001:db8::/64' is an IPv6 network: an IPv6-only "
        "underlay is not implemented; allowed: an IPv4 subnet here and the IPv6 one in "
        "underlay.subnet6 (a dual-stack underlay)",
    ]


def test_an_ipv6_overlay_without_an_ipv6_pool_is_refused_not_ignored() -> None:
    driver, _ = overlay_driver("h1", "192.0.2.11", ControlPlane())
    spec, ipam = dual_stack_spec()
    with pytest.raises(err.DockerError, match="needs an IPv6 --subnet"):
        driver.create_network(spec, IPAMData(subnet=ipam.subnet, gateway=ipam.gateway))


def test_a_manager_is_found_through_either_of_its_host_addresses() -> None:
    """dockerd's default --listen-addr 0.0.0.0:2377 listens on IPv4 and IPv6 alike."""
    directory = SwarmDirectory()
    v4, v6 = IPv4Address("192.0.2.11"), IPv6Address("2001:db8::b")
    directory.add_host(v4, v6)
    h1 = Engine("h1", FakeFabric("h1"), advertise=v6, swarm_directory=directory)
    h2 = Engine("h2", FakeFabric("h2"), advertise=IPv6Address("2001:db8::c"),
                swarm_directory=directory)
    h1.swarm_init()
    h2.swarm_join(["192.0.2.11:2377"], h1.swarm_join_token("worker"))
    assert h2.swarm is h1.swarm
    assert directory.find(IPv4Address("192.0.2.99")) is None
