"""The `isolation` experiment: who reaches whom, measured on the wire.

Probes ICMP, TCP SYN and UDP (and ARP who-has, for layer-2 adjacency) between
every container address, the Docker hosts and the outside host, compares each
cell with what the CNM state says Docker does, and writes the matrix, a heatmap,
the captures and a summary. Any cell that differs fails the run.

Where containers have IPv6 addresses (dual-stack networks), every cell exists per
family: the same sources probe each IPv6 address too, with ICMPv6 echo, TCP and
UDP over IPv6 and neighbour solicitation in place of ARP, judged by Docker 28's
rules (as IPv4 for bridge: one network reachable, other networks isolated, an
internal network no way out). The tables put each protocol's IPv4 and IPv6 truth
tables side by side, the heatmap has a row of panels per family, and a cell
isolated over IPv4 but reached over IPv6 (the hole Docker had before ip6tables)
is listed apart and fails the run. A lab without IPv6 addresses gets the IPv4
matrix alone, as before.

Then, on the same lab, an overlay section: h1 initialises a swarm, h2 joins it as
a worker, two attachable overlays ov1 and ov2 get a container on each host (and
one on h1 on ov1 and a local bridge), and the same probes run between these
containers' addresses (overlay, `docker_gwbridge`, bridge), the Docker hosts and
the outside host. Each host's `docker_gwbridge` is made beforehand with a subnet
of its own, as Docker's documentation shows: left to the default pool both hosts
would pick 172.18.0.0/16 and hand out the same addresses, so a gwbridge address
would not name one container. The section is undone afterwards (containers,
overlays, swarm membership, bridges), leaving the lab as it was.

A `dns` section asks, from inside every container's namespace, the embedded DNS
at 127.0.0.11:53 for every container name, alias and hostname of the lab
(probes/dnstable.py): a name x source table, expected from the Engine API state.
A `published` section runs a container publishing ports on h1 (TCP on 0.0.0.0 and
on 127.0.0.1, UDP) and reaches them from the host itself, containers on the same
and another network, another Docker host, a container there and the outside host
(probes/published.py); it removes the container afterwards.

All parts go through each host's Engine API only (the matrix reads it, the overlay
section drives it with docker-py), so they run alike on hosts running the emulated
engine and on hosts running a real dockerd 20.10 (`engine: docker`), in any mix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.resources import files

import docker
import docker.errors
import docker.types

from emulator.experiments import palette, vipcells
from emulator.experiments.polling import until as _until
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.experiments.vipcells import VipCell, measure_vips
from emulator.lab import Lab
from emulator.probes import ALL_PROTOCOLS, ProbeEngine, dnstable, ndp
from emulator.probes import published as pub
from emulator.probes.apistate import LabState, read_lab
from emulator.probes.expected import Expectations, has_ipv6, lab_nodes, lab_sources
from emulator.probes.matrix import (
    FAMILY_PAIRS,
    Cell,
    axes,
    compare,
    families,
    leaks,
    pair_columns,
    side_by_side,
    truth_table,
)
from emulator.probes.model import IPV4, IPV6, NDP
from emulator.swarm.cluster import GWBRIDGE, GWBRIDGE_OPTIONS, MANAGER_PORT

WINDOW_S = 0.5
DNS_WINDOW_S = 0.75
PUBLISHED_WINDOW_S = 1.5
DAD_TIMEOUT_S = 10.0  # RFC 4862 DAD takes a second or two per address
# The published section: who publishes, and who tries (missing ones are skipped).
PUBLISHER = ("h1", "pub", "front")  # (host, container, network)
PUBLISHED_SOURCES = (  # (host, container or None for the host itself, relation)
    ("h1", None, pub.THE_HOST),
    ("h1", "f1", pub.SAME_NETWORK),
    ("h1", "b1", pub.OTHER_NETWORK),
    ("h2", None, pub.OTHER_HOST),
    ("h2", "g1", pub.OTHER_HOST_CONTAINER),
)
CONVERGE_TIMEOUT_S = 60.0  # for a real dockerd's gossip and deferred cleanup
IMAGE, COMMAND = "alpine", ["sleep", "infinity"]
# A Docker host's own probe reusing the tag (ICMP identifier, source port) of a probe
# its containers sent through its masquerading moments before clashes with that
# conntrack entry: on a real dockerd the kernel then rewrites the identifier or port,
# and the reply, captured before it is translated back, names no probe. The overlay
# section's sources are tagged apart from the main matrix's (fewer than this many).
OVERLAY_FIRST_TAG = 0x2000
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


def dualstack_topology_path() -> str:
    """The same lab with dual-stack networks and an IPv6 underlay (`--topology` it)."""
    return str(files("emulator.experiments") / "topologies" / "isolation-dualstack.yaml")


def measure(lab: Lab, capture: bool = False, containers: Collection[str] | None = None,
            state: LabState | None = None, first_tag: int = 0) -> tuple[list[Cell], ProbeEngine]:
    """Probe every source namespace to every address (of the `host/name` containers
    given, with the Docker hosts and the outside host); compare with what the hosts'
    Engine APIs say (`state`, read now unless given). Sources are tagged from
    `first_tag` on (their ICMP identifiers and source ports). IPv6 addresses are
    targets too (and NDP a protocol) where the lab has any."""
    state = state or read_lab(lab)
    ipv6 = has_ipv6(state)
    sources = lab_sources(state, containers=containers)
    targets = [n for n in lab_nodes(state, containers=containers, ipv6=ipv6)
               if n.address is not None]
    if ipv6:
        wait_ipv6_settled({n.name.split("@")[0]: n.pid for n in sources + targets})
    engine = ProbeEngine(window=WINDOW_S, capture=capture)
    results = engine.run([n.target for n in sources], [n.target for n in targets],
                         protocols_for(ipv6), first_tag)
    return compare(sources + targets, results, Expectations(state)), engine


def wait_ipv6_settled(pids: Mapping[str, int], timeout: float = DAD_TIMEOUT_S) -> None:
    """Until no namespace probed has an IPv6 address still running DAD: a tentative
    address (a real dockerd 20.10's bridge gateway, for a second or two after the
    network is made) answers nothing, and its probes would read as isolation."""
    pending: dict[str, list[str]] = {}

    def settled() -> bool:
        pending.clear()
        for name, pid in pids.items():
            if found := ndp.tentative(pid):
                pending[name] = [str(a.interface) for a in found]
        return not pending

    _until(settled, timeout, lambda: f"IPv6 addresses still tentative (DAD): {pending}")


def protocols_for(ipv6: bool) -> tuple[str, ...]:
    """ICMP, TCP, UDP and ARP; and NDP for the IPv6 targets of a lab that has some."""
    return (*ALL_PROTOCOLS, NDP) if ipv6 else ALL_PROTOCOLS


def has_overlay_section(lab: Lab) -> bool:
    return {MANAGER, WORKER} <= set(lab.hosts)


@contextmanager
def overlay_section(lab: Lab) -> Iterator[list[str]]:
    """A two-host swarm with two overlays and their containers, for as long as the
    block runs; yields the containers' `host/name`s. Undone on the way out.

    Everything goes through the hosts' Engine APIs (docker-py), so the hosts may run
    the emulated engine or a real dockerd, in any mix."""
    manager, worker = lab.host(MANAGER), lab.host(WORKER)
    try:
        for host in (manager, worker):
            _create_bridge(host.client, GWBRIDGE, GWBRIDGE_SUBNETS[host.name], GWBRIDGE_OPTIONS)
        _create_bridge(manager.client, *LOCAL_BRIDGE)
        # The advertise address is the host's underlay one: a real dockerd would
        # otherwise refuse to choose among its host's addresses.
        manager.client.swarm.init(advertise_addr=str(manager.address),
                                  listen_addr=f"{manager.address}:{MANAGER_PORT}")
        token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
        worker.client.swarm.join(remote_addrs=[f"{manager.address}:{MANAGER_PORT}"],
                                 join_token=token, advertise_addr=str(worker.address),
                                 listen_addr=f"{worker.address}:{MANAGER_PORT}")
        for name in OVERLAYS:
            manager.client.networks.create(name, driver="overlay", attachable=True)
        for host, name, networks in OVERLAY_CONTAINERS:
            _run_container(lab.host(host).client, name, networks)
        wait_overlays_known(lab)
        yield [f"{host}/{name}" for host, name, _ in OVERLAY_CONTAINERS]
    finally:
        undo_overlay_section(lab)


def _create_bridge(client: docker.DockerClient, name: str, subnet: str,
                   options: Mapping[str, str] | None = None) -> None:
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    client.networks.create(name, driver="bridge", ipam=ipam, options=dict(options or {}),
                           check_duplicate=True)


def _run_container(client: docker.DockerClient, name: str, networks: tuple[str, ...]) -> None:
    """`docker run -d --name NAME --network A [--network B] alpine sleep infinity`: the
    first network at create, the others connected before start. On a swarm worker an
    attachable overlay it has never seen is found through the manager."""
    api = client.api
    first, *others = networks
    created = api.create_container(
        IMAGE, COMMAND, name=name, detach=True,
        host_config=api.create_host_config(network_mode=first),
        networking_config=api.create_networking_config({first: api.create_endpoint_config()}))
    for network in others:
        api.connect_container_to_network(created["Id"], network)
    api.start(created["Id"])


def _section_tasks(overlay: str) -> set[str]:
    return {name for _, name, networks in OVERLAY_CONTAINERS if overlay in networks}


def wait_overlays_known(lab: Lab, timeout: float = CONVERGE_TIMEOUT_S) -> None:
    """Until every host with a container on an overlay knows all the section's
    containers on it, wherever they run. A real swarm spreads endpoints between nodes
    by gossip, a moment after each start; its verbose network inspect lists those
    known (`Services[""].Tasks`). The emulated swarm's state is one object, known to
    every node at once: its inspect has no `Services`, and nothing is waited for."""
    pending = {(host, overlay) for host, _, networks in OVERLAY_CONTAINERS
               for overlay in networks if overlay in OVERLAYS}

    def known(host: str, overlay: str) -> bool:
        doc = lab.host(host).client.api.inspect_network(overlay, verbose=True)
        if "Services" not in doc:
            return True
        tasks = {t.get("Name") for s in (doc["Services"] or {}).values()
                 for t in s.get("Tasks") or []}
        return _section_tasks(overlay) <= tasks

    def all_known() -> bool:
        pending.difference_update({p for p in pending if known(*p)})
        return not pending

    _until(all_known, timeout,
           lambda: f"overlay endpoints not yet known by gossip on {sorted(pending)}")


def undo_overlay_section(lab: Lab) -> None:
    """Remove what overlay_section made, whatever part of it exists: containers,
    overlays, swarm membership (worker first), then the local bridges. Where a real
    dockerd lets go of something a moment later (an overlay attachment released on
    the worker, the ingress sandbox's `docker_gwbridge` endpoint after a leave), the
    removal is tried again until it goes or the time is up."""
    manager, worker = lab.host(MANAGER).client, lab.host(WORKER).client
    for host, name, _ in OVERLAY_CONTAINERS:
        _remove(lambda h=host, n=name: lab.host(h).client.api.remove_container(n, force=True))
    for name in OVERLAYS:
        _remove(lambda n=name: manager.api.remove_network(n))
    for client, force in ((worker, False), (manager, True)):
        if client.info()["Swarm"]["LocalNodeState"] != "inactive":
            client.swarm.leave(force=force)
    for client, names in ((manager, (GWBRIDGE, LOCAL_BRIDGE[0])), (worker, (GWBRIDGE,))):
        for name in names:
            _remove(lambda c=client, n=name: c.api.remove_network(n))


def _remove(remove: Callable[[], object], timeout: float = CONVERGE_TIMEOUT_S) -> None:
    """Call `remove` until it succeeds or says the thing is not there."""
    last: list[docker.errors.APIError] = []

    def attempt() -> bool | None:
        try:
            remove()
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as error:
            last[:] = [error]
            return None
        return True

    _until(attempt, timeout, lambda: str(last[0]) if last else "")


def measure_overlays(lab: Lab, capture: bool = False
                     ) -> tuple[list[Cell], ProbeEngine, list[VipCell]]:
    """Set up the overlay section, probe it, reach a service's VIP from it, undo it. Its
    probes carry tags of their own (OVERLAY_FIRST_TAG on), never those of the main
    matrix just before."""
    with overlay_section(lab) as containers:
        cells, engine = measure(lab, capture, containers, first_tag=OVERLAY_FIRST_TAG)
        return cells, engine, measure_vips(lab, MANAGER, list(OVERLAY_CONTAINERS))


def measure_dns(state: LabState) -> tuple[list[dnstable.DnsCell], dnstable.DnsProber]:
    """The dns section: every container asks 127.0.0.11 for every name of the lab."""
    return dnstable.measure(state, DNS_WINDOW_S)


@dataclass(frozen=True)
class PublishedCell:
    source: str
    relation: str
    target: str  # "host address:8080/tcp", "127.0.0.1:8081/tcp", or "inspect 80/tcp"
    binding: str  # the -p spec
    expected: str  # reached / blocked, or the inspect's binding
    observed: str
    evidence: str
    rtt_ms: float | None

    @property
    def wrong(self) -> bool:
        return self.expected != self.observed


def has_published_section(state: LabState) -> bool:
    host, _, network = PUBLISHER
    return any(h.name == host and any(n.name == network for n in h.networks.values())
               for h in state.hosts)


def published_sources(lab: Lab, state: LabState) -> list[pub.PortSource]:
    """The section's sources that exist on this lab, and the outside host."""
    pids = {f"{h.name}/{c.name}": c.pid for h in state.hosts for c in h.containers}
    found = []
    for host, container, relation in PUBLISHED_SOURCES:
        if host not in lab.hosts:
            continue
        if container is None:
            found.append(pub.PortSource(host, lab.node_pid(host), relation))
        elif f"{host}/{container}" in pids:
            found.append(pub.PortSource(f"{host}/{container}", pids[f"{host}/{container}"],
                                        relation))
    found.append(pub.PortSource("outside", lab.node_pid("outside"), pub.OUTSIDE))
    return found


def measure_published(lab: Lab, state: LabState | None = None) -> list[PublishedCell]:
    """Run the publishing container, reach its ports from every source, remove it."""
    state = state or read_lab(lab)
    host_name, name, network = PUBLISHER
    host = lab.host(host_name)
    client = host.client
    cells: list[PublishedCell] = []
    try:
        container = client.containers.run(IMAGE, COMMAND, name=name, detach=True,
                                          network=network, ports=pub.docker_py_ports())
    except docker.errors.APIError as error:
        reason = f"docker run -p refused: {error.explanation or error}"
        return [PublishedCell(p.source.name, p.source.relation, p.target, p.binding.spec,
                              _reach(pub.expected_reach(p.source.relation, p.via, p.binding)),
                              "error", reason, None)
                for p in pub.probes(published_sources(lab, state), host.address)]
    try:
        doc = client.api.inspect_container(container.id)
        cells += _inspect_cells(f"{host_name}/{name}", doc)
        listeners = pub.Listeners(int(doc["State"]["Pid"]))
        try:
            plan = pub.probes(published_sources(lab, state), host.address)
            for probe, verdict, note, rtt in pub.observe(listeners, plan, PUBLISHED_WINDOW_S):
                expected = pub.expected_reach(probe.source.relation, probe.via, probe.binding)
                cells.append(PublishedCell(
                    probe.source.name, probe.source.relation, probe.target, probe.binding.spec,
                    _reach(expected), _reach(verdict == "reached"),
                    f"{verdict}; {note}" if note else verdict, rtt))
        finally:
            listeners.close()
    finally:
        _remove(lambda: client.api.remove_container(name, force=True))
    return cells


def _reach(reached: bool) -> str:
    return "reached" if reached else "blocked"


def _inspect_cells(container: str, doc: Mapping) -> list[PublishedCell]:
    """`docker port`'s source: NetworkSettings.Ports holds each binding (a real 20.10
    lists a `::` twin of a 0.0.0.0 one; only the IPv4 bindings are compared)."""
    ports = (doc.get("NetworkSettings") or {}).get("Ports") or {}
    cells = []
    for b in pub.BINDINGS:
        key = f"{b.container_port}/{b.protocol}"
        shown = sorted(f"{x.get('HostIp')}:{x.get('HostPort')}" for x in ports.get(key) or []
                       if ":" not in (x.get("HostIp") or ""))
        cells.append(PublishedCell(container, "inspect", f"inspect {key}", b.spec,
                                   f"{b.host_ip}:{b.host_port}", " ".join(shown) or "none",
                                   "NetworkSettings.Ports", None))
    return cells


LABELS_CAPTION = ("Labels: h1/f1 = container f1 on Docker host h1; h1/m1@front = its "
                  "address on network front (one per network); h1 = the Docker host itself; "
                  "outside = a machine on the underlay outside Docker. Hosts, networks and "
                  "containers: topology.png.")


def _categorical_panel(ax, grid: list[list[int]], rows: list[str], columns: list[str],
                       categories: tuple[palette.Category, ...]) -> None:
    """One grid of category codes, with cell borders so white cells read as cells."""
    cmap, norm = palette.categorical_map(categories)
    ax.imshow(grid, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xticks([i - 0.5 for i in range(len(columns) + 1)], minor=True)
    ax.set_yticks([i - 0.5 for i in range(len(rows) + 1)], minor=True)
    ax.grid(which="minor", color=palette.GREY, lw=0.4)
    ax.tick_params(which="minor", length=0)


def dns_heatmap_figure(cells: list[dnstable.DnsCell]):
    """Sources by names asked: resolves, no address, or differs from Docker."""
    from matplotlib.figure import Figure

    sources = list(dict.fromkeys(c.source for c in cells))
    names = list(dict.fromkeys(c.asked for c in cells))
    grid = [[palette.NOT_APPLICABLE.code] * len(names) for _ in sources]
    for c in cells:
        grid[sources.index(c.source)][names.index(c.asked)] = palette.reach_code(
            bool(c.observed), c.wrong)
    fig = Figure(figsize=(max(8.0, 0.28 * len(names) + 3), 0.3 * len(sources) + 4),
                 layout="constrained")
    ax = fig.subplots()
    _categorical_panel(ax, grid, sources, names, palette.DNS_CATEGORIES)
    ax.set(xlabel="name asked at 127.0.0.11:53 (container name, alias or hostname)",
           ylabel="source (container asking)",
           title="Embedded DNS: which names each container resolves")
    fig.legend(handles=palette.legend_handles(palette.DNS_CATEGORIES), loc="outside lower center",
               ncol=2, fontsize=8)
    fig.suptitle("Sources are host/container; an answer differs when its addresses are not "
                 "those Docker gives.", fontsize=8)
    return fig


def dns_heatmap(cells: list[dnstable.DnsCell], path) -> None:
    dns_heatmap_figure(cells).savefig(path, dpi=110)


def published_table(cells: list[PublishedCell]) -> str:
    """Sources by targets: `.` reached, `X` blocked, `!` where it differs from Docker."""
    probes_ = [c for c in cells if c.relation != "inspect"]
    sources = list(dict.fromkeys(c.source for c in probes_))
    targets = list(dict.fromkeys(c.target for c in probes_))
    index = {(c.source, c.target): c for c in probes_}
    width = max((len(s) for s in sources), default=1)
    lines = ["published".ljust(width) + "  " + " ".join(f"{i:>2}" for i in range(len(targets)))]
    for source in sources:
        row = []
        for target in targets:
            cell = index.get((source, target))
            symbol = "-" if cell is None else ("!" if cell.wrong else (
                "." if cell.observed == "reached" else "X"))
            row.append(f" {symbol}")
        lines.append(source.ljust(width) + "  " + " ".join(row))
    lines.append("columns: " + ", ".join(f"{i}={t}" for i, t in enumerate(targets)))
    lines.append("legend: '.' reached  'X' blocked  '!' differs from Docker  '-' not tried")
    return "\n".join(lines)


def heatmap_figure(cells: list[Cell]):
    """One panel per protocol (a row of them per family where there are two):
    sources by targets, reached / blocked / not probed / differs from Docker, with a
    legend and what the labels mean."""
    from matplotlib.figure import Figure

    present = families(cells) or [IPV4]
    rows = [[(protocol, family) for protocol in
             ([p4 for p4, _ in FAMILY_PAIRS] if family == IPV4 else [p6 for _, p6 in FAMILY_PAIRS])]
            for family in present]
    fig = Figure(figsize=(5.5 * len(ALL_PROTOCOLS), 7.5 * len(rows)), layout="constrained")
    panels = fig.subplots(len(rows), len(ALL_PROTOCOLS), squeeze=False)
    for row, axes_row in zip(rows, panels, strict=True):
        for ax, (protocol, family) in zip(axes_row, row, strict=True):
            chosen = [c for c in cells if c.protocol == protocol and c.family == family]
            sources, targets = axes(chosen)
            grid = [[palette.NOT_APPLICABLE.code] * len(targets) for _ in sources]
            for c in chosen:
                grid[sources.index(c.source)][targets.index(c.target)] = palette.reach_code(
                    c.observed.value == "reached", c.wrong)
            _categorical_panel(ax, grid, sources, targets, palette.REACH_CATEGORIES)
            suffix = "" if len(rows) == 1 else f" ({family})"
            ax.set(xlabel="target (address probed)", ylabel="source (namespace sending)",
                   title=f"{protocol}{suffix}: who reaches whom")
    fig.legend(handles=palette.legend_handles(), loc="outside lower center",
               ncol=len(palette.REACH_CATEGORIES), fontsize=9)
    fig.suptitle(LABELS_CAPTION, fontsize=9)
    return fig


def heatmap(cells: list[Cell], path) -> None:
    heatmap_figure(cells).savefig(path, dpi=110)


def _topology_plot(state: LabState, path) -> str:
    """Draw the lab (topology.png); the summary's sentence about it."""
    try:
        from emulator.experiments.topology_plot import write_topology_plot
        write_topology_plot(state, path)
    except ImportError as missing:  # networkx, a dependency, not installed here
        return f"The topology was not drawn ({missing}; `pip install -e .` installs it)."
    return ("The lab (hosts, networks, containers; the labels of the tables and heatmaps): "
            "![topology](topology.png)")


def _rows(cells: list[Cell]) -> list[dict[str, object]]:
    return [{**asdict(c), "expected": c.expected.value, "observed": c.observed.value}
            for c in cells]


WHICH = ("expected", "observed", "diff")


def _tables(cells: list[Cell]) -> str:
    """Per protocol: expected, observed, diff; IPv4 and IPv6 side by side where the
    cells have both families."""
    if families(cells) == [IPV4, IPV6]:
        tables = []
        for p4, p6 in FAMILY_PAIRS:
            columns = pair_columns(cells, (p4, p6))
            tables += [side_by_side(truth_table(cells, p4, which, IPV4, columns),
                                    truth_table(cells, p6, which, IPV6, columns))
                       for which in WHICH]
        return "\n\n".join(tables)
    return "\n\n".join(truth_table(cells, p, which) for p in ALL_PROTOCOLS for which in WHICH)


def _differ_md(cells: list[Cell]) -> str:
    return "\n".join(f"- {c.source} -> {c.target} {c.label}: expected {c.expected.value}, "
                     f"observed {c.observed.value} ({c.evidence})" for c in cells if c.wrong)


def _leaks_md(pairs: list[tuple[Cell, Cell]]) -> str:
    return "\n".join(f"- {v6.source} -> {v6.target} {v6.protocol}: IPv4 blocked "
                     f"({v4.evidence}), IPv6 reached ({v6.evidence})" for v4, v6 in pairs)


def _family_summary(cells: list[Cell]) -> str:
    """`; IPv6 n/m as Docker, k isolated over IPv4 only` where there are IPv6 cells."""
    six = [c for c in cells if c.family == IPV6]
    if not six:
        return ""
    wrong = sum(c.wrong for c in six)
    return (f"; IPv6 {len(six) - wrong}/{len(six)} as Docker, {len(leaks(cells))} isolated "
            "over IPv4 only")


def _matrix_checks(part: str, cells: list[Cell]) -> list[Check]:
    """A check per cell, and one failing check per IPv4-isolated, IPv6-reached pair."""
    checks = [Check(part, f"{c.source} -> {c.target} ({c.label})", c.expected.value,
                    c.observed.value, not c.wrong, c.evidence) for c in cells]
    checks += [Check(f"{part}-ipv6-leak", f"{v6.source} -> {v6.target} ({v6.protocol})",
                     "isolated over IPv4 and IPv6", "isolated over IPv4 only", False,
                     f"ipv4: {v4.evidence}; ipv6: {v6.evidence}") for v4, v6 in leaks(cells)]
    return checks


@register("isolation", "reachability truth table of Docker's isolation, probed on the wire",
          params=("topology", "lab"))
def run(ctx: RunContext) -> Outcome:
    topology = ctx.params.get("topology")
    path = topology if topology and topology != "<default>" else default_topology_path()
    ctx.params["topology"] = str(path)
    overlay: list[Cell] = []
    vips: list[VipCell] = []
    ov_sent, overlay_s, engines = 0, 0.0, ""
    with Lab.load(path, str(ctx.params.get("lab") or f"is{ctx.run_id[-4:]}")) as lab:
        state = read_lab(lab)
        ipv6 = has_ipv6(state)
        ctx.progress(f"probing {len(lab_nodes(state, ipv6=ipv6))} nodes with "
                     f"{', '.join(protocols_for(ipv6))}")
        cells, engine = measure(lab, capture=True, state=state)
        pcaps = engine.write_pcaps(ctx.dir)
        sent = engine.sent
        ctx.progress(f"dns section: {len(dnstable.sources(state))} containers ask "
                     f"{len(dnstable.lab_names(state))} names at 127.0.0.11")
        dns_cells, dns_prober = measure_dns(state)
        published: list[PublishedCell] = []
        if has_published_section(state):
            ctx.progress(f"published section: {PUBLISHER[0]}/{PUBLISHER[1]} publishes "
                         + ", ".join(b.spec for b in pub.BINDINGS))
            published = measure_published(lab, state)
        if has_overlay_section(lab):
            engines = ", ".join(f"{h} engine: {lab.host(h).kind}" for h in (MANAGER, WORKER))
            ctx.progress(f"overlay section: swarm {MANAGER}+{WORKER} ({engines}), "
                         f"{', '.join(OVERLAYS)}, {len(OVERLAY_CONTAINERS)} containers")
            started = time.monotonic()
            overlay, ov_engine, vips = measure_overlays(lab, capture=True)
            overlay_s = time.monotonic() - started
            (ctx.dir / "overlay").mkdir(exist_ok=True)
            pcaps += ov_engine.write_pcaps(ctx.dir / "overlay")
            ov_sent = ov_engine.sent
            sent += ov_sent
    ctx.write_rows("matrix.csv", _rows(cells))
    drawn = _topology_plot(state, ctx.path("topology.png"))
    heatmap(cells, ctx.path("heatmap.png"))
    tables = _tables(cells)
    ctx.detail(tables, "truth-tables.txt")
    checks = _matrix_checks("matrix", cells)
    wrong = [c for c in cells if c.wrong]
    ov_wrong = [c for c in overlay if c.wrong]
    leaked = leaks(cells) + leaks(overlay)
    total = len(cells) + len(overlay)
    headline = (f"{total - len(wrong) - len(ov_wrong)}/{total} cells as Docker; "
                f"{len(wrong) + len(ov_wrong)} wrong; {sent} probes"
                + _family_summary(cells + overlay))
    summary = (f"Topology: `{path}`; {len(pcaps)} captures.\n\n{drawn}\n\n"
               "Heatmap (sources by targets; legend under it): ![heatmap](heatmap.png)"
               "\n\n```\n" + tables + "\n```\n")
    if wrong:
        summary += "\n## Cells that differ\n\n" + _differ_md(cells) + "\n"
    if leaked:
        summary += ("\n## Isolated over IPv4, not over IPv6\n\nThe same source, target "
                    "and protocol: blocked over IPv4 as Docker blocks it, reached over "
                    "IPv6, which Docker 28 blocks too (Docker before ip6tables left it "
                    "open, moby/libnetwork#2557).\n\n" + _leaks_md(leaked) + "\n")
    if overlay:
        ctx.write_rows("overlay_matrix.csv", _rows(overlay))
        heatmap(overlay, ctx.path("overlay_heatmap.png"))
        ov_tables = _tables(overlay)
        ctx.detail("overlay section\n\n" + ov_tables, "overlay-truth-tables.txt")
        checks += _matrix_checks("overlay", overlay)
        summary += (
            f"\n## Overlay section\n\n{len(overlay) - len(ov_wrong)}/{len(overlay)} cells as "
            f"Docker; {len(ov_wrong)} wrong; {ov_sent} probes; {overlay_s:.1f} s with "
            f"setup and teardown. Swarm: {MANAGER} manager, {WORKER} worker ({engines}); "
            "attachable "
            f"overlays {', '.join(OVERLAYS)}; containers "
            + ", ".join(f"{h}/{n} on {'+'.join(nets)}" for h, n, nets in OVERLAY_CONTAINERS)
            + "; docker_gwbridge subnets "
            + ", ".join(f"{h} {s}" for h, s in GWBRIDGE_SUBNETS.items())
            + ". Captures under `overlay/`; heatmap: ![overlay heatmap](overlay_heatmap.png)"
            "\n\n```\n" + ov_tables + "\n```\n")
        if ov_wrong:
            summary += "\n### Overlay cells that differ\n\n" + _differ_md(overlay) + "\n"
    vip_wrong = [c for c in vips if c.wrong]
    if vips:
        ctx.write_rows("vips.csv", [asdict(c) for c in vips])
        vip_table = vipcells.table(vips)
        ctx.detail("VIP cells\n\n" + vip_table, "vip-cells.txt")
        checks += [Check("vip", f"{c.source} -> {c.target}", c.expected, c.observed,
                         not c.wrong, c.evidence) for c in vips]
        summary += (f"\n## VIP cells\n\n{len(vips) - len(vip_wrong)}/{len(vips)} as Docker. "
                    f"Service `{vipcells.SERVICE}` ({vipcells.REPLICAS} replicas, "
                    f"`{' '.join(vipcells.SERVER)}`) on `{vipcells.SERVICE_NETWORK}`; each "
                    "overlay container asks the embedded DNS for its name and `tasks.` name "
                    f"and connects to its VIP {vipcells.CONNECTS} times.\n\n```\n{vip_table}"
                    "\n```\n")
        if vip_wrong:
            summary += "\n### VIP cells that differ\n\n" + "\n".join(
                f"- {c.source} -> {c.target}: expected `{c.expected}`, observed "
                f"`{c.observed}` ({c.evidence})" for c in vip_wrong) + "\n"
    dns_wrong = [c for c in dns_cells if c.wrong]
    ctx.write_rows("dns.csv", [asdict(c) for c in dns_cells])
    dns_heatmap(dns_cells, ctx.path("dns_heatmap.png"))
    dns_tables = "\n\n".join(dnstable.truth_table(dns_cells, which)
                              for which in ("expected", "observed", "diff"))
    ctx.detail("dns section\n\n" + dns_tables, "dns-truth-tables.txt")
    checks += [Check("dns", f"{c.source} asks {c.name}", c.expected or "no address",
                     c.observed or "no address", c.ok, c.evidence) for c in dns_cells]
    summary += (f"\n## DNS section\n\n{len(dns_cells) - len(dns_wrong)}/{len(dns_cells)} "
                f"(source, name) pairs as Docker; {dns_prober.sent} queries to 127.0.0.11:53, "
                f"{dns_prober.answered} answered, {dns_prober.seconds:.2f} s. Sources without "
                "the embedded resolver (default bridge, host, none) are asked too: nothing "
                "listens there, the query is refused. Heatmap: ![dns](dns_heatmap.png)\n\n"
                "```\n" + dns_tables + "\n```\n")
    if dns_wrong:
        summary += "\n### DNS answers that differ\n\n" + "\n".join(
            f"- {c.source} asks {c.name}: expected `{c.expected or 'no address'}`, observed "
            f"`{c.observed or 'no address'}` ({c.evidence})" for c in dns_wrong) + "\n"
    pub_wrong = [c for c in published if c.wrong]
    if published:
        ctx.write_rows("published.csv", [asdict(c) for c in published])
        pub_table = published_table(published)
        ctx.detail("published section\n\n" + pub_table, "published-cells.txt")
        checks += [Check("published", f"{c.source} -> {c.target} ({c.binding})", c.expected,
                         c.observed, not c.wrong, c.evidence) for c in published]
        summary += (f"\n## Published section\n\n{len(published) - len(pub_wrong)}/"
                    f"{len(published)} as Docker. {PUBLISHER[0]}/{PUBLISHER[1]} on "
                    f"{PUBLISHER[2]} publishes " + ", ".join(f"`-p {b.spec}`" for b in pub.BINDINGS)
                    + "; reached by TCP connect or a UDP datagram answered by a listener in "
                    "its namespace.\n\n```\n" + pub_table + "\n```\n")
        if pub_wrong:
            summary += "\n### Published cells that differ\n\n" + "\n".join(
                f"- {c.source} ({c.relation}) -> {c.target} [{c.binding}]: expected "
                f"{c.expected}, observed {c.observed} ({c.evidence})" for c in pub_wrong) + "\n"
    headline += (f"; dns {len(dns_cells) - len(dns_wrong)}/{len(dns_cells)} as Docker"
                 + (f"; published {len(published) - len(pub_wrong)}/{len(published)} as Docker"
                    if published else "")
                 + (f"; VIP {len(vips) - len(vip_wrong)}/{len(vips)} as Docker" if vips else ""))
    figures = {"cells": len(cells), "wrong": len(wrong), "overlay_cells": len(overlay),
               "ipv6_cells": sum(c.family == IPV6 for c in cells + overlay),
               "ipv6_wrong": sum(c.family == IPV6 and c.wrong for c in cells + overlay),
               "ipv6_leaks": len(leaked),
               "overlay_wrong": len(ov_wrong), "dns_cells": len(dns_cells),
               "dns_wrong": len(dns_wrong), "dns_seconds": round(dns_prober.seconds, 3),
               "published_cells": len(published), "published_wrong": len(pub_wrong),
               "vip_cells": len(vips), "vip_wrong": len(vip_wrong)}
    ok = (not wrong and not ov_wrong and not leaked and not dns_wrong and not pub_wrong
          and not vip_wrong)
    summary = f"# isolation\n\n{headline}.\n\n" + summary
    outcome = Outcome(ok, headline, checks, figures)
    ctx.finish(outcome, summary)
    return outcome
