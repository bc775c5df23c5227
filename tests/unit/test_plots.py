"""The experiments' plots, rendered from synthetic data as a reader would look at them:
axis titles, legends, intervals, the headline's wording, and the files written."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from emulator.experiments import isolation, overlay_overhead, palette
from emulator.experiments.stats import estimate
from emulator.probes.apistate import (
    ContainerState,
    EndpointState,
    HostState,
    LabState,
    NetworkState,
)
from emulator.probes.dnstable import DnsCell
from emulator.probes.matrix import Cell, truth_table
from emulator.probes.model import ALL_PROTOCOLS, Verdict
from emulator.topology.frozenmap import FrozenMap


def titled(ax) -> bool:
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel()) and bool(ax.get_title())


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


# -- overlay-overhead -----------------------------------------------------------------

PATHS = ("overlay (cross-host)", "bridge (same host)", "plain L2 (cross-host macvlan)",
         "host networking (cross-host)")


def sizes() -> list[dict]:
    rows = []
    for mtu in overlay_overhead.UNDERLAY_MTUS:
        for p in overlay_overhead.payloads(mtu - 50):
            rows.append({"underlay_mtu": mtu, "payload": p, "overhead": 50,
                         "efficiency_bridge": p / (p + 42), "efficiency_overlay": p / (p + 92)})
    return rows


def cost() -> dict:
    # The RTTs are small and noisy: mean - half-width is below zero.
    rtt = [0.01, 0.02, 0.15, 0.01, 0.02]
    return {path: {"tcp_gbps": estimate([5.0 + i, 6.0 + i, 5.5 + i]),
                   "udp64_kpps": estimate([100.0, 120.0, 90.0]),
                   "rtt_ms": estimate(rtt),
                   "receiver_cpu_percent": estimate([30.0, 35.0, 20.0])}
            for i, path in enumerate(PATHS)}


def test_overlay_figure_keeps_both_mtus_visible_and_intervals_above_zero(tmp_path):
    fig = overlay_overhead.overlay_figure(sizes(), cost())
    efficiency, bars = fig.axes[:2]
    assert titled(efficiency) and titled(bars)
    lines = {line.get_label(): line for line in efficiency.get_lines()}
    small, large = (lines[f"overlay, measured (underlay MTU {mtu})"] for mtu in (1500, 9000))
    # Same values up to 1500 bytes: told apart by size, fill, colour and line style.
    assert large.get_markersize() > small.get_markersize()
    assert large.get_markerfacecolor() == "none" and small.get_markerfacecolor() != "none"
    assert large.get_color() != small.get_color() and large.get_linestyle() != small.get_linestyle()
    assert small.get_zorder() > large.get_zorder()
    assert {t.get_text() for t in bars.get_legend().get_texts()} == set(PATHS)
    lower_ends = [y for line in bars.get_lines() if line.get_marker() == "_"
                  for y in line.get_ydata()]
    assert lower_ends and min(lower_ends) > 0  # no interval of a positive quantity below 0
    fig.savefig(tmp_path / "overlay_overhead.png")
    assert (tmp_path / "overlay_overhead.png").stat().st_size > 10_000


def test_overhead_headline_reads_as_a_number():
    mtus = [{"found_mtu": 1450}, {"found_mtu": 8950}]
    text = overlay_overhead.summary_headline(sizes(), mtus, cost())
    assert text.startswith("overhead 50 bytes per packet; MTU found 1450, 8950;")
    assert "[" not in text
    odd = [*sizes(), {**sizes()[0], "overhead": 54}, {**sizes()[0], "overhead": None}]
    assert overlay_overhead.summary_headline(odd, mtus, cost()).startswith(
        "overhead 50, 54 bytes per packet (1 sizes not captured);")


# -- isolation heatmaps -------------------------------------------------------------

NODES = ("h1/d1", "h1/f1", "h1/f2", "h1", "outside")


def cells() -> list[Cell]:
    found = []
    for protocol in ALL_PROTOCOLS:
        for source in NODES:
            for target in NODES:
                if source == target:
                    continue  # never probed: "not applicable"
                reached = source.startswith("h1/f") and target.startswith("h1/f")
                observed = not reached if (source, target) == ("h1/d1", "h1/f1") else reached
                found.append(Cell(source, target, protocol, Verdict(
                    "reached" if reached else "blocked"), Verdict(
                    "reached" if observed else "blocked"), None, "synthetic"))
    return found


def shown_colours(ax) -> set[tuple]:
    image = ax.get_images()[0]
    return {tuple(rgba) for row in image.to_rgba(image.get_array(), norm=True)
            for rgba in row.tolist()}


def test_reachability_heatmap_has_titles_a_legend_and_a_caption(tmp_path):
    from matplotlib.colors import to_rgba

    fig = isolation.heatmap_figure(cells())
    assert len(fig.axes) == len(ALL_PROTOCOLS) and all(titled(ax) for ax in fig.axes)
    assert "source" in fig.axes[0].get_ylabel() and "target" in fig.axes[0].get_xlabel()
    assert legend_labels(fig) == [c.label for c in palette.REACH_CATEGORIES]
    colours = shown_colours(fig.axes[0])
    assert to_rgba(palette.NOT_APPLICABLE.color) in colours
    assert to_rgba(palette.BLOCKED.color) in colours
    assert to_rgba(palette.DIFFERS_REACHED.color) in colours
    assert palette.NOT_APPLICABLE.color != palette.BLOCKED.color
    assert "topology.png" in fig.get_suptitle() and "h1/f1" in fig.get_suptitle()
    isolation.heatmap(cells(), tmp_path / "heatmap.png")
    assert (tmp_path / "heatmap.png").stat().st_size > 10_000


def test_dns_heatmap_has_titles_and_its_own_legend(tmp_path):
    dns = [DnsCell(source, name, name, "", "x", "x" if name != "f2" else "", name != "f2",
                   "", None) for source in ("h1/f1", "h1/f2") for name in ("f1", "f2", "m1")]
    fig = isolation.dns_heatmap_figure(dns)
    assert titled(fig.axes[0])
    assert legend_labels(fig) == [c.label for c in palette.DNS_CATEGORIES]
    isolation.dns_heatmap(dns, tmp_path / "dns_heatmap.png")
    assert (tmp_path / "dns_heatmap.png").stat().st_size > 5_000


def test_palette_categories_have_distinct_colours():
    for categories in (palette.REACH_CATEGORIES, palette.DNS_CATEGORIES):
        assert len({c.color for c in categories}) == len(categories)
        assert len({c.code for c in categories}) == len(categories)


# -- truth tables -------------------------------------------------------------------

def test_truth_tables_carry_a_legend_and_tell_reached_from_no_difference():
    observed = truth_table(cells(), "icmp", "observed")
    diff = truth_table(cells(), "icmp", "diff")
    assert observed.splitlines()[-1].startswith("legend: '.' reached  'X' blocked")
    assert diff.splitlines()[-1].startswith("legend: '=' as Docker  '!' differs")
    rows = {line.split()[0]: line.split()[1:] for line in diff.splitlines()[1:-2]}
    assert rows["h1/d1"] == ["-", "!", "=", "=", "="]
    assert "." not in diff.split("columns:")[0]
    assert rows["h1/f1"][0] == "="


# -- the topology plot --------------------------------------------------------------

def network(net_id: str, name: str, driver: str = "bridge", subnet: str | None = None,
            **options: str) -> NetworkState:
    nets = (IPv4Network(subnet),) if subnet else ()
    return NetworkState(net_id, name, driver, "swarm" if driver == "overlay" else "local",
                        False, FrozenMap(options), nets, ())


def container(name: str, pid: int, mode: str, *endpoints: tuple[NetworkState, str]
              ) -> ContainerState:
    return ContainerState(name * 4, name, True, pid, mode, tuple(
        EndpointState(n.id, n.name, IPv4Interface(address), "02:42:00:00:00:01", None)
        for n, address in endpoints), None)


def lab_state() -> LabState:
    front = network("nf", "front", subnet="10.11.0.0/24")
    quiet = network("nq", "quiet", subnet="10.14.0.0/24",
                    **{"com.docker.network.bridge.enable_icc": "false"})
    ov = network("nov", "ov1", "overlay", "10.0.1.0/24")
    host_net, none_net = network("nh", "host", "host"), network("nn", "none", "null")
    h1 = HostState("h1", IPv4Address("192.0.2.11"), 11, FrozenMap(
        {n.id: n for n in (front, quiet, ov, host_net, none_net)}), (
        container("f1", 101, "front", (front, "10.11.0.2/24")),
        container("m1", 102, "front", (front, "10.11.0.3/24"), (quiet, "10.14.0.3/24")),
        container("o1a", 103, "ov1", (ov, "10.0.1.2/24")),
        container("x1", 104, "host"), container("n1", 105, "none")))
    h2 = HostState("h2", IPv4Address("192.0.2.12"), 12, FrozenMap({ov.id: ov}), (
        container("o1b", 201, "ov1", (ov, "10.0.1.3/24")),))
    return LabState((h1, h2), 3, IPv4Address("192.0.2.254"))


def test_topology_graph_links_hosts_networks_and_containers():
    pytest.importorskip("networkx")
    from emulator.experiments.topology_plot import CONTAINER, NETWORK, topology_graph

    graph = topology_graph(lab_state())
    networks = [n for n, d in graph.nodes(data=True) if d["kind"] is NETWORK]
    assert len(networks) == 3  # front, quiet on h1; the overlay once, on both hosts
    assert set(graph["nov"]) == {"h1", "h2", "h1/o1a", "h2/o1b"}
    assert set(graph["h1/m1"]) == {"h1:nf", "h1:nq"}
    assert graph.edges["h1/x1", "h1"]["style"] == "dashed"
    assert graph.degree["h1/n1"] == 0 and graph.nodes["h1/n1"]["kind"] is CONTAINER
    assert "ICC off" in graph.nodes["h1:nq"]["label"]


def test_topology_layout_puts_each_row_under_what_it_hangs_from():
    pytest.importorskip("networkx")
    from emulator.experiments.topology_plot import layered_positions, topology_graph

    at = layered_positions(topology_graph(lab_state()))
    assert at["underlay"][1] > at["h1"][1] > at["h1:nf"][1] > at["h1/f1"][1]
    h1_row = [n for n in at if n.startswith("h1/")]
    assert max(at[n][0] for n in h1_row) < at["h2/o1b"][0]  # containers grouped by host
    assert at["h1/n1"][0] == max(at[n][0] for n in h1_row)  # unattached: last of its host


def test_topology_figure_has_a_title_and_a_legend(tmp_path):
    pytest.importorskip("networkx")
    from emulator.experiments.topology_plot import KINDS, topology_figure, write_topology_plot

    fig = topology_figure(lab_state())
    assert fig.axes[0].get_title()
    assert [k.label for k in KINDS] == legend_labels(fig)[:len(KINDS)]
    write_topology_plot(lab_state(), tmp_path / "topology.png")
    assert (tmp_path / "topology.png").stat().st_size > 10_000


# -- macvlan-conflicts ----------------------------------------------------------------

def conflict_rows() -> tuple[list[dict], list[dict]]:
    summary = [{"mode": "promiscuous", "overlap": o, "injected": n, "detected": n,
                "first_detection_ms": None if n == 0 else 3.5,
                "last_detection_ms": None if n == 0 else 40.0}
               for o, n in ((0.0, 0), (0.25, 4), (0.5, 8), (1.0, 16))]
    summary.append({**summary[-1], "mode": "port-security"})
    rounds = [{"mode": "promiscuous", "overlap": o, "target": "conflicted", "round": r,
               "answered_by": "container:c1" if r % 2 else "lan-host:d1",
               "tcp_connected": o != 0.25 or r > 0}
              for o in (0.25, 0.5, 1.0) for r in range(4)]
    return summary, rounds


def bar_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_conflicts_figure_tells_zero_from_missing(tmp_path):
    from emulator.experiments import macvlan_conflicts

    summary, rounds = conflict_rows()
    fig = macvlan_conflicts.conflicts_figure(summary, rounds)
    counts, times, impact = fig.axes
    assert all(titled(ax) for ax in fig.axes)
    assert "ms" in times.get_ylabel()
    assert bar_texts(counts)[:4] == ["0", "4", "8", "16"]  # zero injected, written as 0
    assert macvlan_conflicts.NO_DATA not in bar_texts(counts)
    # Nothing to detect at 0 %: both times and both fractions are missing, not 0.
    assert bar_texts(times).count(macvlan_conflicts.NO_DATA) == 2
    assert bar_texts(times)[:4] == ["", "3.5", "3.5", "3.5"]
    assert bar_texts(impact)[:4] == ["", "0.25", "0.00", "0.00"]
    assert bar_texts(impact).count(macvlan_conflicts.NO_DATA) == 2
    assert [t.get_text() for t in impact.get_legend().get_texts()] == [
        "TCP connections failed", "ARP answered by the container"]
    fig.savefig(tmp_path / "conflicts.png")
    assert (tmp_path / "conflicts.png").stat().st_size > 10_000
