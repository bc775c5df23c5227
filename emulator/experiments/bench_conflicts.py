"""`bench-conflicts`: the ARP conflict scan vs `arping -D` run per address.

100 macvlan endpoints (50 containers on each of two Docker hosts) and five LAN hosts
with fixed addresses that five of those containers also hold. The probe engine scans
the 100 addresses from the router in one window; the baseline is what an admin
without it does: `arping -D` (iputils) from each endpoint for its own address, one
after the other, which answers "is anyone else using my address?" and waits out its
timeout when nobody is. Both must find the same five conflicts.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address

from emulator.experiments import conflict_lab as cl
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext, checks_table_md
from emulator.lab import Lab
from emulator.probes.conflicts import scan_conflicts

PER_HOST = 50
IP_RANGES = {"h1": "198.51.100.64/26", "h2": "198.51.100.128/26"}
POOL = (IPv4Address("198.51.100.200"), IPv4Address("198.51.100.250"))
SQUATTERS = {f"srv{i}": IPv4Address(f"198.51.100.{n}")
             for i, n in enumerate((70, 90, 110, 140, 170), start=1)}
ARPING = ["arping", "-D", "-c", "1", "-w", "1", "-I", "eth0"]
WINDOW = 0.2
TARGET_ALL_S, TARGET_FIRST_S, TARGET_SPEEDUP = 0.3, 0.020, 100


def _arping_all(lab: Lab, containers, ctx: RunContext) -> tuple[set[IPv4Address], float]:
    """arping -D from every endpoint for its own address; exit 1 means someone answered."""
    found: set[IPv4Address] = set()
    started = time.perf_counter()
    for index, container in enumerate(containers):
        address = container.ip(cl.NETWORK)
        if container.exec([*ARPING, str(address)], timeout=10).exit_code == 1:
            found.add(address)
        if index % 20 == 19:
            ctx.progress(f"arping -D: {index + 1}/{len(containers)} addresses, "
                         f"{time.perf_counter() - started:.1f} s")
    return found, time.perf_counter() - started


@register("bench-conflicts", "ARP conflict scan of 100 macvlan endpoints vs arping -D per "
          "address", kind="benchmark")
def run(ctx: RunContext) -> Outcome:
    ctx.params.update({"endpoints": 2 * PER_HOST, "conflicts": len(SQUATTERS),
                       "window_s": WINDOW, "arping": " ".join(ARPING)})
    topology = cl.conflict_topology(f"bc{ctx.run_id[-4:]}", "promiscuous", POOL, 0, SQUATTERS)
    ctx.progress(f"lab: {2 * PER_HOST} macvlan endpoints, {len(SQUATTERS)} LAN hosts "
                 "holding addresses of containers")
    with Lab(topology) as lab:
        containers = cl.start_containers(lab, IP_RANGES, PER_HOST)
        truth = cl.injected(cl.lan_owners(lab, containers))
        targets = [c.ip(cl.NETWORK) for c in containers]
        router = lab.node_pid("router")
        scan_conflicts(router, "eth0", targets[:1], window=0.01)  # sockets and code warm
        started = time.perf_counter()
        scan = scan_conflicts(router, "eth0", targets, window=WINDOW)
        scan_seconds = time.perf_counter() - started
        ctx.progress(f"scan: {len(scan.conflicts)} conflicts in {scan_seconds:.3f} s; "
                     "now arping -D per address (about 1 s per clean address)")
        arping_found, arping_seconds = _arping_all(lab, containers, ctx)
    result = cl.score(scan, truth)
    first, last = scan.first_detection, scan.last_detection
    speedup = arping_seconds / scan_seconds
    figures = {
        "endpoints": len(targets), "conflicts_injected": len(truth),
        "scan_detected": result.detected, "scan_false_positives": len(result.false_positives),
        "scan_misses": len(result.misses), "scan_seconds": round(scan_seconds, 4),
        "scan_send_ms": round(scan.send_seconds * 1000, 3),
        "first_detection_ms": round((first or 0) * 1000, 3),
        "last_detection_ms": round((last or 0) * 1000, 3),
        "arping_detected": len(arping_found), "arping_seconds": round(arping_seconds, 2),
        "speedup": round(speedup, 1),
    }
    checks = [
        Check("scan", "finds exactly the injected conflicts", f"{len(truth)}, none false",
              f"{result.detected} ({len(result.false_positives)} false, "
              f"{len(result.misses)} missed)", result.exact),
        Check("scan", "last conflict found within", f"{TARGET_ALL_S} s",
              f"{(last or 0):.4f} s (call {scan_seconds:.3f} s incl. the {WINDOW} s window)",
              last is not None and last <= TARGET_ALL_S and scan_seconds <= TARGET_ALL_S),
        Check("scan", "first conflict found within", f"{TARGET_FIRST_S * 1000:.0f} ms",
              f"{(first or 0) * 1000:.2f} ms", first is not None and first <= TARGET_FIRST_S),
        Check("arping -D", "finds the same conflicts", ", ".join(map(str, sorted(truth))),
              ", ".join(map(str, sorted(arping_found))), arping_found == set(truth)),
        Check("speed", "scan vs arping -D per address", f">= {TARGET_SPEEDUP}x",
              f"{speedup:.0f}x ({scan_seconds:.3f} s vs {arping_seconds:.1f} s)",
              speedup >= TARGET_SPEEDUP),
    ]
    ctx.write_rows("figures.csv", [{"metric": k, "value": v} for k, v in figures.items()])
    ctx.write_rows("detections.csv", [
        {"address": str(c.address), "macs": " ".join(c.macs),
         "detected_at_ms": round(c.detected_at * 1000, 3)} for c in scan.conflicts])
    ctx.write_checks(checks)
    ok = all(c.ok for c in checks)
    headline = (f"scan {scan_seconds:.3f} s (first {figures['first_detection_ms']} ms, last "
                f"{figures['last_detection_ms']} ms) vs arping -D {arping_seconds:.1f} s: "
                f"{speedup:.0f}x; {result.true_positives}/{len(truth)} found, "
                f"{len(result.false_positives)} false")
    comparison = "\n".join([
        f"{'':<24}{'probe engine':>16}{'arping -D':>14}",
        f"{'conflicts found':<24}{result.true_positives:>16}{len(arping_found):>14}",
        f"{'false positives':<24}{len(result.false_positives):>16}"
        f"{len(arping_found - set(truth)):>14}",
        f"{'time (s)':<24}{scan_seconds:>16.3f}{arping_seconds:>14.1f}",
        f"{'first / last (ms)':<24}{figures['first_detection_ms']:>8} / "
        f"{figures['last_detection_ms']:<6}{'':>14}",
        f"{'speedup':<24}{speedup:>15.0f}x"])
    ctx.detail(comparison, "comparison.txt")
    outcome = Outcome(ok, headline, checks, figures)
    ctx.finish(outcome, "# bench-conflicts\n\n" + headline + "\n\n" + checks_table_md(checks))
    return outcome
