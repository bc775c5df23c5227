"""Raw topology data -> the resolved model, with every problem reported at once.

The shape is checked first (structure.py); the checks that need meaning (addresses,
references, interface names) then run on whatever part of the data had the right
shape, so one pass finds everything before a TopologyError lists it. A topology with
problems still yields what did resolve (a PartialTopology on the error), so that the
checks of Docker's semantics can run on it in the same pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from .containers import build_containers
from .errors import ProblemLog, TopologyError
from .lan import plan_lan
from .model import (
    ENGINES,
    IPV6_UNDERLAY_ENGINES,
    OUTSIDE_HOST_NAME,
    HostSpec,
    PartialTopology,
    Topology,
)
from .networks import build_networks
from .structure import check_structure
from .underlay import UnderlayPlan, plan_underlay


def topology_from_data(data: object, source: str = "<data>") -> Topology:
    """Checks and resolves already-parsed data (e.g. a dict); raises TopologyError."""
    return resolve(data, ProblemLog(source))


def resolve(data: object, log: ProblemLog) -> Topology:
    raw = check_structure(data, log)
    topology, partial = (None, None) if raw is None else _topology(raw, log)
    if log.problems:
        raise TopologyError(log.problems, partial)
    assert topology is not None
    return topology


_NO_ADDRESS = IPv4Address(0)
"""Stands for the address of a host whose address has a problem, in a PartialTopology."""


def _topology(raw: Mapping[str, Any], log: ProblemLog,
              ) -> tuple[Topology | None, PartialTopology]:
    plan = plan_underlay(raw, log)
    engine = raw.get("engine", ENGINES[0])
    hosts = [_host(name, spec, plan, engine, log) for name, spec in raw.get("hosts", {}).items()]
    if plan is not None and plan.underlay.advertise == "ipv6":
        _check_ipv6_engines(hosts, log)
    underlay = None if plan is None else plan.underlay.subnet
    lan = plan_lan(raw, raw.get("hosts", {}), underlay, log)
    reserved: tuple[IPv4Network, ...] = tuple(
        subnet for subnet in (underlay, lan and lan.subnet) if subnet is not None)
    partial = PartialTopology(tuple(hosts), reserved, "lan" in raw, log.source,
                              dict(log.lines))
    if (plan is None or "name" not in raw or any(h.address == _NO_ADDRESS for h in hosts)
            or ("lan" in raw and lan is None)):
        return None, partial
    return Topology(raw["name"], plan.underlay, plan.outside, hosts, lan), partial


def _check_ipv6_engines(hosts: list[HostSpec], log: ProblemLog) -> None:
    for host in hosts:
        if host.engine not in IPV6_UNDERLAY_ENGINES:
            log.report(("hosts", host.name, "engine"),
                       f"engine {host.engine!r} cannot advertise IPv6 to a swarm here "
                       "(underlay.advertise: ipv6): overlay VXLAN over IPv6 needs Docker 25 "
                       "or later, and the real dockerd here is 20.10",
                       allowed=[*IPV6_UNDERLAY_ENGINES, "underlay.advertise: ipv4"])


def _host(
    name: str, raw: Mapping[str, Any], plan: UnderlayPlan | None, engine: str,
    log: ProblemLog,
) -> HostSpec:
    path = ("hosts", name)
    if name == OUTSIDE_HOST_NAME:
        log.report(path, f"{name!r} is the name of the host standing in for the internet")
    networks = build_networks(raw.get("networks", {}), (*path, "networks"), log)
    declared = [network.name for network in networks]
    containers = build_containers(raw.get("containers", {}), declared, (*path, "containers"), log)
    address = None if plan is None else plan.host_addresses.get(name)
    address6 = None if plan is None else plan.host_addresses6.get(name)
    return HostSpec(name, address or _NO_ADDRESS, networks, containers,
                    raw.get("engine", engine), bool(raw.get("ipv6", False)),
                    raw.get("fixed-cidr-v6"), address6)
