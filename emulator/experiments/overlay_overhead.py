"""The `overlay-overhead` experiment: what VXLAN encapsulation costs, byte by byte and in speed.

For an IPv4 and an IPv6 underlay (VTEPs of that family: the swarm's advertised
addresses), each with an MTU of 1500 and of 9000: two Docker hosts in a swarm, an
overlay with the MTU Docker would give it (underlay - 50, whatever the family, as
Docker 25+ does), containers on h1 and h2, and two containers on one bridge for
comparison. From captures: bytes on the wire per packet for overlay and bridge across
payload sizes (the difference must be exactly 50 over IPv4 and 70 over IPv6), the
container MTU found by don't-fragment probing (the configured one over IPv4; over
IPv6 the 20 bytes Docker does not count make the path smaller than the interface),
the fate of a packet that does not fit, and goodput efficiency against payload size.
Then iperf3 and Scapy (probe engine) side by side, repeated for 95 % intervals: TCP
throughput, 64-byte UDP packet rate, round-trip time and receiver CPU, for overlay,
same-host bridge, cross-host plain L2 (macvlan on the underlay) and host networking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from ipaddress import IPv4Address

from emulator.experiments import overlay_wire as wire
from emulator.experiments import palette
from emulator.experiments.nsproc import iperf3
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext, checks_table_md
from emulator.experiments.stats import Estimate, estimate, positive_interval, ratio
from emulator.lab import Lab
from emulator.probes import datagrams
from emulator.probes.capture import Capture
from emulator.probes.engine import ProbeEngine
from emulator.probes.model import ProbeTarget, Verdict
from emulator.probes.pcap import LINKTYPE_ETHERNET, write_pcap
from emulator.swarm.cluster import MANAGER_PORT, host_port
from emulator.topology import topology_from_data

UNDERLAY_MTUS = (1500, 9000)
FAMILIES = ("ipv4", "ipv6")
UNDERLAYS = tuple((family, mtu) for family in FAMILIES for mtu in UNDERLAY_MTUS)
OUTER_IP = {"ipv4": datagrams.IPV4, "ipv6": wire.IPV6}
WIRE_OVERHEAD = {family: wire.outer_overhead(ip) for family, ip in OUTER_IP.items()}
"""Outer Ethernet + IP + UDP + VXLAN headers: 50 bytes over IPv4, 70 over IPv6."""
HEADER_OVERHEAD = WIRE_OVERHEAD["ipv4"]
DOCKER_ENCAP = 50
"""What Docker subtracts from the underlay MTU for an overlay, over IPv4 and IPv6 alike
(libnetwork drivers/overlay: vxlanEncap = 50)."""
UNDERLAY6 = "2001:db8::/64"
MTU_OPTION = "com.docker.network.driver.mtu"
REPEATS = 5
SECONDS = 1
RTT_PROBES = 20


def payloads(overlay_mtu: int, path_mtu: int | None = None) -> list[int]:
    """UDP payloads from 18 bytes to the largest the overlay's MTU allows; with a
    smaller path MTU (an IPv6 underlay), also the largest that fits the path and one more."""
    top = overlay_mtu - datagrams.IPV4 - datagrams.UDP
    sizes = [s for s in (18, 64, 128, 256, 512, 1024, 1400, 2048, 4096, 8192) if s < top]
    if path_mtu is not None and path_mtu < overlay_mtu:
        fits = path_mtu - datagrams.IPV4 - datagrams.UDP
        sizes = sorted({*sizes, fits, fits + 1})
    return [*sizes, top]


def path_mtu(family: str, underlay_mtu: int) -> int:
    """The largest inner IP packet whose VXLAN packet fits the underlay: what the MTU
    would be if Docker counted the outer IP header's real size."""
    return underlay_mtu - WIRE_OVERHEAD[family]


@dataclass
class Setup:
    lab: Lab
    family: str
    underlay_mtu: int
    overlay_mtu: int
    vni: int
    ov_a: object
    ov_b: object
    br_a: object
    br_b: object


def underlay_topology(name: str, family: str, mtu: int) -> dict:
    """Two hosts on an underlay of `mtu`; for ipv6, dual stack, advertising IPv6 to the
    swarm, so the overlay's VTEPs (and its tunnels' outer headers) are IPv6."""
    underlay: dict[str, object] = {"mtu": mtu}
    if family == "ipv6":
        underlay.update(subnet6=UNDERLAY6, advertise="ipv6")
    return {"name": name, "underlay": underlay, "hosts": {"h1": {}, "h2": {}}}


def _lab(ctx: RunContext, family: str, mtu: int, index: int) -> Lab:
    return Lab(topology_from_data(underlay_topology(f"oo{ctx.run_id[-4:]}{index}", family,
                                                    mtu)))


def _setup(lab: Lab, family: str, underlay_mtu: int) -> Setup:
    h1, h2 = lab.host("h1"), lab.host("h2")
    h1.engine.swarm_init()
    token = h1.engine.swarm_join_token("worker")
    manager = h1.address6 if family == "ipv6" else h1.address
    h2.engine.swarm_join([host_port(manager, MANAGER_PORT)], token)
    overlay_mtu = underlay_mtu - DOCKER_ENCAP
    options = {} if overlay_mtu == 1450 else {MTU_OPTION: str(overlay_mtu)}
    ov = h1.networks.create("ov", "overlay", attachable=True, options=options)
    h1.networks.create("br", "bridge", options={MTU_OPTION: str(underlay_mtu)})
    setup = Setup(lab, family, underlay_mtu, overlay_mtu, int(ov.inspect()["Options"][
        "com.docker.network.driver.overlay.vxlanid_list"]),
        h1.containers.run("ova", "ov"), h2.containers.run("ovb", "ov"),
        h1.containers.run("bra", "br"), h1.containers.run("brb", "br"))
    for a, b in ((setup.ov_a, setup.ov_b), (setup.br_a, setup.br_b)):
        a.exec(["ping", "-c", "1", "-W", "2", str(b.ip())])
    return setup


def _endpoint(container) -> datagrams.Endpoint:
    return datagrams.Endpoint(container.pid, str(container.ip()))


def measure_sizes(setup: Setup, underlay_mtu: int, ctx: RunContext) -> list[dict]:
    """Per payload: the bridge frame, the overlay's inner and outer frames, captured."""
    rows = []
    h1 = setup.lab.node_pid("h1")
    ov = datagrams.Sender(_endpoint(setup.ov_a), _endpoint(setup.ov_b))
    br = datagrams.Sender(_endpoint(setup.br_a), _endpoint(setup.br_b))
    sizes = payloads(setup.overlay_mtu, path_mtu(setup.family, underlay_mtu))
    with Capture(setup.ov_a.pid, "eth0") as inner, Capture(h1, "eth0") as outer, \
            Capture(setup.br_a.pid, "eth0") as bridge:
        for payload in sizes:
            for cap in (inner, outer, bridge):
                cap.clear()
            ov_outcome, _ = ov.send(payload, dont_fragment=True)
            br_outcome, _ = br.send(payload, dont_fragment=True)
            inner_f = [f for f in wire.frames_after(inner)
                       if f.outgoing and wire.udp_dport(f.data) == datagrams.PORT]
            outer_f = [f for f in outer.drain()
                       if f.outgoing and wire.udp_dport(f.data) == wire.VXLAN_PORT]
            bridge_f = [f for f in bridge.drain()
                        if f.outgoing and wire.udp_dport(f.data) == datagrams.PORT]
            if payload == sizes[1] and outer_f:
                write_pcap(ctx.path(pcap_name(setup.family, underlay_mtu)),
                           [(f.at, f.data) for f in outer_f[:1]], LINKTYPE_ETHERNET)
            row = {
                "underlay": setup.family, "underlay_mtu": underlay_mtu, "payload": payload,
                "bridge_frame": len(bridge_f[0].data) if bridge_f else None,
                "overlay_inner_frame": len(inner_f[0].data) if inner_f else None,
                "overlay_wire_frame": len(outer_f[0].data) if outer_f else None,
                "outer_ip": wire.ip_version(outer_f[0].data) if outer_f else None,
                "vni": wire.vni_of(outer_f[0].data) if outer_f else None,
                "overlay_delivered": ov_outcome == "delivered",
                "overlay_outcome": ov_outcome,
                "bridge_delivered": br_outcome == "delivered",
            }
            if row["bridge_frame"] and row["overlay_wire_frame"]:
                row["overhead"] = row["overlay_wire_frame"] - row["bridge_frame"]
                row["efficiency_bridge"] = payload / row["bridge_frame"]
                row["efficiency_overlay"] = payload / row["overlay_wire_frame"]
            else:
                row.update(overhead=None, efficiency_bridge=None, efficiency_overlay=None)
            rows.append(row)
    ov.close()
    br.close()
    return rows


def pcap_name(family: str, underlay_mtu: int) -> str:
    """vxlan-mtu1500.pcap (IPv4 underlay, the name it always had), vxlan-ipv6-mtu1500.pcap."""
    return f"vxlan-mtu{underlay_mtu}.pcap" if family == "ipv4" else \
        f"vxlan-{family}-mtu{underlay_mtu}.pcap"


def measure_mtu_and_oversize(setup: Setup, underlay_mtu: int) -> tuple[dict, list[dict]]:
    """The MTU found by DF probing, then the fate of packets one byte too big."""
    h1 = setup.lab.node_pid("h1")
    fates = []
    if path_mtu(setup.family, underlay_mtu) < setup.overlay_mtu:
        fates += _beyond_the_path(setup, underlay_mtu)
    sender = datagrams.Sender(_endpoint(setup.ov_a), _endpoint(setup.ov_b))
    found = datagrams.find_mtu(sender, high=underlay_mtu)
    mtu_row = {"underlay": setup.family, "underlay_mtu": underlay_mtu,
               "configured_mtu": setup.overlay_mtu,
               "path_mtu": path_mtu(setup.family, underlay_mtu), "found_mtu": found}
    too_big = setup.overlay_mtu - datagrams.IPV4 - datagrams.UDP + 1
    with Capture(h1, "eth0") as outer, Capture(setup.ov_a.pid, "eth0") as inner:
        for df in (True, False):
            outer.clear()
            inner.clear()
            outcome, received = sender.send(too_big, dont_fragment=df)
            wire_frames = [f for f in wire.frames_after(outer) if f.outgoing and (
                wire.udp_dport(f.data) == wire.VXLAN_PORT or wire.is_fragment(f.data))]
            inner_frames = [f for f in inner.drain() if f.outgoing and (
                wire.udp_dport(f.data) == datagrams.PORT or wire.is_fragment(f.data))]
            fates.append({
                "underlay": setup.family, "underlay_mtu": underlay_mtu,
                "case": "container MTU as configured",
                "payload": too_big, "dont_fragment": df, "outcome": outcome,
                "bytes_received": received, "inner_packets": len(inner_frames),
                "wire_frames": len(wire_frames),
                "wire_frame_sizes": " ".join(str(len(f.data)) for f in wire_frames),
                "icmp_frag_needed_mtu": None,
            })
    sender.close()
    fates.append(_misconfigured(setup, underlay_mtu))
    return mtu_row, fates


BEYOND_PATH = "fits the configured MTU, not the path"


def _beyond_the_path(setup: Setup, underlay_mtu: int) -> list[dict]:
    """An IPv6 underlay: the largest datagram Docker's MTU allows is 20 bytes too big
    for the path. Sent from a fresh container (no path MTU learnt yet) twice without
    don't-fragment, then with it, then both again once the sender has heard of the
    path MTU."""
    lab = setup.lab
    a = lab.host("h1").containers.run("fita", "ov")
    b = setup.ov_b
    a.exec(["ping", "-c", "1", "-W", "2", str(b.ip())])
    sender = datagrams.Sender(_endpoint(a), _endpoint(b))
    payload = setup.overlay_mtu - datagrams.IPV4 - datagrams.UDP
    fates = []
    with Capture(lab.node_pid("h1"), "eth0") as outer, Capture(a.pid, "eth0") as inner:
        for step, df in enumerate((False, False, True, True, False)):
            outer.clear()
            inner.clear()
            outcome, received = sender.send(payload, dont_fragment=df, wait=0.5)
            wire_frames = [f for f in wire.frames_after(outer) if f.outgoing and (
                wire.udp_dport(f.data) == wire.VXLAN_PORT or wire.is_fragment(f.data))]
            frames = inner.drain()
            sent = [f for f in frames if f.outgoing and (
                wire.udp_dport(f.data) == datagrams.PORT or wire.is_fragment(f.data))]
            icmp = [m for f in frames if not f.outgoing and (m := wire.is_frag_needed(f.data))]
            fates.append({
                "underlay": setup.family, "underlay_mtu": underlay_mtu,
                "case": BEYOND_PATH + (" (sent again)" if step in (1, 3, 4) else ""),
                "payload": payload, "dont_fragment": df, "outcome": outcome,
                "bytes_received": received, "inner_packets": len(sent),
                "wire_frames": len(wire_frames),
                "wire_frame_sizes": " ".join(str(len(f.data)) for f in wire_frames),
                "icmp_frag_needed_mtu": icmp[0] if icmp else None,
            })
    sender.close()
    a.remove(force=True)
    return fates


def _misconfigured(setup: Setup, underlay_mtu: int) -> dict:
    """An overlay whose MTU ignores the 50 bytes: a full-size DF packet no longer fits."""
    lab = setup.lab
    h1, h2 = lab.host("h1"), lab.host("h2")
    h1.networks.create("big", "overlay", attachable=True,
                       options={MTU_OPTION: str(underlay_mtu)})
    a, b = h1.containers.run("biga", "big"), h2.containers.run("bigb", "big")
    a.exec(["ping", "-c", "1", "-W", "2", str(b.ip())])
    sender = datagrams.Sender(_endpoint(a), _endpoint(b))
    payload = underlay_mtu - datagrams.IPV4 - datagrams.UDP
    with Capture(lab.node_pid("h1"), "eth0") as outer, Capture(a.pid, "eth0") as inner:
        outcome, received = sender.send(payload, dont_fragment=True, wait=0.5)
        frames = wire.frames_after(outer)
        back = wire.frames_after(inner)
        again, _ = sender.send(payload, dont_fragment=True, wait=0.5)
    sender.close()
    icmp = [m for f in back if not f.outgoing and (m := wire.is_frag_needed(f.data))]
    wire_frames = [f for f in frames if f.outgoing and (
        wire.udp_dport(f.data) == wire.VXLAN_PORT or wire.is_fragment(f.data))]
    for container in (a, b):
        container.remove(force=True)
    h1.networks.remove("big")
    return {"underlay": setup.family, "underlay_mtu": underlay_mtu,
            "case": f"overlay MTU set to {underlay_mtu}",
            "payload": payload, "dont_fragment": True,
            "outcome": f"{outcome}; then {again}", "bytes_received": received,
            "inner_packets": 1, "wire_frames": len(wire_frames),
            "wire_frame_sizes": " ".join(str(len(f.data)) for f in wire_frames),
            "icmp_frag_needed_mtu": icmp[0] if icmp else None}


# -- cost -----------------------------------------------------------------------


def _paths(lab: Lab, setup: Setup) -> dict[str, tuple[int, int, str]]:
    """(receiver pid, sender pid, receiver address) per path compared."""
    h1, h2 = lab.host("h1"), lab.host("h2")
    for host, ip_range in ((h1, "192.0.2.128/28"), (h2, "192.0.2.144/28")):
        host.networks.create("l2", "macvlan", subnet=str(lab.topology.underlay.subnet),
                             gateway=str(lab.outside_address), ip_range=ip_range,
                             options={"parent": "eth0"})
    l2a, l2b = h1.containers.run("l2a", "l2"), h2.containers.run("l2b", "l2")
    return {
        "overlay (cross-host)": (setup.ov_b.pid, setup.ov_a.pid, str(setup.ov_b.ip())),
        "bridge (same host)": (setup.br_b.pid, setup.br_a.pid, str(setup.br_b.ip())),
        "plain L2 (cross-host macvlan)": (l2b.pid, l2a.pid, str(l2b.ip())),
        "host networking (cross-host)": (lab.node_pid("h2"), lab.node_pid("h1"),
                                         str(h2.address)),
    }


def measure_cost(lab: Lab, setup: Setup, ctx: RunContext) -> list[dict]:
    rows = []
    engine = ProbeEngine(window=0.05)
    env = lab.process_env
    for path, (server, client, address) in _paths(lab, setup).items():
        ctx.progress(f"cost: {path}")
        for repeat in range(REPEATS):
            tcp = iperf3(server, client, address, SECONDS, env)
            udp = iperf3(server, client, address, SECONDS, env, udp_length=64)
            rtts = []
            for _ in range(RTT_PROBES):
                result = engine.run([ProbeTarget("src", client, None)],
                                    [ProbeTarget("dst", server, IPv4Address(address))],
                                    ["icmp"])[0]
                if result.verdict == Verdict.REACHED and result.rtt_ms is not None:
                    rtts.append(result.rtt_ms)
            udp_sum = udp["end"]["sum"]
            received = udp_sum["packets"] - udp_sum.get("lost_packets", 0)
            rows.append({
                "path": path, "repeat": repeat,
                "tcp_gbps": tcp["end"]["sum_received"]["bits_per_second"] / 1e9,
                "udp64_kpps": received / udp_sum["seconds"] / 1e3,
                "rtt_ms": sum(rtts) / len(rtts) if rtts else None,
                "receiver_cpu_percent": tcp["end"]["cpu_utilization_percent"]["remote_total"],
            })
    return rows


def summarize_cost(rows: list[dict]) -> dict[str, dict[str, Estimate]]:
    summary: dict[str, dict[str, Estimate]] = {}
    for path in dict.fromkeys(r["path"] for r in rows):
        mine = [r for r in rows if r["path"] == path]
        summary[path] = {metric: estimate([r[metric] for r in mine if r[metric] is not None])
                         for metric in ("tcp_gbps", "udp64_kpps", "rtt_ms",
                                        "receiver_cpu_percent")}
    return summary


# -- outputs --------------------------------------------------------------------


COST_METRICS = (("tcp_gbps", "TCP throughput", "Gbit/s"),
                ("udp64_kpps", "64 B UDP rate", "kpackets/s"),
                ("rtt_ms", "round-trip time", "ms"),
                ("receiver_cpu_percent", "receiver CPU", "%"))


def overlay_figure(sizes: list[dict], cost: dict[str, dict[str, Estimate]]):
    """Goodput efficiency against payload (both underlay MTUs), and each path's cost
    relative to the last path's, with 95 % intervals that stay above zero."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 5))
    axes = fig.subplots(1, 2)
    # The two MTUs give the same efficiency up to 1500 bytes: MTU 1500 is drawn small,
    # filled and on top, MTU 9000 large and hollow around it, so both stay visible.
    looks = {1500: {"color": palette.BLUE, "ls": "-", "ms": 5, "zorder": 3},
             9000: {"color": palette.ORANGE, "ls": "--", "ms": 10, "zorder": 2,
                    "markerfacecolor": "none", "markeredgewidth": 1.5}}
    theory_x: set[int] = set()
    for mtu in UNDERLAY_MTUS:
        rows = [r for r in sizes if r["underlay_mtu"] == mtu and r["overhead"] is not None
                and r.get("underlay", "ipv4") == "ipv4"]
        x = [r["payload"] for r in rows]
        theory_x.update(x)
        look = looks.get(mtu, {"color": palette.BLUISH_GREEN, "ls": ":", "ms": 7})
        axes[0].plot(x, [r["efficiency_overlay"] for r in rows], marker="o", lw=1.2,
                     label=f"overlay, measured (underlay MTU {mtu})", **look)
        axes[0].plot(x, [r["efficiency_bridge"] for r in rows], marker="s", lw=0.8,
                     alpha=0.8, label=f"bridge, measured (MTU {mtu})", **look)
    v6 = [r for r in sizes if r.get("underlay") == "ipv6" and r["underlay_mtu"] == 1500
          and r["overhead"] is not None]
    if v6:
        axes[0].plot([r["payload"] for r in v6], [r["efficiency_overlay"] for r in v6],
                     marker="^", lw=1.0, ls="-.", color=palette.BLUISH_GREEN, ms=6, zorder=3,
                     label="overlay over an IPv6 underlay, measured (MTU 1500)")
    if theory_x:
        xs = sorted(theory_x)
        axes[0].plot(xs, [p / (p + 42 + HEADER_OVERHEAD) for p in xs], color=palette.BLACK,
                     lw=0.8, ls=":", zorder=4, label="overlay, theory P/(P+92) (any MTU)")
        if v6:
            six = WIRE_OVERHEAD["ipv6"]
            axes[0].plot(xs, [p / (p + 42 + six) for p in xs], color=palette.BLACK,
                         lw=0.8, ls="--", zorder=4,
                         label=f"overlay over IPv6, theory P/(P+{42 + six})")
    axes[0].set(xscale="log", xlabel="UDP payload P (bytes, log scale)",
                ylabel="goodput efficiency (payload / frame bytes)", ylim=(0, 1.03),
                title="Goodput efficiency: theory and measurement")
    axes[0].grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    paths = list(cost)
    if paths:
        base_path = paths[-1]
        base = cost[base_path]
        width = 0.8 / len(paths)
        for i, path in enumerate(paths):
            values, below, above = [], [], []
            for metric, _, _ in COST_METRICS:
                scale = base[metric].mean
                if not scale or math.isnan(scale):
                    values.append(math.nan)
                    below.append(0.0)
                    above.append(0.0)
                    continue
                low, high = positive_interval(cost[path][metric])
                value = cost[path][metric].mean / scale
                values.append(value)
                below.append(value - low / scale if not math.isnan(low) else 0.0)
                above.append(high / scale - value if math.isfinite(high) else 0.0)
            offset = (i - (len(paths) - 1) / 2) * width
            axes[1].bar([j + offset for j in range(len(COST_METRICS))], values, width,
                        yerr=[below, above], capsize=3, label=path,
                        color=palette.SERIES[i % len(palette.SERIES)],
                        hatch=("", "//", "..", "xx")[i % 4], edgecolor=palette.BLACK, lw=0.5)
        axes[1].axhline(1.0, color=palette.BLACK, lw=0.8, ls=":")
        axes[1].set_xticks(range(len(COST_METRICS)),
                           [f"{label}\n({base_path.split()[0]}: {base[m].mean:.3g} {unit})"
                            for m, label, unit in COST_METRICS], fontsize=8)
        axes[1].set(ylabel=f"ratio to {base_path}\n(1 = same; 95 % CI on the log scale)",
                    xlabel="metric (TCP, UDP: higher is better; RTT, CPU: lower is better)",
                    title="Cost side by side, relative to host networking")
        axes[1].set_ylim(bottom=0)
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _plots(ctx: RunContext, sizes: list[dict], cost: dict[str, dict[str, Estimate]]) -> None:
    overlay_figure(sizes, cost).savefig(ctx.path("overlay_overhead.png"), dpi=110)


def summary_headline(sizes: list[dict], mtus: list[dict],
                     cost: dict[str, dict[str, Estimate]]) -> str:
    """One line: the overhead in bytes (one number per underlay when every size agrees),
    the MTUs found, and the overlay's speed next to host networking's."""
    parts = []
    families = list(dict.fromkeys(r.get("underlay", "ipv4") for r in sizes)) or ["ipv4"]
    for family in families:
        mine = [r for r in sizes if r.get("underlay", "ipv4") == family]
        overheads = sorted({r["overhead"] for r in mine if r["overhead"] is not None})
        missing = sum(1 for r in mine if r["overhead"] is None and r["payload"] <= path_mtu(
            family, r["underlay_mtu"]) - datagrams.IPV4 - datagrams.UDP)
        text = (f"overhead {', '.join(map(str, overheads)) or 'not measured'} bytes per packet"
                + (f" over {_family_name(family)}" if len(families) > 1 else "")
                + (f" ({missing} sizes not captured)" if missing else ""))
        found = [r for r in mtus if r.get("underlay", "ipv4") == family]
        text += f"; MTU found {', '.join(str(r['found_mtu']) for r in found)}"
        parts.append(text)
    ov, host = cost["overlay (cross-host)"], cost["host networking (cross-host)"]
    return ("; ".join(parts) + f"; overlay TCP {ov['tcp_gbps']} Gbit/s vs host "
            f"{host['tcp_gbps']}; 64 B UDP {ov['udp64_kpps']} vs {host['udp64_kpps']} kpps")


def _family_name(family: str) -> str:
    return {"ipv4": "IPv4", "ipv6": "IPv6"}[family]


def _checks(sizes, mtus, fates) -> list[Check]:
    checks = []
    for family, mtu in UNDERLAYS:
        rows = [r for r in sizes if r["underlay_mtu"] == mtu and r["underlay"] == family]
        if not rows:
            continue
        where = f"{_family_name(family)} MTU {mtu}"
        expected = WIRE_OVERHEAD[family]
        fitting = path_mtu(family, mtu) - datagrams.IPV4 - datagrams.UDP
        overheads = sorted({r["overhead"] for r in rows if r["payload"] <= fitting},
                           key=lambda o: (o is None, o or 0))
        checks.append(Check(where, "wire bytes, overlay minus bridge, every payload that fits",
                            f"{expected}", ", ".join(map(str, overheads)),
                            overheads == [expected]))
        outer = sorted({r["outer_ip"] for r in rows if r["outer_ip"] is not None})
        checks.append(Check(where, "outer IP version of the captured VXLAN frames",
                            family[-1], ", ".join(map(str, outer)), outer == [int(family[-1])]))
        delivered = all(r["overlay_delivered"] and r["bridge_delivered"]
                        for r in rows if r["payload"] <= fitting)
        checks.append(Check(where, "every datagram up to the path MTU delivered (DF set)",
                            "all", "all" if delivered else "some lost", delivered))
        beyond = [r for r in rows if r["payload"] > fitting]
        if beyond:
            lost = all(not r["overlay_delivered"] for r in beyond)
            checks.append(Check(where, "DF datagrams over the path MTU, within the "
                                "configured MTU", "not delivered",
                                "none delivered" if lost else "some delivered", lost))
        vnis = sorted({r["vni"] for r in rows if r["vni"] is not None})
        checks.append(Check(where, "VNI in the captured VXLAN headers", "one VNI",
                            ", ".join(map(str, vnis)), len(vnis) == 1))
    for row in mtus:
        where = f"{_family_name(row['underlay'])} MTU {row['underlay_mtu']}"
        expected = min(row["configured_mtu"], row["path_mtu"])
        note = "" if expected == row["configured_mtu"] else \
            f" (configured {row['configured_mtu']})"
        checks.append(Check(where, "container MTU by DF probing", f"{expected}{note}",
                            str(row["found_mtu"]), row["found_mtu"] == expected))
    for fate in fates:
        where = f"{_family_name(fate['underlay'])} MTU {fate['underlay_mtu']}"
        if fate["case"] == "container MTU as configured" and fate["dont_fragment"]:
            ok = fate["outcome"].startswith("refused") and fate["wire_frames"] == 0
            checks.append(Check(where, "one byte too big, DF",
                                "refused by the sender, nothing on the wire",
                                f"{fate['outcome']}, {fate['wire_frames']} frames", ok))
        elif fate["case"] == "container MTU as configured":
            ok = fate["outcome"] == "delivered" and fate["inner_packets"] == 2
            checks.append(Check(where, "one byte too big, no DF",
                                "fragmented by the sender into 2, delivered",
                                f"{fate['outcome']}, {fate['inner_packets']} fragments", ok))
        elif fate["case"] == BEYOND_PATH and fate["dont_fragment"]:
            path = path_mtu(fate["underlay"], fate["underlay_mtu"])
            ok = fate["outcome"] == "lost" and fate["icmp_frag_needed_mtu"] == path
            checks.append(Check(where, "fits the configured MTU, not the path; DF",
                                f"dropped at the VXLAN device, ICMP frag-needed MTU {path}",
                                f"{fate['outcome']}, ICMP MTU {fate['icmp_frag_needed_mtu']}",
                                ok))
    return checks


def _black_hole_note(fates: list[dict]) -> list[str]:
    """A sentence for each underlay where a packet between the path MTU and Docker's MTU
    vanished without don't-fragment: nothing on the wire, no ICMP to the sender."""
    silent = [f for f in fates if f["case"].startswith(BEYOND_PATH) and not f["dont_fragment"]
              and f["outcome"] == "lost" and f["wire_frames"] == 0
              and not f["icmp_frag_needed_mtu"]]
    mtus = sorted({f["underlay_mtu"] for f in silent})
    if not mtus:
        return []
    return ["", f"Without don't-fragment (underlay MTU {', '.join(map(str, mtus))}), such a "
            "packet went nowhere: it left the container, nothing reached the wire and no "
            "ICMP came back, for as long as the sender had not learnt the path MTU from a "
            "don't-fragment packet."]


def _summary_md(outcome, sizes, mtus, fates, cost) -> str:
    lines = ["# overlay-overhead", "", outcome.headline, "",
             "## Overhead by underlay (captured)", "",
             "| underlay | MTU | outer headers on the wire | overhead captured | Docker's "
             "overlay MTU | path MTU (DF probing) |", "|---|---|---|---|---|---|"]
    for family, mtu in UNDERLAYS:
        mine = [r for r in sizes if r["underlay"] == family and r["underlay_mtu"] == mtu]
        found = [r for r in mtus if r["underlay"] == family and r["underlay_mtu"] == mtu]
        if not mine or not found:
            continue
        overheads = sorted({r["overhead"] for r in mine if r["overhead"] is not None})
        ip = OUTER_IP[family]
        lines.append(f"| {_family_name(family)} | {mtu} | 14 Ethernet + {ip} "
                     f"{_family_name(family)} + 8 UDP + 8 VXLAN = {WIRE_OVERHEAD[family]} | "
                     f"{', '.join(map(str, overheads))} | {found[0]['configured_mtu']} | "
                     f"{found[0]['found_mtu']} |")
    lines += ["", "Docker subtracts 50 bytes from the underlay MTU over IPv4 and IPv6 alike, "
              "so over IPv6 the largest inner packet that crosses without fragmentation is 20 "
              "bytes smaller than the overlay interface's MTU: the kernel's VXLAN device "
              "drops a larger one that has DF set and answers with ICMP "
              "'fragmentation needed' carrying the path MTU (see the table below).",
              *_black_hole_note(fates), "",
              "## Bytes on the wire per UDP datagram (captured)", "",
              "| underlay | MTU | payload | bridge frame | overlay inner | overlay on the wire "
              "| overhead | efficiency bridge | efficiency overlay | overlay (DF) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sizes:
        eff_b = f"{r['efficiency_bridge']:.3f}" if r["efficiency_bridge"] else "n/a"
        eff_o = f"{r['efficiency_overlay']:.3f}" if r["efficiency_overlay"] else "n/a"
        lines.append(f"| {_family_name(r['underlay'])} | {r['underlay_mtu']} | "
                     f"{r['payload']} | {r['bridge_frame']} | "
                     f"{r['overlay_inner_frame']} | {r['overlay_wire_frame']} | "
                     f"{r['overhead']} | {eff_b} | {eff_o} | {r['overlay_outcome']} |")
    lines += ["", "## MTU found by don't-fragment probing", "",
              "| underlay | MTU | configured (Docker) | path (underlay - outer headers) | "
              "found |", "|---|---|---|---|---|"]
    lines += [f"| {_family_name(r['underlay'])} | {r['underlay_mtu']} | "
              f"{r['configured_mtu']} | {r['path_mtu']} | {r['found_mtu']} |" for r in mtus]
    lines += ["", "## A packet that does not fit", "",
              "| underlay | MTU | case | payload | DF | what happened | packets leaving the "
              "container | VXLAN frames on the wire | ICMP frag-needed MTU |",
              "|---|---|---|---|---|---|---|---|---|"]
    for f in fates:
        sizes_note = f" ({f['wire_frame_sizes']} B)" if f.get("wire_frame_sizes") else ""
        lines.append(f"| {_family_name(f['underlay'])} | {f['underlay_mtu']} | {f['case']} | "
                     f"{f['payload']} | {'yes' if f['dont_fragment'] else 'no'} | "
                     f"{f['outcome']} | {f['inner_packets']} | {f['wire_frames']}{sizes_note} | "
                     f"{f['icmp_frag_needed_mtu'] or '-'} |")
    lines += ["", f"## Cost (IPv4 underlay, MTU 1500; mean ± 95 % CI over {REPEATS} runs of "
              f"{SECONDS} s)", "",
              "| path | TCP Gbit/s | 64 B UDP kpps | RTT ms (probe engine) | receiver CPU % |",
              "|---|---|---|---|---|"]
    for path, m in cost.items():
        lines.append(f"| {path} | {m['tcp_gbps']} | {m['udp64_kpps']} | {m['rtt_ms']} | "
                     f"{m['receiver_cpu_percent']} |")
    base = cost.get("overlay (cross-host)")
    if base:
        lines += ["", "Overlay relative to each other path (ratio of means, 95 % CI by the delta "
                  "method):", "", "| overlay vs | TCP | 64 B UDP | RTT | receiver CPU |",
                  "|---|---|---|---|---|"]
        for path, m in cost.items():
            if path == "overlay (cross-host)":
                continue
            cells = [str(ratio(base[k], m[k])) for k in
                     ("tcp_gbps", "udp64_kpps", "rtt_ms", "receiver_cpu_percent")]
            lines.append(f"| {path} | " + " | ".join(cells) + " |")
    pcaps = ", ".join(f"`{pcap_name(family, mtu)}`" for family, mtu in UNDERLAYS)
    lines += ["", "All paths share one kernel and two CPU cores: the figures compare paths "
              "with each other, not with hardware.", "",
              "Files: `sizes.csv`, `mtu.csv`, `oversize.csv`, `cost.csv`, "
              f"`overlay_overhead.png`, {pcaps}.", ""]
    return "\n".join(lines) + "\n" + checks_table_md(outcome.checks)


@register("overlay-overhead",
          "VXLAN overlay vs bridge over IPv4 and IPv6 underlays: bytes per packet, MTU, "
          "oversize fate, speed (iperf3)")
def run(ctx: RunContext) -> Outcome:
    ctx.params.update({"underlays": [f"{family}/{mtu}" for family, mtu in UNDERLAYS],
                       "underlay6": UNDERLAY6, "repeats": REPEATS,
                       "seconds": SECONDS, "rtt_probes": RTT_PROBES})
    sizes, mtus, fates, cost_rows = [], [], [], []
    for index, (family, mtu) in enumerate(UNDERLAYS):
        ctx.progress(f"{_family_name(family)} underlay, MTU {mtu}: swarm of h1 (manager) and "
                     "h2, overlay and bridge")
        with _lab(ctx, family, mtu, index) as lab:
            setup = _setup(lab, family, mtu)
            sizes += measure_sizes(setup, mtu, ctx)
            mtu_row, fate_rows = measure_mtu_and_oversize(setup, mtu)
            mtus.append(mtu_row)
            fates += fate_rows
            if (family, mtu) == ("ipv4", 1500):
                cost_rows = measure_cost(lab, setup, ctx)
    cost = summarize_cost(cost_rows)
    for name, rows in (("sizes.csv", sizes), ("mtu.csv", mtus), ("oversize.csv", fates),
                       ("cost.csv", cost_rows)):
        ctx.write_rows(name, rows)
    _plots(ctx, sizes, cost)
    checks = _checks(sizes, mtus, fates)
    ctx.write_checks(checks)
    ok = all(c.ok for c in checks)
    headline = summary_headline(sizes, mtus, cost)
    figures = {f"{path}: {metric}": round(value.mean, 4)
               for path, metrics in cost.items() for metric, value in metrics.items()}
    outcome = Outcome(ok, headline, checks, figures)
    ctx.finish(outcome, _summary_md(outcome, sizes, mtus, fates, cost))
    return outcome
