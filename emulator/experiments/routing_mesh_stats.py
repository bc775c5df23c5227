"""What the routing-mesh experiment concludes from its connections, as plain functions
of its tidy rows (one dict per connection), so they are tested without a lab.

A connection row (`connection_row`) says which node was entered, which replica
answered and on which node it runs, the source address the replica saw, and how
long the connection took. From them: the share of each replica per entry node with
a chi-square test against equal shares, the share that crossed hosts, the sources
seen, median latencies per path with their 95 % intervals and the mesh's added
latency, and, around a task's removal, the failed connections and the time until
the balancer stopped sending to it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from emulator.experiments.echoclient import Reply
from emulator.experiments.stats import chi_square_uniform, median_difference, median_estimate

MESH_SAME = "ingress mesh, replica on the entry node"
MESH_CROSS = "ingress mesh, replica on another node"
DIRECT = "mode=host, straight to the entry node's task"
PATHS = (MESH_SAME, MESH_CROSS, DIRECT)


def path_of(mode: str, entry: str, replica_node: str) -> str:
    if mode == "host":
        return DIRECT
    return MESH_SAME if replica_node == entry else MESH_CROSS


def connection_row(phase: str, mode: str, entry: str, address: str, port: int, seq: int,
                   t_s: float, reply: Reply, replica_nodes: dict[str, str]) -> dict[str, object]:
    """One connection, tidy. `replica_nodes` maps the replicas' hostnames to their nodes."""
    node = replica_nodes.get(reply.hostname, "") if reply.ok else ""
    return {
        "phase": phase, "mode": mode, "entry": entry, "address": address, "port": port,
        "seq": seq, "t_s": round(t_s, 6), "ok": reply.ok, "error": reply.error,
        "hostname": reply.hostname, "replica_node": node,
        "crossed": bool(reply.ok and node and node != entry),
        "source": reply.source,
        "latency_ms": None if reply.latency_ms is None else round(reply.latency_ms, 4),
        "path": path_of(mode, entry, node) if reply.ok else "",
    }


def _of(rows: Iterable[dict], **match: object) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def share_rows(rows: list[dict], replicas: dict[str, str], phase: str) -> list[dict]:
    """Per entry node and replica: connections answered by it and its share of the
    entry's connections (failed ones included in the denominator)."""
    out = []
    for entry in dict.fromkeys(r["entry"] for r in _of(rows, phase=phase)):
        mine = _of(rows, phase=phase, entry=entry)
        counts = Counter(r["hostname"] for r in mine if r["ok"])
        for hostname, node in replicas.items():
            out.append({"entry": entry, "replica": hostname, "replica_node": node,
                        "connections": counts.get(hostname, 0), "of": len(mine),
                        "share": counts.get(hostname, 0) / len(mine) if mine else math.nan,
                        "uniform_share": 1 / len(replicas)})
    return out


def entry_summaries(rows: list[dict], replicas: dict[str, str], phase: str,
                    sandbox_sources: dict[str, str]) -> list[dict]:
    """Per entry node: what answered, how evenly (chi-square against equal shares over
    the replicas), how much crossed hosts, and the sources the replicas saw next to
    the entry node's ingress sandbox address (blank when unknown)."""
    out = []
    for entry in dict.fromkeys(r["entry"] for r in _of(rows, phase=phase)):
        mine = _of(rows, phase=phase, entry=entry)
        answered = [r for r in mine if r["ok"]]
        counts = Counter(r["hostname"] for r in answered)
        strangers = sorted(set(counts) - set(replicas))
        test = chi_square_uniform([counts.get(h, 0) for h in replicas])
        out.append({
            "entry": entry, "connections": len(mine), "answered": len(answered),
            "failed": len(mine) - len(answered),
            "errors": " ".join(f"{k}:{v}" for k, v in
                               sorted(Counter(r["error"] for r in mine if not r["ok"]).items())),
            "replicas_reached": sum(1 for h in replicas if counts.get(h)),
            "replicas": len(replicas),
            "unreached": " ".join(h for h in replicas if not counts.get(h)),
            "unknown_answerers": " ".join(strangers),
            "chi2": round(test.statistic, 4), "dof": test.dof, "p_value": round(test.p_value, 4),
            "crossed_share": (sum(1 for r in answered if r["crossed"]) / len(answered)
                              if answered else math.nan),
            "sources": " ".join(sorted({r["source"] for r in answered})),
            "sandbox_address": sandbox_sources.get(entry, ""),
        })
    return out


def latency_rows(rows: list[dict], seed: int = 0) -> list[dict]:
    """Median connection time per path with its 95 % interval, then each mesh path's
    median minus the direct path's (percentile bootstrap interval)."""
    by_path = {p: [float(r["latency_ms"]) for r in rows
                   if r["path"] == p and r["latency_ms"] is not None] for p in PATHS}
    out = []
    for path, values in by_path.items():
        m = median_estimate(values)
        out.append({"what": "median connection time", "path": path, "n": m.n,
                    "median_ms": m.median, "ci_low_ms": m.low, "ci_high_ms": m.high})
    for path in (MESH_SAME, MESH_CROSS):
        d = median_difference(by_path[path], by_path[DIRECT], seed=seed)
        out.append({"what": "added by the mesh (median minus mode=host's)", "path": path,
                    "n": d.n, "median_ms": d.median, "ci_low_ms": d.low, "ci_high_ms": d.high})
    return out


SETTLED_RUN = 10
"""Connections in a row answered by live replicas that close a removal's episode: the
balancers stopped sending to the removed task at the first of them."""


def removal_summary(rows: list[dict], event: str, removed: set[str],
                    before: set[str]) -> dict[str, object]:
    """Around one removal (t_s = 0 when it was asked for). Its episode lasts until the
    first SETTLED_RUN connections in a row that neither failed nor reached the removed
    task: then the balancers stopped sending to it. Failures in the episode are the
    removal's; later ones (a replacement coming in, say) are counted apart, and so is
    any later answer of the removed task (the balancer sending to it again). Also the
    time until a task that was not there before answered (a replacement)."""
    after = sorted((r for r in rows if r["phase"] == event and float(r["t_s"]) >= 0),
                   key=lambda r: float(r["t_s"]))
    bad = [not r["ok"] or r["hostname"] in removed for r in after]
    settled = next((i for i in range(len(after) - SETTLED_RUN + 1)
                    if not any(bad[i:i + SETTLED_RUN])), None)
    episode = after if settled is None else after[:settled]
    later = [] if settled is None else after[settled:]
    newcomers = [r for r in after if r["ok"] and r["hostname"] not in before]
    errors = Counter(r["error"] for r in episode if not r["ok"])
    return {
        "event": event, "removed": " ".join(sorted(removed)), "connections": len(after),
        "failed": sum(errors.values()),
        "errors": " ".join(f"{k}:{v}" for k, v in sorted(errors.items())),
        "answered_by_removed": sum(1 for r in episode if r["ok"] and r["hostname"] in removed),
        "stopped_after_s": None if settled is None else after[settled]["t_s"],
        "later_failed": sum(1 for r in later if not r["ok"]),
        "later_failed_at_s": " ".join(f"{float(r['t_s']):.3f}" for r in later if not r["ok"]),
        "later_answered_by_removed": sum(1 for r in later if r["ok"]
                                         and r["hostname"] in removed),
        "replacement_after_s": newcomers[0]["t_s"] if newcomers else None,
        "replacement": newcomers[0]["hostname"] if newcomers else "",
    }


def host_mode_rows(rows: list[dict], task_nodes: dict[str, set[str]]) -> list[dict]:
    """Per publish mode and node entered: whether a task of that mode's service runs
    there, how many connections were answered, by which nodes' tasks, the sources seen."""
    out = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        for entry in dict.fromkeys(r["entry"] for r in _of(rows, mode=mode)):
            mine = _of(rows, mode=mode, entry=entry)
            answered = [r for r in mine if r["ok"]]
            out.append({
                "mode": mode, "node": entry, "port": mine[0]["port"],
                "task_on_node": entry in task_nodes.get(mode, set()),
                "connections": len(mine), "answered": len(answered),
                "errors": " ".join(sorted({r["error"] for r in mine if not r["ok"]})),
                "answering_nodes": " ".join(sorted({r["replica_node"] for r in answered})),
                "sources": " ".join(sorted({r["source"] for r in answered})),
            })
    return out
