"""The `isolation` experiment: who reaches whom, measured on the wire.

Probes ICMP, TCP SYN and UDP (and ARP who-has, for layer-2 adjacency) between
every container address, the Docker hosts and the outside host, compares each
cell with what the CNM state says Docker does, and writes the matrix, a heatmap,
the captures and a summary. Any cell that differs fails the run.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib.resources import files

from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.lab import Lab
from emulator.probes import ALL_PROTOCOLS, ProbeEngine
from emulator.probes.expected import Expectations, lab_nodes, lab_sources
from emulator.probes.matrix import Cell, axes, compare, truth_table

WINDOW_S = 0.5


def default_topology_path() -> str:
    return str(files("emulator.experiments") / "topologies" / "isolation.yaml")


def measure(lab: Lab, capture: bool = False) -> tuple[list[Cell], ProbeEngine]:
    """Probe every source namespace to every address; compare with the CNM state."""
    sources = lab_sources(lab)
    targets = [n for n in lab_nodes(lab) if n.address is not None]
    engine = ProbeEngine(window=WINDOW_S, capture=capture)
    results = engine.run([n.target for n in sources], [n.target for n in targets], ALL_PROTOCOLS)
    return compare(sources + targets, results, Expectations(lab)), engine


def heatmap(cells: list[Cell], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    fig, panels = plt.subplots(1, len(ALL_PROTOCOLS), figsize=(5.5 * len(ALL_PROTOCOLS), 6.5))
    colors = ListedColormap(["#d9d9d9", "#4c9a2a", "#d62728", "#ff7f0e"])
    for ax, protocol in zip(panels, ALL_PROTOCOLS, strict=True):
        chosen = [c for c in cells if c.protocol == protocol]
        sources, targets = axes(chosen)
        grid = [[0.0] * len(targets) for _ in sources]
        for c in chosen:
            value = 1 if c.observed.value == "reached" else 0
            if c.wrong:
                value = 2 if c.observed.value == "reached" else 3
            grid[sources.index(c.source)][targets.index(c.target)] = value
        ax.imshow(grid, cmap=colors, vmin=0, vmax=3)
        ax.set_xticks(range(len(targets)), targets, rotation=90, fontsize=7)
        ax.set_yticks(range(len(sources)), sources, fontsize=7)
        ax.set_title(f"{protocol}: green reached, grey blocked, red/orange differs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@register("isolation", "reachability truth table of Docker's isolation, probed on the wire")
def run(ctx: RunContext) -> Outcome:
    topology = ctx.params.get("topology")
    path = topology if topology and topology != "<default>" else default_topology_path()
    ctx.params["topology"] = str(path)
    with Lab.load(path, f"is{ctx.run_id[-4:]}") as lab:
        ctx.progress(f"probing {len(lab_nodes(lab))} nodes with {', '.join(ALL_PROTOCOLS)}")
        cells, engine = measure(lab, capture=True)
        pcaps = engine.write_pcaps(ctx.dir)
    rows = [{**asdict(c), "expected": c.expected.value, "observed": c.observed.value}
            for c in cells]
    ctx.write_rows("matrix.csv", rows)
    heatmap(cells, ctx.path("heatmap.png"))
    wrong = [c for c in cells if c.wrong]
    tables = "\n\n".join(truth_table(cells, p, which) for p in ALL_PROTOCOLS
                         for which in ("expected", "observed", "diff"))
    print(tables)
    checks = [Check("matrix", f"{c.source} -> {c.target} ({c.protocol})", c.expected.value,
                    c.observed.value, not c.wrong, c.evidence) for c in cells]
    headline = (f"{len(cells) - len(wrong)}/{len(cells)} cells as Docker; {len(wrong)} wrong; "
                f"{engine.sent} probes")
    summary = (f"# isolation\n\n{headline}.\n\nTopology: `{path}`; {len(pcaps)} captures; "
               "heatmap: ![heatmap](heatmap.png)\n\n```\n" + tables + "\n```\n")
    if wrong:
        summary += "\n## Cells that differ\n\n" + "\n".join(
            f"- {c.source} -> {c.target} {c.protocol}: expected {c.expected.value}, observed "
            f"{c.observed.value} ({c.evidence})" for c in wrong) + "\n"
    outcome = Outcome(not wrong, headline, checks, {"cells": len(cells), "wrong": len(wrong)})
    ctx.finish(outcome, summary)
    return outcome
