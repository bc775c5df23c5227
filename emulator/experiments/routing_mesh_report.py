"""The routing-mesh experiment's plots, headline, figures and summary.md, from its
tidy rows (routing_mesh_stats.py), so they are checked without a lab.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies); failures are black crosses, never a colour alone.
"""

from __future__ import annotations

import math
from pathlib import Path

from emulator.experiments.results import Outcome, checks_table_md
from emulator.experiments.routing_mesh_stats import DIRECT, MESH_CROSS, MESH_SAME, PATHS

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000")
PATH_COLOURS = {MESH_SAME: OKABE_ITO[0], MESH_CROSS: OKABE_ITO[1], DIRECT: OKABE_ITO[2]}


def _ms(value: object) -> str:
    v = float(value)  # type: ignore[arg-type]
    return "n/a" if math.isnan(v) else ("inf" if math.isinf(v) else f"{v:.3f}")


def _latency(latency: list[dict], what_prefix: str, path: str) -> dict | None:
    return next((r for r in latency if r["what"].startswith(what_prefix) and r["path"] == path),
                None)


def _interval(row: dict | None) -> str:
    if row is None or not row["n"]:
        return "n/a"
    return f"{_ms(row['median_ms'])} ms [{_ms(row['ci_low_ms'])}, {_ms(row['ci_high_ms'])}]"


def headline(entries: list[dict], latency: list[dict], removal: list[dict]) -> str:
    reached = ", ".join(f"{e['entry']} {e['replicas_reached']}/{e['replicas']}" for e in entries)
    crossed = sum(e["crossed_share"] for e in entries if not math.isnan(e["crossed_share"]))
    sources = ", ".join(f"{e['entry']}->{e['sources'] or 'none'}" for e in entries)
    added = _latency(latency, "added", MESH_CROSS)
    gone = "; ".join(
        f"{r['event']}: {r['failed']} failed, stopped after "
        + ("never" if r["stopped_after_s"] is None else f"{float(r['stopped_after_s']):.2f} s")
        for r in removal)
    return (f"replicas reached via {reached}; crossed hosts {crossed / max(len(entries), 1):.0%}"
            f" of connections; sources seen {sources}; mesh (other node) adds "
            f"{_interval(added)} over mode=host; {gone}")


def figures(entries: list[dict], latency: list[dict], removal: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in entries:
        out[f"{e['entry']} chi2 p"] = float(e["p_value"])
        out[f"{e['entry']} crossed share"] = round(float(e["crossed_share"]), 4)
    for r in latency:
        key = "added ms" if r["what"].startswith("added") else "median ms"
        out[f"{r['path']}: {key}"] = round(float(r["median_ms"]), 4)
    for r in removal:
        if r["stopped_after_s"] is not None:
            out[f"{r['event']}: stopped after s"] = float(r["stopped_after_s"])
        out[f"{r['event']}: failed connections"] = float(r["failed"])
    return out


def summary_md(outcome: Outcome, connections: int, entries: list[dict], shares: list[dict],
               latency: list[dict], removal: list[dict], host_rows: list[dict],
               replica_rows: list[dict], outside: str) -> str:
    lines = ["# routing-mesh", "", outcome.headline + ".", "",
             "A 3-host swarm (h1 manager, h2, h3 workers); service `web` with 2 replicas "
             "publishing 8080 -> 80 through the ingress routing mesh, service `webhost` with "
             "2 replicas publishing 8081 -> 80 in mode=host. Every connection comes from the "
             f"lab's `outside` host ({outside}) to a node's underlay address; each task answers "
             "its hostname and the peer address it sees.", "",
             "## Replicas", "", "| service | slot | node | hostname | address on ingress |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['service']} | {r['slot']} | {r['node']} | {r['hostname']} | "
              f"{r['ingress_address'] or '-'} |" for r in replica_rows]
    replicas = list(dict.fromkeys(s["replica"] for s in shares))
    lines += ["", f"## Who answers, per node entered ({connections} connections each, port 8080)",
              "", "| node entered | answered | " + " | ".join(
                  f"share {h} ({next(s['replica_node'] for s in shares if s['replica'] == h)})"
                  for h in replicas)
              + " | chi-square (p) | crossed hosts | source seen by the replicas | "
              "node's ingress-sbox |", "|---|---|" + "---|" * len(replicas) + "---|---|---|---|"]
    for e in entries:
        cells = [f"{s['share']:.1%}" for s in shares if s["entry"] == e["entry"]]
        lines.append(f"| {e['entry']} | {e['answered']}/{e['connections']} | "
                     + " | ".join(cells)
                     + f" | {e['chi2']:.2f} (p = {e['p_value']:.3f}, {e['dof']} dof) | "
                     f"{e['crossed_share']:.1%} | {e['sources'] or 'none'} | "
                     f"{e['sandbox_address'] or 'not listed'} |")
    lines += ["", "A p-value well above 0.05 means the shares are consistent with equal shares; "
              "Docker's IPVS balances round robin (shares exactly equal). The source a replica "
              "sees is the entry node's ingress sandbox address, never the client's: Docker "
              "rewrites it (SNAT in `ingress_sbox`), so a task cannot log who called.", "",
              "## Connection time (connect to close, median and 95 % interval)", "",
              "| path | connections | median ms [95 % CI] |", "|---|---|---|"]
    for path in PATHS:
        row = _latency(latency, "median", path)
        lines.append(f"| {path} | {row['n'] if row else 0} | {_interval(row)} |")
    lines += ["", "| added by the mesh, over mode=host | median difference ms "
              "[95 % bootstrap CI] |", "|---|---|"]
    for path in (MESH_SAME, MESH_CROSS):
        lines.append(f"| {path} | {_interval(_latency(latency, 'added', path))} |")
    lines += ["", "## A task removed under load (connections to h1, h2, h3 in turn)", "",
              "| event | connections | failed (kinds) | answered by the removed task | "
              "balancers stopped using it after | failed later (at s) | "
              "replacement answered after | action took |",
              "|---|---|---|---|---|---|---|---|"]
    for r in removal:
        stopped = ("never" if r["stopped_after_s"] is None
                   else f"{float(r['stopped_after_s']):.3f} s")
        replaced = ("-" if r["replacement_after_s"] is None
                    else f"{float(r['replacement_after_s']):.3f} s ({r['replacement']})")
        lines.append(f"| {r['event']} | {r['connections']} | {r['failed']} "
                     f"({r['errors'] or 'none'}) | {r['answered_by_removed']} | {stopped} | "
                     f"{r['later_failed']}"
                     + (f" ({r['later_failed_at_s']})" if r["later_failed"] else "")
                     + f" | {replaced} | {float(r['action_s']):.3f} s |")
    lines += ["", "Times are from the moment the removal was asked for (`docker rm -f` on the "
              "task's node, or `docker service scale`). The removal's episode ends with the first "
              "10 connections in a row answered by live replicas; failures after it are "
              "counted apart (a replacement coming in, say). A task killed by hand fails the "
              "connections sent to it until every node's balancer drops it; a scale-down "
              "should fail none: dockerd takes the task out of the balancers, waits 2 s for "
              "the gossip to converge, and only then stops it.", "",
              "## mode=host vs ingress", "",
              "| publish mode | node | task on the node | answered | refused/failed | "
              "answered by tasks on | source seen |", "|---|---|---|---|---|---|---|"]
    for h in host_rows:
        lines.append(f"| {h['mode']} | {h['node']} | {'yes' if h['task_on_node'] else 'no'} | "
                     f"{h['answered']}/{h['connections']} | {h['errors'] or '-'} | "
                     f"{h['answering_nodes'] or '-'} | {h['sources'] or '-'} |")
    lines += ["", "![shares, latency and publish modes](routing_mesh.png)", "",
              "![removals](removal.png)", "",
              "Files: `connections.csv` (one row per connection), `replicas.csv`, "
              "`entries.csv`, `shares.csv`, `latency.csv`, `removal.csv`, `host_mode.csv`, "
              "`observations.csv`, `routing_mesh.png`, `removal.png`.", "",
              "## Checks", ""]
    return "\n".join(lines) + "\n" + checks_table_md(outcome.checks)


# -- plots --------------------------------------------------------------------------------


def plots(main: Path, removal_png: Path, shares: list[dict], rows: list[dict],
          latency: list[dict], host_rows: list[dict], removal_rows: list[dict],
          removal: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    _shares(axes[0], shares)
    _latency_ecdf(axes[1], rows, latency)
    _publish_grid(axes[2], host_rows)
    fig.tight_layout()
    fig.savefig(main, dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(len(removal) or 1, 2, figsize=(15, 2.8 * max(len(removal), 1)),
                             squeeze=False, gridspec_kw={"width_ratios": (3, 2)})
    for (whole, zoom), summary in zip(axes, removal, strict=False):
        mine = [r for r in removal_rows if r["phase"] == summary["event"]]
        _timeline(whole, mine, summary, legend=False)
        end = max(0.3, 2 * float(summary["stopped_after_s"] or 0) + 0.1)
        _timeline(zoom, [r for r in mine if -0.1 <= float(r["t_s"]) <= end], summary,
                  legend=True)
        zoom.set_title(f"{summary['event']}: the first {end:.2f} s")
    fig.tight_layout()
    fig.savefig(removal_png, dpi=110)
    plt.close(fig)


def _shares(ax, shares: list[dict]) -> None:
    entries = list(dict.fromkeys(s["entry"] for s in shares))
    replicas = list(dict.fromkeys(s["replica"] for s in shares))
    width = 0.8 / max(len(replicas), 1)
    for i, replica in enumerate(replicas):
        mine = [next(s for s in shares if s["entry"] == e and s["replica"] == replica)
                for e in entries]
        xs = [j + (i - (len(replicas) - 1) / 2) * width for j in range(len(entries))]
        ax.bar(xs, [100 * s["share"] for s in mine], width, color=OKABE_ITO[i % 8],
               label=f"replica {replica} (on {mine[0]['replica_node']})")
    if shares:
        ax.axhline(100 * shares[0]["uniform_share"], color="black", ls="--", lw=1,
                   label="equal share")
    ax.set_xticks(range(len(entries)), entries)
    ax.set(xlabel="node entered (its underlay address, port 8080)",
           ylabel="share of connections (%)", ylim=(0, 100),
           title="Which replica answers, per node entered")
    ax.legend(fontsize=7)


def _latency_ecdf(ax, rows: list[dict], latency: list[dict]) -> None:
    for path in PATHS:
        values = sorted(float(r["latency_ms"]) for r in rows
                        if r["path"] == path and r["latency_ms"] is not None)
        if not values:
            continue
        ys = [0.0] + [(i + 1) / len(values) for i in range(len(values))]
        ax.step([values[0], *values], ys, where="post", color=PATH_COLOURS[path],
                label=f"{path}: median {_interval(_latency(latency, 'median', path))}")
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="connect to close (ms, log scale)",
           ylabel="fraction of connections (ECDF)", ylim=(0, 1.02),
           title="Connection time: mesh vs mode=host")
    ax.legend(fontsize=6.5, loc="lower right")


def _publish_grid(ax, host_rows: list[dict]) -> None:
    modes = list(dict.fromkeys(h["mode"] for h in host_rows))
    nodes = list(dict.fromkeys(h["node"] for h in host_rows))
    cells = [[0.0] * len(nodes) for _ in modes]
    for h in host_rows:
        share = h["answered"] / h["connections"] if h["connections"] else 0.0
        cells[modes.index(h["mode"])][nodes.index(h["node"])] = share
        text = (f"{h['answered']}/{h['connections']}\n"
                f"{'task here' if h['task_on_node'] else 'no task'}")
        ax.text(nodes.index(h["node"]), modes.index(h["mode"]), text, ha="center",
                va="center", fontsize=8, color="black" if share > 0.5 else "white")
    ax.imshow(cells, cmap="cividis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(nodes)), nodes)
    ports = {h["mode"]: h["port"] for h in host_rows}
    ax.set_yticks(range(len(modes)), [f"{m} ({ports[m]})" for m in modes])
    ax.set(xlabel="node entered", ylabel="publish mode (port)",
           title="Connections answered (share; dark = none)")


def _timeline(ax, rows: list[dict], summary: dict, legend: bool) -> None:
    removed = set(summary["removed"].split())
    entries = list(dict.fromkeys(r["entry"] for r in rows))
    kinds = (("answered by a remaining replica", OKABE_ITO[0], "o"),
             ("answered by the removed task", OKABE_ITO[5], "s"),
             ("answered by a new task", OKABE_ITO[2], "^"),
             ("failed", "black", "x"))

    def kind(r: dict) -> str:
        if not r["ok"]:
            return "failed"
        if r["hostname"] in removed:
            return "answered by the removed task"
        if r["hostname"] == summary["replacement"]:
            return "answered by a new task"
        return "answered by a remaining replica"

    for label, colour, marker in kinds:
        mine = [r for r in rows if kind(r) == label]
        if mine or legend:  # every kind in the legend, seen in this panel or not
            ax.scatter([float(r["t_s"]) for r in mine],
                       [entries.index(r["entry"]) for r in mine], s=10, c=colour,
                       marker=marker, label=label, linewidths=1)
    ax.axvline(0, color="grey", lw=1, ls=":")
    if summary["stopped_after_s"] is not None:
        ax.axvline(float(summary["stopped_after_s"]), color=OKABE_ITO[5], lw=1, ls="--",
                   label="balancers stopped using it")
    ax.set_yticks(range(len(entries)), entries)
    ax.set(xlabel=f"seconds since the removal was asked for ({summary['event']})",
           ylabel="node entered", title=f"{summary['event']}: {summary['failed']} failed "
           f"of {summary['connections']} connections")
    if legend:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
