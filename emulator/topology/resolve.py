"""Raw topology data -> the resolved model, with every problem reported at once.

The shape is checked first (structure.py); the checks that need meaning (addresses,
references, interface names) then run on whatever part of the data had the right
shape, so one pass finds everything before a TopologyError lists it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .containers import build_containers
from .errors import ProblemLog
from .lan import plan_lan
from .model import ENGINES, OUTSIDE_HOST_NAME, HostSpec, Topology
from .networks import build_networks
from .structure import check_structure
from .underlay import UnderlayPlan, plan_underlay


def topology_from_data(data: object, source: str = "<data>") -> Topology:
    """Checks and resolves already-parsed data (e.g. a dict); raises TopologyError."""
    return resolve(data, ProblemLog(source))


def resolve(data: object, log: ProblemLog) -> Topology:
    raw = check_structure(data, log)
    topology = None if raw is None else _topology(raw, log)
    log.raise_if_any()
    assert topology is not None
    return topology


def _topology(raw: Mapping[str, Any], log: ProblemLog) -> Topology | None:
    plan = plan_underlay(raw, log)
    engine = raw.get("engine", ENGINES[0])
    hosts = [_host(name, spec, plan, engine, log) for name, spec in raw.get("hosts", {}).items()]
    underlay = None if plan is None else plan.underlay.subnet
    lan = plan_lan(raw, raw.get("hosts", {}), underlay, log)
    if plan is None or "name" not in raw or None in hosts or ("lan" in raw and lan is None):
        return None
    return Topology(raw["name"], plan.underlay, plan.outside, hosts, lan)


def _host(
    name: str, raw: Mapping[str, Any], plan: UnderlayPlan | None, engine: str,
    log: ProblemLog,
) -> HostSpec | None:
    path = ("hosts", name)
    if name == OUTSIDE_HOST_NAME:
        log.report(path, f"{name!r} is the name of the host standing in for the internet")
    networks = build_networks(raw.get("networks", {}), (*path, "networks"), log)
    declared = [network.name for network in networks]
    containers = build_containers(raw.get("containers", {}), declared, (*path, "containers"), log)
    address = None if plan is None else plan.host_addresses.get(name)
    if address is None:
        return None
    return HostSpec(name, address, networks, containers, raw.get("engine", engine))
