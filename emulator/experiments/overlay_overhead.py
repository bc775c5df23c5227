"""The `overlay-overhead` experiment: what VXLAN encapsulation costs, byte by byte and in speed.

For an underlay MTU of 1500 and of 9000: two Docker hosts in a swarm, an overlay with
the MTU Docker would give it (underlay - 50), containers on h1 and h2, and two
containers on one bridge for comparison. From captures: bytes on the wire per packet
for overlay and bridge across payload sizes (the difference must be exactly 50), the
container MTU found by don't-fragment probing (must equal the configured one), the
fate of a packet that does not fit, and goodput efficiency against payload size.
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
from emulator.topology import topology_from_data

UNDERLAY_MTUS = (1500, 9000)
HEADER_OVERHEAD = wire.ETH + datagrams.IPV4 + datagrams.UDP + wire.VXLAN  # outer headers: 50
MTU_OPTION = "com.docker.network.driver.mtu"
REPEATS = 5
SECONDS = 1
RTT_PROBES = 20


def payloads(overlay_mtu: int) -> list[int]:
    top = overlay_mtu - datagrams.IPV4 - datagrams.UDP
    sizes = [s for s in (18, 64, 128, 256, 512, 1024, 1400, 2048, 4096, 8192) if s < top]
    return [*sizes, top]


@dataclass
class Setup:
    lab: Lab
    overlay_mtu: int
    vni: int
    ov_a: object
    ov_b: object
    br_a: object
    br_b: object


def _lab(ctx: RunContext, mtu: int, index: int) -> Lab:
    return Lab(topology_from_data({"name": f"oo{ctx.run_id[-4:]}{index}",
                                   "underlay": {"mtu": mtu}, "hosts": {"h1": {}, "h2": {}}}))


def _setup(lab: Lab, underlay_mtu: int) -> Setup:
    h1, h2 = lab.host("h1"), lab.host("h2")
    h1.engine.swarm_init()
    token = h1.engine.swarm_join_token("worker")
    h2.engine.swarm_join([f"{h1.address}:2377"], token)
    overlay_mtu = underlay_mtu - HEADER_OVERHEAD
    options = {} if overlay_mtu == 1450 else {MTU_OPTION: str(overlay_mtu)}
    ov = h1.networks.create("ov", "overlay", attachable=True, options=options)
    h1.networks.create("br", "bridge", options={MTU_OPTION: str(underlay_mtu)})
    setup = Setup(lab, overlay_mtu, int(ov.inspect()["Options"][
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
    with Capture(setup.ov_a.pid, "eth0") as inner, Capture(h1, "eth0") as outer, \
            Capture(setup.br_a.pid, "eth0") as bridge:
        for payload in payloads(setup.overlay_mtu):
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
            if payload == payloads(setup.overlay_mtu)[1] and outer_f:
                write_pcap(ctx.path(f"vxlan-mtu{underlay_mtu}.pcap"),
                           [(f.at, f.data) for f in outer_f[:1]], LINKTYPE_ETHERNET)
            row = {
                "underlay_mtu": underlay_mtu, "payload": payload,
                "bridge_frame": len(bridge_f[0].data) if bridge_f else None,
                "overlay_inner_frame": len(inner_f[0].data) if inner_f else None,
                "overlay_wire_frame": len(outer_f[0].data) if outer_f else None,
                "vni": wire.vni_of(outer_f[0].data) if outer_f else None,
                "overlay_delivered": ov_outcome == "delivered",
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


def measure_mtu_and_oversize(setup: Setup, underlay_mtu: int) -> tuple[dict, list[dict]]:
    """The MTU found by DF probing, then the fate of packets one byte too big."""
    h1 = setup.lab.node_pid("h1")
    sender = datagrams.Sender(_endpoint(setup.ov_a), _endpoint(setup.ov_b))
    found = datagrams.find_mtu(sender, high=underlay_mtu)
    mtu_row = {"underlay_mtu": underlay_mtu, "configured_mtu": setup.overlay_mtu,
               "found_mtu": found}
    fates = []
    too_big = setup.overlay_mtu - datagrams.IPV4 - datagrams.UDP + 1
    with Capture(h1, "eth0") as outer, Capture(setup.ov_a.pid, "eth0") as inner:
        for df in (True, False):
            outer.clear()
            inner.clear()
            outcome, received = sender.send(too_big, dont_fragment=df)
            wire_frames = [f for f in wire.frames_after(outer)
                           if f.outgoing and wire.udp_dport(f.data) == wire.VXLAN_PORT]
            inner_frames = [f for f in inner.drain() if f.outgoing and (
                wire.udp_dport(f.data) == datagrams.PORT or wire.is_fragment(f.data))]
            fates.append({
                "underlay_mtu": underlay_mtu, "case": "container MTU as configured",
                "payload": too_big, "dont_fragment": df, "outcome": outcome,
                "bytes_received": received, "inner_packets": len(inner_frames),
                "wire_frames": len(wire_frames), "icmp_frag_needed_mtu": None,
            })
    sender.close()
    fates.append(_misconfigured(setup, underlay_mtu))
    return mtu_row, fates


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
    wire_frames = [f for f in frames if f.outgoing and wire.udp_dport(f.data) == wire.VXLAN_PORT]
    for container in (a, b):
        container.remove(force=True)
    h1.networks.remove("big")
    return {"underlay_mtu": underlay_mtu, "case": f"overlay MTU set to {underlay_mtu}",
            "payload": payload, "dont_fragment": True,
            "outcome": f"{outcome}; then {again}", "bytes_received": received,
            "inner_packets": 1, "wire_frames": len(wire_frames),
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
        rows = [r for r in sizes if r["underlay_mtu"] == mtu and r["overhead"] is not None]
        x = [r["payload"] for r in rows]
        theory_x.update(x)
        look = looks.get(mtu, {"color": palette.BLUISH_GREEN, "ls": ":", "ms": 7})
        axes[0].plot(x, [r["efficiency_overlay"] for r in rows], marker="o", lw=1.2,
                     label=f"overlay, measured (underlay MTU {mtu})", **look)
        axes[0].plot(x, [r["efficiency_bridge"] for r in rows], marker="s", lw=0.8,
                     alpha=0.8, label=f"bridge, measured (MTU {mtu})", **look)
    if theory_x:
        xs = sorted(theory_x)
        axes[0].plot(xs, [p / (p + 42 + HEADER_OVERHEAD) for p in xs], color=palette.BLACK,
                     lw=0.8, ls=":", zorder=4, label="overlay, theory P/(P+92) (any MTU)")
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
    """One line: the overhead in bytes (one number when every size agrees), the MTUs
    found, and the overlay's speed next to host networking's."""
    overheads = sorted({r["overhead"] for r in sizes if r["overhead"] is not None})
    missing = sum(1 for r in sizes if r["overhead"] is None)
    ov, host = cost["overlay (cross-host)"], cost["host networking (cross-host)"]
    return (f"overhead {', '.join(map(str, overheads)) or 'not measured'} bytes per packet"
            + (f" ({missing} sizes not captured)" if missing else "")
            + f"; MTU found {', '.join(str(r['found_mtu']) for r in mtus)}; overlay TCP "
            f"{ov['tcp_gbps']} Gbit/s vs host {host['tcp_gbps']}; 64 B UDP "
            f"{ov['udp64_kpps']} vs {host['udp64_kpps']} kpps")


def _checks(sizes, mtus, fates) -> list[Check]:
    checks = []
    for mtu in UNDERLAY_MTUS:
        rows = [r for r in sizes if r["underlay_mtu"] == mtu]
        overheads = sorted({r["overhead"] for r in rows})
        checks.append(Check(f"MTU {mtu}", "wire bytes, overlay minus bridge, every payload",
                            f"{HEADER_OVERHEAD}", ", ".join(map(str, overheads)),
                            overheads == [HEADER_OVERHEAD]))
        delivered = all(r["overlay_delivered"] and r["bridge_delivered"] for r in rows)
        checks.append(Check(f"MTU {mtu}", "every datagram up to the MTU delivered (DF set)",
                            "all", "all" if delivered else "some lost", delivered))
        vnis = sorted({r["vni"] for r in rows})
        checks.append(Check(f"MTU {mtu}", "VNI in the captured VXLAN headers", "one VNI",
                            ", ".join(map(str, vnis)), len(vnis) == 1 and None not in vnis))
    for row in mtus:
        checks.append(Check(f"MTU {row['underlay_mtu']}", "container MTU by DF probing",
                            str(row["configured_mtu"]), str(row["found_mtu"]),
                            row["found_mtu"] == row["configured_mtu"]))
    for fate in fates:
        if fate["case"] == "container MTU as configured" and fate["dont_fragment"]:
            ok = fate["outcome"].startswith("refused") and fate["wire_frames"] == 0
            checks.append(Check(f"MTU {fate['underlay_mtu']}", "one byte too big, DF",
                                "refused by the sender, nothing on the wire",
                                f"{fate['outcome']}, {fate['wire_frames']} frames", ok))
        elif fate["case"] == "container MTU as configured":
            ok = fate["outcome"] == "delivered" and fate["inner_packets"] == 2
            checks.append(Check(f"MTU {fate['underlay_mtu']}", "one byte too big, no DF",
                                "fragmented by the sender into 2, delivered",
                                f"{fate['outcome']}, {fate['inner_packets']} fragments", ok))
    return checks


def _summary_md(outcome, sizes, mtus, fates, cost) -> str:
    lines = ["# overlay-overhead", "", outcome.headline, "",
             "## Bytes on the wire per UDP datagram (captured)", "",
             "| underlay MTU | payload | bridge frame | overlay inner | overlay on the wire | "
             "overhead | efficiency bridge | efficiency overlay |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sizes:
        eff_b = f"{r['efficiency_bridge']:.3f}" if r["efficiency_bridge"] else "n/a"
        eff_o = f"{r['efficiency_overlay']:.3f}" if r["efficiency_overlay"] else "n/a"
        lines.append(f"| {r['underlay_mtu']} | {r['payload']} | {r['bridge_frame']} | "
                     f"{r['overlay_inner_frame']} | {r['overlay_wire_frame']} | "
                     f"{r['overhead']} | {eff_b} | {eff_o} |")
    lines += ["", "## MTU found by don't-fragment probing", "",
              "| underlay MTU | configured | found |", "|---|---|---|"]
    lines += [f"| {r['underlay_mtu']} | {r['configured_mtu']} | {r['found_mtu']} |" for r in mtus]
    lines += ["", "## A packet that does not fit", "",
              "| underlay MTU | case | payload | DF | what happened | packets leaving the "
              "container | VXLAN frames on the wire | ICMP frag-needed MTU |",
              "|---|---|---|---|---|---|---|---|"]
    for f in fates:
        lines.append(f"| {f['underlay_mtu']} | {f['case']} | {f['payload']} | "
                     f"{'yes' if f['dont_fragment'] else 'no'} | {f['outcome']} | "
                     f"{f['inner_packets']} | {f['wire_frames']} | "
                     f"{f['icmp_frag_needed_mtu'] or '-'} |")
    lines += ["", f"## Cost (underlay MTU 1500; mean ± 95 % CI over {REPEATS} runs of "
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
    lines += ["", "All paths share one kernel and two CPU cores: the figures compare paths "
              "with each other, not with hardware.", "",
              "Files: `sizes.csv`, `mtu.csv`, `oversize.csv`, `cost.csv`, "
              "`overlay_overhead.png`, `vxlan-mtu1500.pcap`, `vxlan-mtu9000.pcap`.", ""]
    return "\n".join(lines) + "\n" + checks_table_md(outcome.checks)


@register("overlay-overhead",
          "VXLAN overlay vs bridge: bytes per packet, MTU, oversize fate, speed (iperf3)")
def run(ctx: RunContext) -> Outcome:
    ctx.params.update({"underlay_mtus": list(UNDERLAY_MTUS), "repeats": REPEATS,
                       "seconds": SECONDS, "rtt_probes": RTT_PROBES})
    sizes, mtus, fates, cost_rows = [], [], [], []
    for index, mtu in enumerate(UNDERLAY_MTUS):
        ctx.progress(f"underlay MTU {mtu}: swarm of h1 (manager) and h2, overlay and bridge")
        with _lab(ctx, mtu, index) as lab:
            setup = _setup(lab, mtu)
            sizes += measure_sizes(setup, mtu, ctx)
            mtu_row, fate_rows = measure_mtu_and_oversize(setup, mtu)
            mtus.append(mtu_row)
            fates += fate_rows
            if mtu == 1500:
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
