"""Check a topology's Docker requests before any kernel object exists.

Each host's networks and containers are replayed through a real Engine over a
FakeFabric, so the user gets Docker's own messages, all of them at once, and the
warnings its network create answers with. A file with problems in its shape is
replayed too, as far as it resolved, so one check reports both kinds.
"""

from __future__ import annotations

from emulator import faults
from emulator.cnm.engine import AttachRequest, DefaultBridge, Engine, NetworkRequest
from emulator.errdefs import DockerError
from emulator.fabric.fake import FakeFabric
from emulator.lab.dockerhost import dual_stack_configs
from emulator.topology import (
    HostSpec,
    SourcedTopology,
    Topology,
    TopologyError,
    read_topology,
)
from emulator.topology.errors import FieldPath, Problem, ProblemLog
from emulator.topology.model import PartialTopology


def network_request(spec) -> NetworkRequest:
    return NetworkRequest(
        name=spec.name, driver=spec.driver, options=dict(spec.options), subnet=spec.subnet,
        gateway=spec.gateway, ip_range=spec.ip_range, aux_addresses=dict(spec.aux_addresses),
        internal=spec.internal, attachable=spec.attachable, labels=dict(spec.labels),
        enable_ipv6=spec.ipv6 or None, enable_ipv4=None if spec.ipv4 else False,
        configs=dual_stack_configs(spec.subnet, spec.ip_range, spec.gateway,
                                   spec.aux_addresses, spec.subnet6, spec.gateway6),
    )


def attach_requests(container) -> list[AttachRequest]:
    return [AttachRequest(a.network, a.ip, tuple(a.aliases)) for a in container.attachments]


def host_problems(host: HostSpec, reserved, sourced: SourcedTopology | ProblemLog,
                  nics: tuple[str, ...] = ("eth0",),
                  warnings: list[Problem] | None = None) -> list[Problem]:
    """What Docker would refuse on this host; its warnings are added to `warnings`."""
    try:
        engine = Engine(host.name, FakeFabric(host.name, nics=nics), reserved=reserved,
                        default_bridge=DefaultBridge(host.ipv6, host.fixed_cidr_v6))
    except DockerError as exc:  # the default bridge's --ipv6 / --fixed-cidr-v6
        field = "fixed-cidr-v6" if host.fixed_cidr_v6 else "ipv6"
        return [sourced.problem(("hosts", host.name, field), exc.message)]
    problems = []
    for net in host.networks:
        where = ("hosts", host.name, "networks", net.name)
        try:
            network = engine.create_network(network_request(net))
        except DockerError as exc:
            problems.append(sourced.problem(where, exc.message))
        else:
            if warnings is not None:
                warnings += [sourced.problem(where, f"warning: {text}")
                             for text in network.warnings]
    for container in host.containers:
        try:
            engine.run_container(container.name, attach_requests(container),
                                 container.hostname, list(container.command or []) or None)
        except DockerError as exc:
            where = ("hosts", host.name, "containers", container.name)
            problems.append(sourced.problem(where, exc.message))
    return problems


def check_topology(topology: Topology | SourcedTopology) -> list[Problem]:
    """Raise TopologyError listing every request Docker would refuse, with file lines
    when the topology was read from a file; else return the warnings (subnets Docker
    accepts that will not work as expected)."""
    if isinstance(topology, Topology):
        topology = SourcedTopology(topology, "topology", {})
    problems: list[Problem] = []
    warnings: list[Problem] = []
    lan = topology.topology.lan
    reserved = [topology.topology.underlay.subnet, *([lan.subnet] if lan else [])]
    nics = ("eth0", "eth1") if lan else ("eth0",)
    with faults.suppressed():  # a dry run makes nothing: no fault step may stop it
        for host in topology.topology.hosts:
            problems.extend(host_problems(host, reserved, topology, nics, warnings))
    if problems:
        raise TopologyError(problems)
    return warnings


def check_topology_file(path: str) -> tuple[SourcedTopology, list[Problem]]:
    """The topology in `path` and its warnings; raise TopologyError listing every problem
    at once: the file's shape and references, and what Docker would refuse of the part
    that resolved."""
    try:
        sourced = read_topology(path)
    except TopologyError as exc:
        if exc.partial is None:
            raise
        raise TopologyError([*exc.problems, *_docker_problems(exc.partial, exc.problems)]
                            ) from None
    return sourced, check_topology(sourced)


def _docker_problems(partial: PartialTopology, known: tuple[Problem, ...]) -> list[Problem]:
    """What Docker would refuse in a topology that has other problems, leaving out what
    is about a field that already has one (it was checked without that field)."""
    sourced = ProblemLog(partial.source, dict(partial.lines))
    nics = ("eth0", "eth1") if partial.has_lan else ("eth0",)
    found: list[Problem] = []
    with faults.suppressed():
        for host in partial.hosts:
            found.extend(host_problems(host, list(partial.reserved), sourced, nics))
    known_paths = [p.path for p in known if p.path is not None]
    return [p for p in found if p.path is None
            or not any(_related(p.path, path) for path in known_paths)]


def _related(a: FieldPath, b: FieldPath) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]
