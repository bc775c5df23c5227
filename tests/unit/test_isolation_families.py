"""The isolation matrix per family: on dual-stack networks every container address has
an IPv6 twin, judged by Docker 28's rules (as IPv4 for bridge); a cell isolated over
IPv4 but reached over IPv6 fails the run; a lab without IPv6 is judged as before.

The state is built from Engine API documents as Docker 28 writes them for
dual-stack networks (`EnableIPv6`, an IPv6 IPAM config, `GlobalIPv6Address`,
`IPv6Gateway`), since the emulated drivers do not give IPv6 addresses yet.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Interface

import pytest

from emulator.experiments import isolation
from emulator.probes.apistate import (
    DefaultRoute,
    LabState,
    parse_container,
    parse_host,
    parse_network,
    parse_route6_table,
)
from emulator.probes.expected import Expectations, has_ipv6, lab_nodes, lab_sources
from emulator.probes.matrix import compare, leaks, side_by_side, truth_table
from emulator.probes.model import IPV4, IPV6, ProbeResult, Verdict

ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}
# (id, name, v4 subnet, v6 subnet or None, internal, options)
NETWORKS = (
    ("nf", "front", "10.11.0.0/24", "fd00:11::/64", False, {}),
    ("nk", "back", "10.12.0.0/24", "fd00:12::/64", False, {}),
    ("ns", "secret", "10.13.0.0/24", "fd00:13::/64", True, {}),
    ("nq", "quiet", "10.14.0.0/24", "fd00:14::/64", False, ICC_OFF),
    ("no", "old", "10.15.0.0/24", None, False, {}),
)
# (name, pid, [(network id, host number)])
CONTAINERS = (
    ("f1", 102, [("nf", 2)]), ("f2", 103, [("nf", 3)]), ("b1", 104, [("nk", 2)]),
    ("s1", 105, [("ns", 2)]), ("s2", 106, [("ns", 3)]), ("q1", 107, [("nq", 2)]),
    ("q2", 108, [("nq", 3)]), ("m1", 109, [("nf", 4), ("nk", 4)]), ("o1", 110, [("no", 2)]),
)
H1_V6 = IPv6Address("2001:db8:ff::11")
OUTSIDE_V6 = IPv6Address("2001:db8:ff::fe")


def network_doc(net_id, name, subnet, subnet6, internal, options) -> dict:
    config = [{"Subnet": subnet, "Gateway": subnet.replace("0/24", "1")}]
    if subnet6:
        config.append({"Subnet": subnet6, "Gateway": subnet6.replace("/64", "1")})
    return {"Id": net_id, "Name": name, "Driver": "bridge", "Scope": "local",
            "Internal": internal, "EnableIPv6": subnet6 is not None, "Options": options,
            "IPAM": {"Config": config}}


def container_doc(name: str, pid: int, endpoints, with_ipv6: bool = True) -> dict:
    networks = {}
    subnets = {n[0]: n for n in NETWORKS}
    for net_id, number in endpoints:
        _, net_name, subnet, subnet6, internal, _ = subnets[net_id]
        settings = {"NetworkID": net_id, "IPAddress": subnet.replace("0/24", str(number)),
                    "IPPrefixLen": 24, "MacAddress": f"02:42:0a:00:{pid % 256:02x}:{number:02x}",
                    "Gateway": "" if internal else subnet.replace("0/24", "1"),
                    "Aliases": None}
        if subnet6 and with_ipv6:
            settings |= {"GlobalIPv6Address": subnet6.replace("/64", str(number)),
                         "GlobalIPv6PrefixLen": 64,
                         "IPv6Gateway": "" if internal else subnet6.replace("/64", "1")}
        networks[net_name] = settings
    return {"Id": f"{name}{'0' * 20}", "Name": f"/{name}", "State": {"Running": True, "Pid": pid},
            "HostConfig": {"NetworkMode": next(iter(networks))}, "Config": {"Hostname": name},
            "NetworkSettings": {"Networks": networks}}


def routes(family: int) -> dict[int, DefaultRoute | None]:
    """Each container's default route by its first endpoint's gateway (none on the
    internal network), as the kernel would show it."""
    found: dict[int, DefaultRoute | None] = {}
    subnets = {n[0]: n for n in NETWORKS}
    for _, pid, endpoints in CONTAINERS:
        net_id = endpoints[0][0]
        _, _, subnet, subnet6, internal, _ = subnets[net_id]
        if internal or family == 6 and not subnet6:
            found[pid] = None
        elif family == 6:
            found[pid] = DefaultRoute(IPv6Address(subnet6.replace("/64", "1")), "eth0")
        else:
            found[pid] = DefaultRoute(IPv4Address(subnet.replace("0/24", "1")), "eth0")
    return found


def dual_lab(with_ipv6: bool = True) -> LabState:
    networks = [network_doc(*n) for n in NETWORKS]
    docs = [container_doc(name, pid, eps, with_ipv6) for name, pid, eps in CONTAINERS]
    host = parse_host("h1", IPv4Address("192.0.2.11"), 11, networks, list(reversed(docs)),
                      routes(4), routes(6) if with_ipv6 else {},
                      H1_V6 if with_ipv6 else None)
    return LabState((host,), 3, IPv4Address("192.0.2.254"),
                    OUTSIDE_V6 if with_ipv6 else None)


@pytest.fixture(scope="module")
def judge():
    state = dual_lab()
    sources = {n.name: n for n in lab_sources(state)}
    targets = {(n.name, n.family): n for n in lab_nodes(state, ipv6=True)
               if n.address is not None}
    expectations = Expectations(state)

    def reaches(src: str, dst: str, protocol: str = "icmp", family: str = IPV6) -> bool:
        return expectations.reaches(sources[src], targets[(dst, family)], protocol)

    reaches.targets = targets  # type: ignore[attr-defined]
    return reaches


def test_the_engine_api_documents_give_the_ipv6_state():
    state = dual_lab()
    front = next(n for n in state.hosts[0].networks.values() if n.name == "front")
    assert front.enable_ipv6 and [str(s) for s in front.subnets6] == ["fd00:11::/64"]
    assert [str(s) for s in front.subnets] == ["10.11.0.0/24"]
    f1 = next(c for c in state.hosts[0].containers if c.name == "f1")
    assert f1.endpoints[0].address6 == IPv6Interface("fd00:11::2/64")
    assert f1.endpoints[0].gateway6 == IPv6Address("fd00:11::1")
    assert f1.gateway_network6 == "nf" and f1.gateway_network == "nf"
    s1 = next(c for c in state.hosts[0].containers if c.name == "s1")
    assert s1.gateway_network6 is None and s1.endpoints[0].gateway6 is None
    assert has_ipv6(state) and not has_ipv6(dual_lab(with_ipv6=False))


def test_every_address_has_an_ipv6_twin_named_alike(judge):
    families = {}
    for name, family in judge.targets:
        families.setdefault(name, set()).add(family)
    assert families["h1/f1"] == {IPV4, IPV6}
    assert families["h1/m1@front"] == families["h1/m1@back"] == {IPV4, IPV6}
    assert families["h1/o1"] == {IPV4}  # on a network without IPv6
    assert families["h1"] == families["outside"] == {IPV4, IPV6}


def test_ipv6_cells_follow_docker_28_as_ipv4_does(judge):
    for family in (IPV4, IPV6):
        assert judge("h1/f1", "h1/f2", family=family)  # same network
        assert not judge("h1/f1", "h1/b1", family=family)  # other network: isolated
        assert judge("h1/m1", "h1/b1", family=family)  # shares back
        assert judge("h1/s1", "h1/s2", family=family)  # internal: among themselves
        assert not judge("h1/s1", "outside", family=family)  # internal: no way out
        assert not judge("h1/q1", "h1/q2", family=family)  # ICC off
        assert judge("h1/f1", "outside", family=family)  # masquerading
        assert judge("h1/f1", "h1", family=family)  # its own host, by its default route
        assert judge("h1", "h1/f1", family=family)  # the host on the bridge
        assert not judge("outside", "h1/f1", family=family)  # nothing outside gets in
    assert judge("h1/f1", "h1/f2", "ndp") and not judge("h1/f1", "h1/b1", "ndp")
    assert judge("h1/f1", "h1/f2", "arp", IPV4)
    # ICC off: ARP still resolves (not filtered), a neighbour solicitation does not
    # (bridged IPv6 crosses ip6tables' -i br -o br DROP in Docker 28).
    assert judge("h1/q1", "h1/q2", "arp", IPV4) and not judge("h1/q1", "h1/q2", "ndp")
    assert judge("h1", "h1/q2", "ndp")  # the host's own solicitations are not forwarded
    assert not judge("h1/s1", "h1", family=IPV6)  # no IPv6 gateway on an internal network
    assert not judge("h1/o1", "h1/f1", family=IPV6)  # o1 has no IPv6 at all


def test_an_internal_network_keeps_ipv6_among_its_containers_beside_icc_off(judge):
    """The host has a network with ICC off (quiet), so bridged IPv6 meets ip6tables:
    Docker 28's internal rules (`-i br ! -o br ! -d PREFIX -j DROP`, moby/moby#45649)
    leave what stays on the bridge alone, neighbour solicitations included. Docker
    20.10's (`-i br ! -d PREFIX`) drop them; the differential lists that as a version
    difference."""
    quiet = next(n for n in dual_lab().hosts[0].networks.values() if n.name == "quiet")
    assert quiet.options["com.docker.network.bridge.enable_icc"] == "false"
    for protocol in ("icmp", "tcp", "udp", "ndp"):
        assert judge("h1/s1", "h1/s2", protocol) and judge("h1/s2", "h1/s1", protocol)
    assert judge("h1/s1", "h1/s2", "arp", IPV4)
    assert not judge("h1/s1", "h1/f1") and not judge("h1/f1", "h1/s1")  # nothing crosses


def test_ipv6_without_an_underlay_address_stops_at_the_host():
    state = dual_lab()
    state = LabState(state.hosts, state.outside_pid, state.outside_address, None)
    host = state.hosts[0]
    state = LabState((type(host)(host.name, host.address, host.pid, host.networks,
                                 host.containers, None),), 3, state.outside_address, None)
    nodes = lab_nodes(state, ipv6=True)
    assert {(n.name, n.family) for n in nodes if n.kind != "container"} == {
        ("h1", IPV4), ("outside", IPV4)}


def test_routed_gateway_mode_does_not_masquerade_ipv6():
    docs = [network_doc("nr", "routed", "10.16.0.0/24", "fd00:16::/64", False,
                        {"com.docker.network.bridge.gateway_mode_ipv6": "routed"})]
    ctr = {"Id": "r1" + "0" * 20, "Name": "/r1", "State": {"Running": True, "Pid": 120},
           "HostConfig": {"NetworkMode": "routed"}, "Config": {"Hostname": "r1"},
           "NetworkSettings": {"Networks": {"routed": {
               "NetworkID": "nr", "IPAddress": "10.16.0.2", "IPPrefixLen": 24,
               "Gateway": "10.16.0.1", "GlobalIPv6Address": "fd00:16::2",
               "GlobalIPv6PrefixLen": 64, "IPv6Gateway": "fd00:16::1", "MacAddress": ""}}}}
    route6 = DefaultRoute(IPv6Address("fd00:16::1"), "eth0")
    host = parse_host("h1", IPv4Address("192.0.2.11"), 11, docs, [ctr],
                      {120: DefaultRoute(IPv4Address("10.16.0.1"), "eth0")}, {120: route6},
                      H1_V6)
    state = LabState((host,), 3, IPv4Address("192.0.2.254"), OUTSIDE_V6)
    nodes = {(n.name, n.family): n for n in lab_nodes(state, ipv6=True)}
    expect = Expectations(state)
    source = lab_sources(state)[0]
    assert expect.reaches(source, nodes[("outside", IPV4)])
    assert not expect.reaches(source, nodes[("outside", IPV6)])


def test_ipv6_routes_are_read_from_the_kernels_table():
    table = (
        "fd000011000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fd000011000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n")
    assert parse_route6_table(table) == DefaultRoute(IPv6Address("fd00:11::1"), "eth0")
    assert parse_route6_table(table.splitlines()[2]) is None  # unreachable is no route
    doc = container_doc("m1", 109, [("nf", 4), ("nk", 4)])
    by_mac = DefaultRoute(IPv6Address("fe80::1"), "eth1", "02:42:0a:00:6d:04")
    assert parse_container(doc, route6=by_mac).gateway_network6 == "nf"
    via_back = DefaultRoute(IPv6Address("fd00:12::1"), "eth1")
    assert parse_container(doc, route6=via_back).gateway_network6 == "nk"
    assert parse_network({"Id": "x", "Name": "x", "IPAM": {"Config": [
        {"Subnet": "fd00:9::/64"}]}}).subnets == ()


def observed(state: LabState, leak: bool):
    """What probes would see on a lab as Docker 28 behaves, or (`leak`) on one whose
    IPv6 crosses networks as Docker 20.10's did."""
    sources = lab_sources(state)
    targets = [n for n in lab_nodes(state, ipv6=True) if n.address is not None]
    expect = Expectations(state)
    results = []
    for src in sources:
        for dst in targets:
            if src.pid == dst.pid:
                continue
            for protocol in ("icmp", "tcp", "udp", "arp" if dst.family == IPV4 else "ndp"):
                reached = expect.reaches(src, dst, protocol)
                if leak and dst.family == IPV6 and protocol != "ndp" and (
                        src.kind == dst.kind == "container" and dst.network is not None):
                    reached = True  # routed between bridges: no ip6tables isolation
                results.append(ProbeResult(src.name, dst.name, protocol,
                                           Verdict.REACHED if reached else Verdict.BLOCKED,
                                           0.1, "echo-reply" if reached else "no reply",
                                           dst.family))
    return sources + targets, results


def test_a_dual_stack_lab_as_docker_has_every_cell_right():
    state = dual_lab()
    nodes, results = observed(state, leak=False)
    cells = compare(nodes, results, Expectations(state))
    assert {c.family for c in cells} == {IPV4, IPV6}
    assert not [c for c in cells if c.wrong] and not leaks(cells)
    assert {c.protocol for c in cells if c.family == IPV6} == {"icmp", "tcp", "udp", "ndp"}
    tables = isolation._tables(cells)
    first = tables.splitlines()[0]
    assert "icmp expected ipv4" in first and "icmp expected ipv6" in first
    assert "arp observed ipv4" in tables and "ndp observed ipv6" in tables
    assert isolation._family_summary(cells).startswith(
        f"; IPv6 {sum(c.family == IPV6 for c in cells)}/")
    assert all(check.ok for check in isolation._matrix_checks("matrix", cells))


def test_isolated_over_ipv4_but_not_over_ipv6_is_a_failure():
    state = dual_lab()
    nodes, results = observed(state, leak=True)
    cells = compare(nodes, results, Expectations(state))
    pairs = leaks(cells)
    assert ("h1/f1", "h1/b1", "icmp") in {(v6.source, v6.target, v6.protocol)
                                          for _, v6 in pairs}
    assert all(v4.family == IPV4 and v6.family == IPV6 and v4.observed is Verdict.BLOCKED
               and v6.observed is Verdict.REACHED for v4, v6 in pairs)
    # Reached where Docker reaches over both families is no leak.
    assert ("h1/f1", "h1/f2", "icmp") not in {(v6.source, v6.target, v6.protocol)
                                              for _, v6 in pairs}
    checks = isolation._matrix_checks("matrix", cells)
    failing = [c for c in checks if not c.ok]
    assert any(c.step == "matrix-ipv6-leak" and c.what == "h1/f1 -> h1/b1 (icmp)"
               for c in failing)
    assert any(c.what == "h1/f1 -> h1/b1 (icmp/ipv6)" for c in failing)
    assert "isolated over IPv4 only" in isolation._family_summary(cells)
    md = isolation._leaks_md(pairs)
    assert "- h1/f1 -> h1/b1 icmp: IPv4 blocked (no reply), IPv6 reached (echo-reply)" in md


def test_a_lab_without_ipv6_is_judged_and_drawn_as_before():
    state = dual_lab(with_ipv6=False)
    assert not has_ipv6(state)
    assert isolation.protocols_for(has_ipv6(state)) == ("icmp", "tcp", "udp", "arp")
    assert all(n.family == IPV4 for n in lab_nodes(state, ipv6=True) if n.address)
    nodes, results = observed(state, leak=False)
    cells = compare(nodes, results, Expectations(state))
    assert {c.family for c in cells} == {IPV4}
    tables = isolation._tables(cells)
    assert tables.splitlines()[0].startswith("icmp expected ")
    assert "ipv4" not in tables and "ipv6" not in tables
    assert [c.what for c in isolation._matrix_checks("matrix", cells)][0].endswith("(icmp)")


def test_side_by_side_keeps_each_tables_columns():
    left = "t4  0 1\na   . X\ncolumns: 0=x, 1=y\nlegend: L"
    right = "t6  0\na   .\ncolumns: 0=x\nlegend: L"
    assert side_by_side(left, right, gap=2).splitlines() == [
        "t4  0 1  t6  0", "a   . X  a   .", "t4 columns: 0=x, 1=y", "legend: L",
        "t6 columns: 0=x"]


def test_the_heatmap_has_a_row_of_panels_per_family():
    pytest.importorskip("matplotlib")
    state = dual_lab()
    nodes, results = observed(state, leak=True)
    cells = compare(nodes, results, Expectations(state))
    fig = isolation.heatmap_figure(cells)
    titles = [ax.get_title() for ax in fig.axes]
    assert "icmp (ipv4): who reaches whom" in titles
    assert "ndp (ipv6): who reaches whom" in titles
    single = isolation.heatmap_figure([c for c in cells if c.family == IPV4])
    assert "icmp: who reaches whom" in [ax.get_title() for ax in single.axes]
    assert truth_table(cells, "ndp", "diff", IPV6).startswith("ndp diff ipv6")
