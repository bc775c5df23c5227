"""The `isolation` experiment: who reaches whom, measured on the wire.

Probes ICMP, TCP SYN and UDP (and ARP who-has, for layer-2 adjacency) between
every container address, the Docker hosts and the outside host, compares each
cell with what the CNM state says Docker does, and writes the matrix, a heatmap,
the captures and a summary. Any cell that differs fails the run.

Then, on the same lab, an overlay section: h1 initialises a swarm, h2 joins it as
a worker, two attachable overlays ov1 and ov2 get a container on each host (and
one on h1 on ov1 and a local bridge), and the same probes run between these
containers' addresses (overlay, `docker_gwbridge`, bridge), the Docker hosts and
the outside host. Each host's `docker_gwbridge` is made beforehand with a subnet
of its own, as Docker's documentation shows: left to the default pool both hosts
would pick 172.18.0.0/16 and hand out the same addresses, so a gwbridge address
would not name one container. The section is undone afterwards (containers,
overlays, swarm membership, bridges), leaving the lab as it was.

The main matrix reads each host through its Engine API, so it runs as well on hosts
running a real dockerd (`engine: docker`). The overlay section drives the emulated
engines' swarm directly and is left out, with the reason, where a host is real.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib.resources import files

from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.lab import Lab
from emulator.probes import ALL_PROTOCOLS, ProbeEngine
from emulator.probes.apistate import LabState, read_lab
from emulator.probes.expected import Expectations, lab_nodes, lab_sources
from emulator.probes.matrix import Cell, axes, compare, truth_table
from emulator.swarm.cluster import GWBRIDGE, GWBRIDGE_OPTIONS

WINDOW_S = 0.5
MANAGER, WORKER = "h1", "h2"
OVERLAYS = ("ov1", "ov2")
LOCAL_BRIDGE = ("obr", "10.15.0.0/24")  # on the manager, for the dual-homed container
GWBRIDGE_SUBNETS = {MANAGER: "10.18.0.0/24", WORKER: "10.28.0.0/24"}
OVERLAY_CONTAINERS = (  # (host, name, networks)
    (MANAGER, "o1a", ("ov1",)),
    (WORKER, "o1b", ("ov1",)),
    (MANAGER, "o2a", ("ov2",)),
    (WORKER, "o2b", ("ov2",)),
    (MANAGER, "o1l", ("ov1", LOCAL_BRIDGE[0])),
)


def default_topology_path() -> str:
    return str(files("emulator.experiments") / "topologies" / "isolation.yaml")


class OverlaySectionRefused(RuntimeError):
    pass


def measure(lab: Lab, capture: bool = False, containers: Collection[str] | None = None,
            state: LabState | None = None) -> tuple[list[Cell], ProbeEngine]:
    """Probe every source namespace to every address (of the `host/name` containers
    given, with the Docker hosts and the outside host); compare with what the hosts'
    Engine APIs say (`state`, read now unless given)."""
    state = state or read_lab(lab)
    sources = lab_sources(state, containers=containers)
    targets = [n for n in lab_nodes(state, containers=containers) if n.address is not None]
    engine = ProbeEngine(window=WINDOW_S, capture=capture)
    results = engine.run([n.target for n in sources], [n.target for n in targets], ALL_PROTOCOLS)
    return compare(sources + targets, results, Expectations(state)), engine


def real_hosts(lab: Lab) -> list[str]:
    """The hosts of the lab that run a real dockerd rather than the emulated engine."""
    return [name for name, host in lab.hosts.items()
            if host.kind != "emulated"]


def overlay_refusal(lab: Lab) -> str | None:
    """Why the overlay section cannot run on this lab, if it cannot."""
    real = [name for name in real_hosts(lab) if name in (MANAGER, WORKER)]
    if real:
        return (f"the overlay section drives the emulated engine's swarm directly, and "
                f"{', '.join(real)} run{'s' if len(real) == 1 else ''} a real dockerd "
                "(engine: docker)")
    return None


def has_overlay_section(lab: Lab) -> bool:
    return {MANAGER, WORKER} <= set(lab.hosts)


@contextmanager
def overlay_section(lab: Lab) -> Iterator[list[str]]:
    """A two-host swarm with two overlays and their containers, for as long as the
    block runs; yields the containers' `host/name`s. Undone on the way out."""
    if reason := overlay_refusal(lab):
        raise OverlaySectionRefused(f"no overlay section on lab {lab.name}: {reason}")
    manager, worker = lab.host(MANAGER), lab.host(WORKER)
    try:
        for host in (manager, worker):
            host.networks.create(GWBRIDGE, "bridge", subnet=GWBRIDGE_SUBNETS[host.name],
                                 options=GWBRIDGE_OPTIONS)
        manager.networks.create(LOCAL_BRIDGE[0], "bridge", subnet=LOCAL_BRIDGE[1])
        manager.engine.swarm_init()
        token = manager.engine.swarm_join_token("worker")
        worker.engine.swarm_join([f"{manager.address}:2377"], token)
        for name in OVERLAYS:
            manager.networks.create(name, "overlay", attachable=True)
        for host, name, networks in OVERLAY_CONTAINERS:
            lab.host(host).containers.run(name, networks=list(networks))
        yield [f"{host}/{name}" for host, name, _ in OVERLAY_CONTAINERS]
    finally:
        undo_overlay_section(lab)


def undo_overlay_section(lab: Lab) -> None:
    """Remove what overlay_section made, whatever part of it exists: containers,
    overlays, swarm membership (worker first), then the local bridges."""
    manager, worker = lab.host(MANAGER).engine, lab.host(WORKER).engine
    for host, name, _ in OVERLAY_CONTAINERS:
        engine = lab.host(host).engine
        if any(c.name == name for c in engine.containers.values()):
            engine.remove_container(name, force=True)
    for name in OVERLAYS:
        if any(n.name == name for n in manager.networks.values()):
            manager.remove_network(name)
    for engine, force in ((worker, False), (manager, True)):
        if engine.swarm is not None:
            engine.swarm_leave(force=force)
    for engine, names in ((manager, (GWBRIDGE, LOCAL_BRIDGE[0])), (worker, (GWBRIDGE,))):
        for name in names:
            if any(n.name == name for n in engine.networks.values()):
                engine.remove_network(name)


def measure_overlays(lab: Lab, capture: bool = False) -> tuple[list[Cell], ProbeEngine]:
    """Set up the overlay section, probe it, undo it."""
    with overlay_section(lab) as containers:
        return measure(lab, capture, containers)


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


def _rows(cells: list[Cell]) -> list[dict[str, object]]:
    return [{**asdict(c), "expected": c.expected.value, "observed": c.observed.value}
            for c in cells]


def _tables(cells: list[Cell]) -> str:
    return "\n\n".join(truth_table(cells, p, which) for p in ALL_PROTOCOLS
                       for which in ("expected", "observed", "diff"))


def _differ_md(cells: list[Cell]) -> str:
    return "\n".join(f"- {c.source} -> {c.target} {c.protocol}: expected {c.expected.value}, "
                     f"observed {c.observed.value} ({c.evidence})" for c in cells if c.wrong)


@register("isolation", "reachability truth table of Docker's isolation, probed on the wire")
def run(ctx: RunContext) -> Outcome:
    topology = ctx.params.get("topology")
    path = topology if topology and topology != "<default>" else default_topology_path()
    ctx.params["topology"] = str(path)
    overlay: list[Cell] = []
    ov_sent, overlay_s = 0, 0.0
    skipped = None
    with Lab.load(path, f"is{ctx.run_id[-4:]}") as lab:
        state = read_lab(lab)
        ctx.progress(f"probing {len(lab_nodes(state))} nodes with {', '.join(ALL_PROTOCOLS)}")
        cells, engine = measure(lab, capture=True, state=state)
        pcaps = engine.write_pcaps(ctx.dir)
        sent = engine.sent
        if has_overlay_section(lab) and (skipped := overlay_refusal(lab)):
            ctx.progress(f"overlay section left out: {skipped}")
        elif has_overlay_section(lab):
            ctx.progress(f"overlay section: swarm {MANAGER}+{WORKER}, {', '.join(OVERLAYS)}, "
                         f"{len(OVERLAY_CONTAINERS)} containers")
            started = time.monotonic()
            overlay, ov_engine = measure_overlays(lab, capture=True)
            overlay_s = time.monotonic() - started
            (ctx.dir / "overlay").mkdir(exist_ok=True)
            pcaps += ov_engine.write_pcaps(ctx.dir / "overlay")
            ov_sent = ov_engine.sent
            sent += ov_sent
    ctx.write_rows("matrix.csv", _rows(cells))
    heatmap(cells, ctx.path("heatmap.png"))
    tables = _tables(cells)
    print(tables)
    checks = [Check("matrix", f"{c.source} -> {c.target} ({c.protocol})", c.expected.value,
                    c.observed.value, not c.wrong, c.evidence) for c in cells]
    wrong = [c for c in cells if c.wrong]
    ov_wrong = [c for c in overlay if c.wrong]
    total = len(cells) + len(overlay)
    headline = (f"{total - len(wrong) - len(ov_wrong)}/{total} cells as Docker; "
                f"{len(wrong) + len(ov_wrong)} wrong; {sent} probes")
    summary = (f"# isolation\n\n{headline}.\n\nTopology: `{path}`; {len(pcaps)} captures; "
               "heatmap: ![heatmap](heatmap.png)\n\n```\n" + tables + "\n```\n")
    if wrong:
        summary += "\n## Cells that differ\n\n" + _differ_md(cells) + "\n"
    if skipped:
        summary += f"\n## Overlay section\n\nLeft out: {skipped}.\n"
    if overlay:
        ctx.write_rows("overlay_matrix.csv", _rows(overlay))
        heatmap(overlay, ctx.path("overlay_heatmap.png"))
        ov_tables = _tables(overlay)
        print("\noverlay section\n\n" + ov_tables)
        checks += [Check("overlay", f"{c.source} -> {c.target} ({c.protocol})",
                         c.expected.value, c.observed.value, not c.wrong, c.evidence)
                   for c in overlay]
        summary += (
            f"\n## Overlay section\n\n{len(overlay) - len(ov_wrong)}/{len(overlay)} cells as "
            f"Docker; {len(ov_wrong)} wrong; {ov_sent} probes; {overlay_s:.1f} s with "
            f"setup and teardown. Swarm: {MANAGER} manager, {WORKER} worker; attachable "
            f"overlays {', '.join(OVERLAYS)}; containers "
            + ", ".join(f"{h}/{n} on {'+'.join(nets)}" for h, n, nets in OVERLAY_CONTAINERS)
            + "; docker_gwbridge subnets "
            + ", ".join(f"{h} {s}" for h, s in GWBRIDGE_SUBNETS.items())
            + ". Captures under `overlay/`; heatmap: ![overlay heatmap](overlay_heatmap.png)"
            "\n\n```\n" + ov_tables + "\n```\n")
        if ov_wrong:
            summary += "\n### Overlay cells that differ\n\n" + _differ_md(overlay) + "\n"
    figures = {"cells": len(cells), "wrong": len(wrong), "overlay_cells": len(overlay),
               "overlay_wrong": len(ov_wrong)}
    outcome = Outcome(not wrong and not ov_wrong, headline, checks, figures)
    ctx.finish(outcome, summary)
    return outcome
