"""Check a topology's Docker requests before any kernel object exists.

Each host's networks and containers are replayed through a real Engine over a
FakeFabric, so the user gets Docker's own messages, all of them at once, and the
warnings its network create answers with.
"""

from __future__ import annotations

from emulator import faults
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.errdefs import DockerError
from emulator.fabric.fake import FakeFabric
from emulator.topology import HostSpec, SourcedTopology, Topology, TopologyError
from emulator.topology.errors import Problem


def network_request(spec) -> NetworkRequest:
    return NetworkRequest(
        name=spec.name, driver=spec.driver, options=dict(spec.options), subnet=spec.subnet,
        gateway=spec.gateway, ip_range=spec.ip_range, aux_addresses=dict(spec.aux_addresses),
        internal=spec.internal, attachable=spec.attachable, labels=dict(spec.labels),
    )


def attach_requests(container) -> list[AttachRequest]:
    return [AttachRequest(a.network, a.ip, tuple(a.aliases)) for a in container.attachments]


def host_problems(host: HostSpec, reserved, sourced: SourcedTopology,
                  nics: tuple[str, ...] = ("eth0",),
                  warnings: list[Problem] | None = None) -> list[Problem]:
    """What Docker would refuse on this host; its warnings are added to `warnings`."""
    engine = Engine(host.name, FakeFabric(host.name, nics=nics), reserved=reserved)
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
