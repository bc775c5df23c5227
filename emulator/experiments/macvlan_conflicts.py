"""The `macvlan-conflicts` experiment: Docker's --ip-range overlapping a LAN's DHCP pool.

Per overlap fraction (0, 25, 50, 100 %), a fresh lab: 16 LAN hosts take DHCP leases,
then two Docker hosts fill their macvlan --ip-ranges with containers. Addresses held
by a LAN host and a container are the injected conflicts (read from the kernel and
the engines). The ARP conflict scan from the router must find exactly those: the run
fails on a miss or a false report. A LAN client then talks to every conflicted
address, forgetting its ARP entry before each TCP connection, to measure how often the
entry flips between the two owners and how many connections fail. Finally the same
LAN in port-security mode: macvlan containers cannot talk to the LAN at all.

The IPv6 section (macvlan_dad.py) does the same for IPv6 in a lab of its own:
Docker's static addresses come without DAD, so a LAN router's SLAAC and a LAN host's
own addresses collide with them unnoticed; the NDP duplicate scan and the RFC 4862
DAD probe must find exactly those. The report puts both families side by side.
Parameters: `lab=PREFIX` names the labs (PREFIX0.., PREFIX6), `sections=ipv4|ipv6`
runs one section only.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from ipaddress import IPv4Address

from emulator.experiments import conflict_lab as cl
from emulator.experiments import macvlan_dad as md
from emulator.experiments import palette
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext, checks_table_md
from emulator.lab import Lab
from emulator.probes import impact
from emulator.probes.conflicts import scan_conflicts
from emulator.probes.engine import ProbeEngine
from emulator.probes.model import ProbeTarget, Verdict
from emulator.probes.pcap import LINKTYPE_ETHERNET, write_pcap

OVERLAPS = (0.0, 0.25, 0.5, 1.0)
DHCP_HOSTS = 16
RANGE_FIRST = 128
RANGE_SIZE = 64
IP_RANGES = {"h1": "198.51.100.128/27", "h2": "198.51.100.160/27"}
PER_HOST = 32
PORT = 8080
ROUNDS = 20
SCAN_WINDOW = 0.2


def pool_for(overlap: float) -> tuple[IPv4Address, IPv4Address]:
    """A pool as large as the containers' ranges, sliding so `overlap` of it is shared."""
    base = cl.LAN_SUBNET.network_address
    first = base + RANGE_FIRST - RANGE_SIZE + int(RANGE_SIZE * overlap)
    return first, first + RANGE_SIZE - 1


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def lab_prefix(ctx: RunContext) -> str:
    """The labs' name prefix: `lab=` if given (at most 6 characters: a lab name takes
    8), else mc + the run's id."""
    prefix = str(ctx.params.get("lab") or f"mc{ctx.run_id[-4:]}")
    if len(prefix) > 6:
        raise ValueError(f"lab={prefix!r}: at most 6 characters (labs are named PREFIX0 "
                         "to PREFIX6)")
    return prefix


SECTIONS = ("ipv4", "ipv6")


def sections(ctx: RunContext) -> tuple[str, ...]:
    """Which sections to run: `sections=ipv4`, `ipv6`, or both (the default)."""
    wanted = tuple(s.strip() for s in str(ctx.params.get("sections") or ",".join(SECTIONS))
                   .split(",") if s.strip())
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown or not wanted:
        raise ValueError(f"sections={','.join(wanted)}: each must be one of "
                         f"{', '.join(SECTIONS)}")
    return wanted


def run_point(ctx: RunContext, overlap: float, mode: str, index: int) -> dict[str, object]:
    pool = pool_for(overlap)
    topology = cl.conflict_topology(f"{lab_prefix(ctx)}{index}", mode, pool, DHCP_HOSTS, {})
    ctx.progress(f"{mode} LAN, pool {pool[0]}-{pool[1]} ({overlap:.0%} overlap): "
                 f"{DHCP_HOSTS} DHCP leases, {2 * PER_HOST} macvlan containers")
    with Lab(topology) as lab:
        containers = cl.start_containers(lab, IP_RANGES, PER_HOST)
        owners = cl.lan_owners(lab, containers)
        truth = cl.injected(owners)
        scan = scan_conflicts(lab.node_pid("router"), "eth0", cl.scan_targets(),
                              window=SCAN_WINDOW, capture=index == len(OVERLAPS) - 1)
        if scan.frames:
            write_pcap(ctx.path("scan.pcap"), scan.frames, LINKTYPE_ETHERNET)
        result = cl.score(scan, truth, None if mode == "promiscuous" else set())
        impacts = _impacts(lab, truth, owners)
        reach = _port_security_reach(lab, containers, set(truth)) if mode == "port-security" \
            else []
    leased = sum(1 for held in owners.values() for o in held if o.kind == "lan-host"
                 and o.name.startswith("vm"))
    return {"overlap": overlap, "mode": mode, "pool": f"{pool[0]}-{pool[1]}", "leases": leased,
            "truth": truth, "scan": scan, "score": result, "impacts": impacts,
            "reach": reach}


def _impacts(lab: Lab, truth, owners) -> list[tuple[IPv4Address, str, impact.Impact]]:
    """The LAN client's view of each conflicted address, and of one clean LAN host."""
    lan_host_of = {a: next((o.name for o in held if o.kind == "lan-host"), None)
                   for a, held in owners.items()}
    clean = next((a for a, held in sorted(owners.items()) if a not in truth
                  and held[0].kind == "lan-host" and held[0].name != cl.CLIENT), None)
    targets = [(a, "conflicted") for a in sorted(truth) if lan_host_of.get(a)]
    if clean is not None:
        targets.append((clean, "clean"))
    client = lab.node_pid(cl.CLIENT)
    results = []
    with ExitStack() as stack:
        for address, _ in targets:
            stack.enter_context(impact.listening(lab.node_pid(lan_host_of[address]), PORT))
        for address, kind in targets:
            results.append((address, kind, impact.measure(client, address, PORT, ROUNDS)))
    return results


def _port_security_reach(lab: Lab, containers,
                         conflicted: set[IPv4Address]) -> list[tuple[str, str, bool]]:
    """ICMP from a few macvlan containers to the router, LAN hosts and a same-host peer.

    LAN hosts whose address a container also holds are left out: a probe to such an
    address is answered by the local container, not by the LAN host.
    """
    lan = lab.topology.lan
    assert lan is not None
    sources = [c for c in containers if c.name.endswith(("c00", "c01"))]
    targets = [ProbeTarget("router", lab.node_pid("router"), lan.router)]
    for host in lan.hosts:
        pid = lab.node_pid(host.name)
        address = next(a for a, _, _ in cl.nic_addresses(pid))
        if address not in conflicted and len(targets) < 5:
            targets.append(ProbeTarget(host.name, pid, address))
    peers = [ProbeTarget(c.name, c.pid, c.ip(cl.NETWORK)) for c in sources]
    engine = ProbeEngine(window=0.5)
    rows = []
    for result in engine.run([ProbeTarget(c.name, c.pid, None) for c in sources],
                             targets + peers, ["icmp"]):
        if result.source != result.target:
            rows.append((result.source, result.target, result.verdict == Verdict.REACHED))
    lan_rows = engine.run([ProbeTarget("client", lab.node_pid(cl.CLIENT), None)], targets,
                          ["icmp"])
    rows += [(r.source, r.target, r.verdict == Verdict.REACHED) for r in lan_rows]
    return rows


def _rows(points: list[dict[str, object]]):
    summary, detections, rounds = [], [], []
    for p in points:
        s, scan = p["score"], p["scan"]
        summary.append({
            "mode": p["mode"], "overlap": p["overlap"], "pool": p["pool"],
            "leases": p["leases"], "injected": len(p["truth"]), "scored": s.injected,
            "detected": s.detected, "true_positives": s.true_positives,
            "false_positives": len(s.false_positives), "misses": len(s.misses),
            "precision": s.precision, "recall": s.recall,
            "first_detection_ms": _ms(scan.first_detection),
            "last_detection_ms": _ms(scan.last_detection),
            "send_ms": _ms(scan.send_seconds), "window_s": scan.window,
        })
        found = {c.address: c for c in scan.conflicts}
        for address in sorted(set(p["truth"]) | set(found)):
            owners = p["truth"].get(address, [])
            conflict = found.get(address)
            detections.append({
                "mode": p["mode"], "overlap": p["overlap"], "address": str(address),
                "injected": address in p["truth"], "detected": conflict is not None,
                "owners": " ".join(f"{o.kind}:{o.name}" for o in owners),
                "macs": " ".join(sorted(o.mac for o in owners)),
                "detected_at_ms": _ms(conflict.detected_at) if conflict else None,
            })
        for address, kind, result in p["impacts"]:
            owners = {o.mac: f"{o.kind}:{o.name}" for o in p["truth"].get(address, [])}
            for r in result.rounds:
                rounds.append({
                    "mode": p["mode"], "overlap": p["overlap"], "address": str(address),
                    "target": kind, "round": r.index, "mac": r.mac,
                    "answered_by": owners.get(r.mac or "", "lan-host" if r.mac else ""),
                    "tcp_connected": r.connected, "error": r.error,
                })
    return summary, detections, rounds


NO_DATA = "no data"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _grouped_bars(ax, labels: list[str], series: list[tuple[str, list, str, str]],
                  fmt: str, no_data_height: float) -> None:
    """Bars side by side per label, each with its value written on it (so a 0 shows as
    "0"); a missing value gets an empty hatched bar marked "no data" instead."""
    width = 0.8 / len(series)
    for i, (name, values, color, hatch) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        heights = [0.0 if _missing(v) else v for v in values]
        bars = ax.bar(xs, heights, width, label=name, color=color, hatch=hatch,
                      edgecolor=palette.BLACK, lw=0.5)
        ax.bar_label(bars, ["" if _missing(v) else format(v, fmt) for v in values],
                     fontsize=7, padding=2)
        gaps = [x for x, v in zip(xs, values, strict=True) if _missing(v)]
        if gaps:
            ax.bar(gaps, [no_data_height] * len(gaps), width, fill=False, hatch="xx",
                   edgecolor=palette.GREY, lw=0.5)
        for x in gaps:
            ax.text(x, no_data_height * 1.3, NO_DATA, rotation=90, ha="center", va="bottom",
                    fontsize=7, color=palette.BLACK)
    ax.set_xticks(range(len(labels)), labels)


def conflicts_figure(summary, rounds):
    """Duplicates injected and found, the scan's detection times, and what a LAN client
    sees, per overlap; zeros written as 0, missing data hatched and marked."""
    import pandas as pd
    from matplotlib.figure import Figure

    frame = pd.DataFrame([r for r in summary if r["mode"] == "promiscuous"])
    overlaps = list(frame["overlap"])
    labels = [f"{o:.0%}" for o in overlaps]
    fig = Figure(figsize=(15, 5), layout="constrained")
    axes = fig.subplots(1, 3)
    _grouped_bars(axes[0], labels, [
        ("injected", list(frame["injected"]), palette.BLUE, ""),
        ("detected by the ARP scan", list(frame["detected"]), palette.ORANGE, "//")],
        "d", max(1, frame["injected"].max() or 0) * 0.05)
    axes[0].set(title="Duplicate addresses\n(injected: held by a LAN host and a container)",
                xlabel="--ip-range overlap with the DHCP pool",
                ylabel="addresses (count)")
    axes[0].legend(fontsize=8)
    times = [frame[c].astype(float).tolist() for c in ("first_detection_ms", "last_detection_ms")]
    top = max((v for series in times for v in series if not _missing(v)), default=1.0)
    _grouped_bars(axes[1], labels, [
        ("first conflict detected", times[0], palette.BLUE, ""),
        ("last conflict detected", times[1], palette.ORANGE, "//")], ".1f", top * 0.05)
    axes[1].set(title="Scan: time to detection\n(no data: nothing to detect)",
                xlabel="--ip-range overlap with the DHCP pool",
                ylabel="time after the first probe (ms)")
    axes[1].legend(fontsize=8)
    failed: list = [None] * len(overlaps)
    container_won: list = [None] * len(overlaps)
    table = pd.DataFrame(rounds)
    if not table.empty:
        conflicted = table[(table["target"] == "conflicted") & (table["mode"] == "promiscuous")]
        for i, overlap in enumerate(overlaps):
            mine = conflicted[conflicted["overlap"] == overlap]
            if not mine.empty:
                failed[i] = 1 - mine["tcp_connected"].mean()
                container_won[i] = mine["answered_by"].str.startswith("container").mean()
    _grouped_bars(axes[2], labels, [
        ("TCP connections failed", failed, palette.VERMILLION, ""),
        ("ARP answered by the container", container_won, palette.SKY_BLUE, "//")],
        ".2f", 0.05)
    axes[2].set(title="LAN client talking to conflicted addresses\n"
                      "(no data: no address conflicted)",
                xlabel="--ip-range overlap with the DHCP pool",
                ylabel="fraction of connection rounds", ylim=(0, 1.1))
    axes[2].legend(fontsize=8)
    return fig


def _plots(ctx: RunContext, summary, rounds) -> None:
    conflicts_figure(summary, rounds).savefig(ctx.path("conflicts.png"), dpi=110)


def _checks(points) -> list[Check]:
    checks = []
    for p in points:
        s = p["score"]
        step = f"{p['mode']} {p['overlap']:.0%}"
        if p["mode"] == "promiscuous":
            checks.append(Check(step, "scan finds exactly the injected conflicts",
                                f"{s.injected} conflicts, 0 missed, 0 false",
                                f"{s.detected} detected, {len(s.misses)} missed, "
                                f"{len(s.false_positives)} false, "
                                f"{len(s.wrong_macs)} with wrong MACs", s.exact,
                                " ".join(map(str, s.misses + s.false_positives))))
        else:
            reached = [r for r in p["reach"] if r[2] and r[0] != "client"
                       and not r[1].startswith(("h1c", "h2c"))]
            lan_ok = all(r[2] for r in p["reach"] if r[0] == "client")
            checks.append(Check(step, "macvlan containers reach no LAN node",
                                "0 reached", f"{len(reached)} reached",
                                not reached, " ".join(f"{a}->{b}" for a, b, _ in reached)))
            checks.append(Check(step, "LAN hosts still reach each other", "all reached",
                                "all reached" if lan_ok else "some blocked", lan_ok))
            checks.append(Check(step, "scan sees no conflict (container frames dropped)",
                                "0 detected", f"{s.detected} detected", s.detected == 0))
    return checks


def _summary_md(points, summary, checks, outcome: Outcome,
                dad: md.DadSection | None = None) -> str:
    lines = ["# macvlan-conflicts", "", outcome.headline, ""]
    if points:
        lines += _ipv4_md(points, summary)
    if dad is not None:
        lines += md.summary_md(dad)
    lines += ["## Both families side by side", "",
              *md.family_table_md(md.family_rows(summary, dad)), "",
              checks_table_md(checks)]
    return "\n".join(lines) + "\n"


def _ipv4_md(points, summary) -> list[str]:
    lines = ["## IPv4: --ip-range vs the DHCP pool (ARP, RFC 5227)", "",
             "Two Docker hosts with macvlan networks (parent eth1, --ip-range "
             f"{IP_RANGES['h1']} and {IP_RANGES['h2']}, {PER_HOST} containers each) on a LAN "
             f"whose DHCP pool ({RANGE_SIZE} addresses) slides over the ranges; "
             f"{DHCP_HOSTS} LAN hosts took leases before the containers started. "
             f"Scan: RFC 5227 ARP probes from the router to all {len(cl.scan_targets())} "
             f"other LAN addresses, one {SCAN_WINDOW:.1f} s window.", "",
             "| mode | overlap | injected | detected | precision | recall | first (ms) | "
             "last (ms) |", "|---|---|---|---|---|---|---|---|"]
    for row in summary:
        def fmt(v):
            return "n/a" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
        lines.append(f"| {row['mode']} | {row['overlap']:.0%} | {row['injected']} | "
                     f"{row['detected']} | {fmt(row['precision'])} | {fmt(row['recall'])} | "
                     f"{fmt(row['first_detection_ms'])} | {fmt(row['last_detection_ms'])} |")
    lines += ["", "## Impact on a LAN client (one fresh ARP resolution + TCP connect per round)",
              "", "| mode | overlap | address | kind | rounds | ARP flips | TCP failures | "
              "MACs seen |", "|---|---|---|---|---|---|---|---|"]
    for p in points:
        for address, kind, result in p["impacts"]:
            lines.append(f"| {p['mode']} | {p['overlap']:.0%} | {address} | {kind} | "
                         f"{len(result.rounds)} | {result.flips} | {result.failures} | "
                         f"{len(result.macs())} |")
    lines += ["", "Plots: `conflicts.png`. Data: `points.csv`, `detections.csv`, "
              "`impact.csv`, `port_security.csv`. Capture of the last scan: `scan.pcap`. "
              "IPv6: `dad.csv`, `dad_rounds.csv`, `scan6.pcap`; both: `families.csv`.", ""]
    return lines


@register("macvlan-conflicts",
          "macvlan --ip-range vs a LAN's DHCP pool (ARP) and SLAAC/static IPv6 (DAD): "
          "duplicate addresses found by the probes, impact", params=("lab", "sections"))
def run(ctx: RunContext) -> Outcome:
    wanted = sections(ctx)
    ctx.params.update({"overlaps": list(OVERLAPS), "dhcp_hosts": DHCP_HOSTS,
                       "containers": 2 * PER_HOST, "ip_ranges": IP_RANGES, "rounds": ROUNDS,
                       "scan_window_s": SCAN_WINDOW, "sections": list(wanted),
                       "lab": lab_prefix(ctx)})
    points = []
    if "ipv4" in wanted:
        points = [run_point(ctx, overlap, "promiscuous", i) for i, overlap in enumerate(OVERLAPS)]
        points.append(run_point(ctx, 1.0, "port-security", len(OVERLAPS)))
    summary, detections, rounds = _rows(points)
    checks = _checks(points)
    dad = None
    if "ipv6" in wanted:
        ctx.progress("IPv6 section: static --ip6 and SLAAC on one LAN, NDP scan and DAD")
        dad = md.measure(f"{lab_prefix(ctx)}6", ctx.progress, capture=True)
        if dad.scan.frames:
            write_pcap(ctx.path("scan6.pcap"), dad.scan.frames, LINKTYPE_ETHERNET)
        ctx.write_rows("dad.csv", md.case_rows(dad))
        ctx.write_rows("dad_rounds.csv", md.round_rows(dad))
        checks += md.checks(dad)
    ctx.write_rows("families.csv", md.family_rows(summary, dad))
    if points:
        ctx.write_rows("points.csv", summary)
        ctx.write_rows("detections.csv", detections)
        ctx.write_rows("impact.csv", rounds)
        ctx.write_rows("port_security.csv", [
            {"source": a, "target": b, "reached": ok} for p in points for a, b, ok in p["reach"]])
        _plots(ctx, summary, rounds)
    ctx.write_checks(checks)
    ok = all(c.ok for c in checks)
    metrics: dict[str, object] = {}
    parts = []
    if points:
        part, metrics = _ipv4_headline(points, checks)
        parts.append(part)
    if dad is not None:
        part, more = _ipv6_headline(dad)
        parts.append(part)
        metrics.update(more)
    outcome = Outcome(ok, "; ".join(parts), checks, metrics)
    ctx.finish(outcome, _summary_md(points, summary, checks, outcome, dad))
    return outcome


def _ipv4_headline(points, checks: list[Check]) -> tuple[str, dict[str, object]]:
    sweep = [p for p in points if p["mode"] == "promiscuous"]
    found = sum(p["score"].true_positives for p in sweep)
    total = sum(p["score"].injected for p in sweep)
    flips = sum(r.flips for p in sweep for _, k, r in p["impacts"] if k == "conflicted")
    fails = sum(r.failures for p in sweep for _, k, r in p["impacts"] if k == "conflicted")
    tries = sum(len(r.rounds) for p in sweep for _, k, r in p["impacts"] if k == "conflicted")
    last = max((p["scan"].last_detection or 0 for p in sweep), default=0)
    security = [c for c in checks if c.step.startswith("port-security")]
    headline = (f"IPv4: {found}/{total} injected conflicts found, "
                f"{sum(len(p['score'].false_positives) for p in sweep)} false; all within "
                f"{last * 1000:.1f} ms; LAN client: {flips} ARP flips, {fails}/{tries} TCP "
                f"connections failed; port-security: "
                f"{'macvlan cut off from the LAN' if all(c.ok for c in security) else 'LEAKS'}")
    return headline, {
        "conflicts_injected": total, "conflicts_found": found, "last_detection_ms": last * 1000,
        "arp_flips": flips, "tcp_failures": fails, "tcp_attempts": tries}


def _ipv6_headline(dad: md.DadSection) -> tuple[str, dict[str, object]]:
    duplicates = [dad.case(c) for c in md.DUPLICATES]
    by_dad = sum(1 for c in duplicates if c.dad.conflict and len(c.dad.macs) == 2)
    refused = sum(1 for c in dad.cases for h in c.held
                  if h.owner.kind == "container" and h.state != "usable")
    late = dad.case("slaac-after-static").holder("lan-host")
    kept = sum(1 for c in duplicates if c.rounds
               and all(c.winners().get(k, 0) == len(c.rounds) for k in
                       [f"container:{h.owner.name}" for h in c.held
                        if h.owner.kind == "container"]))
    followups = sum(1 for c in duplicates for r in c.rounds if not r.followup)
    tries = sum(len(c.rounds) for c in duplicates)
    headline = (f"IPv6: {dad.score.true_positives}/{dad.score.injected} duplicates found by "
                f"the NDP scan, {dad.score.detected - dad.score.true_positives} false, "
                f"{by_dad}/{len(duplicates)} by RFC 4862 DAD; kernels refused "
                f"{refused} of Docker's addresses (NODAD) and "
                f"{'the late LAN host' if late and late.state == 'dadfailed' else 'nothing'}"
                f"'s SLAAC address; router cache kept the container in {kept}/"
                f"{len(duplicates)} duplicates, {followups}/{tries} follow-up TCP "
                f"connections failed")
    return headline, {"ipv6_duplicates": dad.score.injected,
                      "ipv6_found_by_scan": dad.score.true_positives,
                      "ipv6_found_by_dad": by_dad, "ipv6_container_refused": refused,
                      "ipv6_followup_failures": followups, "ipv6_followup_attempts": tries}
