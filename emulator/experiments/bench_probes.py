"""Benchmark `bench-probes`: a reachability matrix by the probe engine vs naive Scapy.

N containers on one Docker host, half on each of two bridge networks, so about
half of the N x (N - 1) ordered pairs are blocked. The engine sends every ICMP
probe and waits one shared window; the naive way, `sr1` per pair with a timeout,
is timed on a sample of reached and blocked pairs (run by a Python inside a
container's namespace, where Scapy's view of routes is right) and extrapolated.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from emulator.experiments.bench_bringup import bench_topology
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.fabric.netns import Namespace
from emulator.lab import Lab
from emulator.probes import ProbeEngine, ProbeTarget, Verdict

SIZES = (30, 100)
TARGET_S = {30: 1.0, 100: 3.0}
TARGET_SPEEDUP = 25.0
TARGET_RATE = 20_000
NAIVE_TIMEOUT_S = 1.0
WINDOW_S = 0.5
NAIVE = """
import json, sys, time
from scapy.layers.inet import ICMP, IP
from scapy.sendrecv import sr1
out = []
for dst in sys.argv[2:]:
    started = time.perf_counter()
    reply = sr1(IP(dst=dst) / ICMP(), timeout=float(sys.argv[1]), verbose=0)
    out.append([dst, reply is not None, time.perf_counter() - started])
print(json.dumps(out))
"""



def naive_sample(source: ProbeTarget, targets: list[str]) -> list[tuple[str, bool, float]]:
    ns = Namespace.of_pid(source.pid)
    try:
        with ns.entered():
            done = subprocess.run([sys.executable, "-c", NAIVE, str(NAIVE_TIMEOUT_S), *targets],
                                  capture_output=True, text=True, timeout=300)
    finally:
        ns.close()
    if done.returncode != 0:
        raise RuntimeError(f"naive Scapy run failed: {done.stderr.strip()[-300:]}")
    return [tuple(row) for row in json.loads(done.stdout)]


def measure(ctx: RunContext, n: int) -> dict[str, float]:
    with Lab(bench_topology(f"bp{n}{ctx.run_id[-3:]}", 1)) as lab:
        h1 = lab.host("h1")
        h1.networks.create("left", subnet="10.41.0.0/24")
        h1.networks.create("right", subnet="10.42.0.0/24")
        containers = [h1.containers.run(f"c{i}", network="left" if i % 2 else "right")
                      for i in range(n)]
        h1.pin_neighbours(containers)
        targets = [ProbeTarget(c.name, c.pid, c.ip()) for c in containers]
        engine = ProbeEngine(window=WINDOW_S)
        engine.prepare(["icmp"])
        started = time.perf_counter()
        results = engine.run(targets, targets, ["icmp"])
        took = time.perf_counter() - started
        reached = sum(1 for r in results if r.verdict is Verdict.REACHED)
        expected_reached = 2 * (n // 2) * (n // 2 - 1)
        sample = [str(c.ip()) for c in containers[2:12:2]] + [str(c.ip())
                                                              for c in containers[1:6:2]]
        rows = naive_sample(targets[0], sample)
    hit = [t for _, ok, t in rows if ok]
    miss = [t for _, ok, t in rows if not ok]
    per_hit = sum(hit) / len(hit) if hit else 0.0
    per_miss = sum(miss) / len(miss) if miss else NAIVE_TIMEOUT_S
    pairs = len(results)
    naive = reached * per_hit + (pairs - reached) * per_miss
    rate = engine.sent / engine.send_seconds if engine.send_seconds else 0.0
    ctx.progress(f"N={n}: {pairs} pairs in {took:.3f} s ({reached} reached, expected "
                 f"{expected_reached}); {rate:,.0f} probes/s; naive Scapy ~{naive:.0f} s")
    return {"n": n, "pairs": pairs, "reached": reached, "expected_reached": expected_reached,
            "engine_s": took, "send_rate_pps": rate, "naive_reached_s": per_hit,
            "naive_blocked_s": per_miss, "naive_extrapolated_s": naive,
            "speedup": naive / took}


@register("bench-probes", "reachability matrix of 30 and 100 endpoints vs sr1 per pair",
          kind="benchmark")
def run(ctx: RunContext) -> Outcome:
    rows = [measure(ctx, n) for n in SIZES]
    ctx.write_rows("probes.csv", rows)
    checks = []
    for row in rows:
        n = int(row["n"])
        checks += [
            Check(f"N={n}", "matrix seconds incl. the window", f"<= {TARGET_S[n]}",
                  f"{row['engine_s']:.3f}", row["engine_s"] <= TARGET_S[n]),
            Check(f"N={n}", "verdicts as the networks say", str(row["expected_reached"]),
                  str(row["reached"]), row["reached"] == row["expected_reached"]),
            Check(f"N={n}", "speed-up over sr1 per pair", f">= {TARGET_SPEEDUP}x",
                  f"{row['speedup']:.0f}x", row["speedup"] >= TARGET_SPEEDUP),
            Check(f"N={n}", "send rate from one process", f">= {TARGET_RATE:,}/s",
                  f"{row['send_rate_pps']:,.0f}/s", row["send_rate_pps"] >= TARGET_RATE),
        ]
    ok = all(c.ok for c in checks)
    headline = "; ".join(f"N={int(r['n'])}: {int(r['pairs'])} pairs in {r['engine_s']:.2f} s, "
                         f"{r['speedup']:.0f}x sr1, {r['send_rate_pps']:,.0f} probes/s"
                         for r in rows)
    summary = ("# bench-probes\n\n" + headline + ".\n\n" + "\n".join(
        f"- {c.step} {c.what}: {c.observed} (target {c.expected}) — "
        f"{'ok' if c.ok else 'MISSED'}" for c in checks) + "\n")
    outcome = Outcome(ok, headline, checks, {f"N{int(r['n'])}_s": r["engine_s"] for r in rows})
    ctx.finish(outcome, summary)
    return outcome
