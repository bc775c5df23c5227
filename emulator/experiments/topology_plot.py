"""A drawing of a running lab as its Engine APIs describe it: the outside host and the
Docker hosts on the underlay, each host's networks, and the containers on them.

The isolation experiment's heatmaps and truth tables name containers `h1/f1` and
addresses `h1/m1@front`; this picture is what makes those labels mean something. The
graph is a networkx graph in layers (underlay, hosts, networks, containers), drawn
with matplotlib in the shared colour-blind-safe palette.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.experiments import palette
from emulator.probes.apistate import LabState, NetworkState

UNDERLAY = "underlay"


@dataclass(frozen=True)
class Kind:
    layer: int
    label: str
    color: str
    shape: str  # a matplotlib marker


OUTSIDE = Kind(0, "outside host / underlay", palette.GREY, "o")
HOST = Kind(1, "Docker host", palette.BLUE, "s")
NETWORK = Kind(2, "network (driver, subnet)", palette.ORANGE, "D")
CONTAINER = Kind(3, "container", palette.BLUISH_GREEN, "o")
KINDS = (OUTSIDE, HOST, NETWORK, CONTAINER)


def _network_label(network: NetworkState) -> str:
    notes = [network.driver, *(str(s) for s in network.subnets)]
    if network.internal:
        notes.append("internal")
    if network.driver == "bridge" and not network.flag("com.docker.network.bridge.enable_icc",
                                                       True):
        notes.append("ICC off")
    return f"{network.name}\n" + " ".join(notes)


def topology_graph(state: LabState):
    """Nodes carry `kind` (a Kind) and `label`; edges carry `style` ("solid" for a link,
    "dashed" for a container sharing its host's namespace)."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_node(UNDERLAY, kind=OUTSIDE, label="underlay")
    graph.add_node("outside", kind=OUTSIDE, label=f"outside\n{state.outside_address}")
    graph.add_edge("outside", UNDERLAY, style="solid")
    for host in state.hosts:
        graph.add_node(host.name, kind=HOST, label=f"{host.name}\n{host.address}")
        graph.add_edge(host.name, UNDERLAY, style="solid")
        for network in host.networks.values():
            if network.driver in ("host", "null"):
                continue
            # A swarm-scoped network (an overlay) is one node shared by its hosts.
            key = network.id if network.scope == "swarm" else f"{host.name}:{network.id}"
            graph.add_node(key, kind=NETWORK, label=_network_label(network))
            graph.add_edge(key, host.name, style="solid")
        for container in host.containers:
            name = f"{host.name}/{container.name}"
            mode = container.network_mode
            suffix = f"\n({mode})" if mode in ("host", "none") else ""
            graph.add_node(name, kind=CONTAINER, label=name + suffix, host=host.name)
            if container.shares_host:
                graph.add_edge(name, host.name, style="dashed")
            for ep in container.endpoints:
                network = host.networks.get(ep.network_id)
                if network is None or network.driver in ("host", "null"):
                    continue
                key = network.id if network.scope == "swarm" else f"{host.name}:{network.id}"
                graph.add_edge(name, key, style="solid",
                               label=str(ep.address.ip) if ep.address else "")
    return graph


def layered_positions(graph) -> dict[str, tuple[float, float]]:
    """One row per Kind, underlay on top; in each row the nodes sit in the order of
    the mean position of their neighbours in the rows above (so a container stands
    under its networks, a network under its hosts), spread evenly across."""
    positions: dict[str, tuple[float, float]] = {}
    for kind in KINDS:
        row = [n for n, d in graph.nodes(data=True) if d["kind"] == kind]

        def under(node: str) -> tuple[float, bool, float]:
            """(its host's place, unattached, its neighbours' mean place): containers
            grouped by host, one on `none` after its host's attached ones."""
            host = graph.nodes[node].get("host")
            above = [positions[n][0] for n in graph[node] if n in positions]
            mean = sum(above) / len(above) if above else 0.0
            return positions[host][0] if host in positions else 0.0, not above, mean

        row.sort(key=under)
        for i, node in enumerate(row):
            positions[node] = ((i + 0.5) / len(row), -float(kind.layer))
    return positions


def topology_figure(state: LabState):
    """The lab in four rows: underlay, Docker hosts, networks, containers."""
    import networkx as nx
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    graph = topology_graph(state)
    positions = layered_positions(graph)
    widest = max(sum(1 for _, d in graph.nodes(data=True) if d["kind"] == k) for k in KINDS)
    fig = Figure(figsize=(max(9.0, 1.25 * widest), 7.5), layout="constrained")
    ax = fig.subplots()
    for style in ("solid", "dashed"):
        edges = [(a, b) for a, b, d in graph.edges(data=True) if d["style"] == style]
        nx.draw_networkx_edges(graph, positions, edgelist=edges, ax=ax, style=style,
                               edge_color=palette.GREY, width=1.0)
    for kind in KINDS:
        nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == kind]
        nx.draw_networkx_nodes(graph, positions, nodelist=nodes, ax=ax, node_color=kind.color,
                               node_shape=kind.shape, node_size=260, edgecolors=palette.BLACK)
    labels = {n: d["label"] for n, d in graph.nodes(data=True)}
    label_positions = {n: (x, y - 0.12) for n, (x, y) in positions.items()}
    nx.draw_networkx_labels(graph, label_positions, labels, ax=ax, font_size=7,
                            verticalalignment="top")
    ax.set_title("Isolation lab: Docker hosts, their networks and containers "
                 "(labels as in the heatmaps: host/container)")
    ax.set_axis_off()
    ax.margins(x=0.05, y=0.15)
    handles = [Line2D([], [], ls="", marker=k.shape, markersize=9, color=k.color,
                      markeredgecolor=palette.BLACK, label=k.label) for k in KINDS]
    handles += [Line2D([], [], color=palette.GREY, label="attached (endpoint, link)"),
                Line2D([], [], color=palette.GREY, ls="--",
                       label="shares the host's namespace (--network host)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
    return fig


def write_topology_plot(state: LabState, path) -> None:
    topology_figure(state).savefig(path, dpi=110)
