"""`/swarm`, `/nodes`, and the manager-only listings the CLI reads in swarm mode.

`POST /swarm/init` answers the new node's ID as a JSON string, `POST /swarm/join`
and `POST /swarm/leave` an empty 200; the rest reads the engine's swarm state.
Services and tasks are `emulator.api.services`. Endpoints not routed anywhere
(swarm update and unlock, secrets, configs, ...) get the router's 501.
"""

from __future__ import annotations

from typing import Any

from emulator.api import bodies
from emulator.api.context import HostContext
from emulator.api.router import Request, Response, RouteTable
from emulator.api.shapes import swarm as shapes
from emulator.cnm.engine import Engine
from emulator.cnm.filters import any_of, check_filter_keys, labels_match
from emulator.errdefs import (
    InvalidParameter,
    NotFound,
    NotImplementedByEmulator,
)
from emulator.swarm.cluster import Swarm

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""

NODE_FILTERS = ("id", "label", "membership", "name", "node.label", "role")


def _unsupported(body: dict[str, Any]) -> None:
    """What the emulator cannot honour is refused before anything changes."""
    if body.get("DataPathAddr"):
        raise NotImplementedByEmulator(
            "DataPathAddr is not supported by the emulator: VXLAN traffic uses the "
            "advertised address")
    encryption = (body.get("Spec") or {}).get("EncryptionConfig") or {}
    if body.get("AutoLockManagers") or encryption.get("AutoLockManagers"):
        raise NotImplementedByEmulator("autolock (--autolock) is not supported by the emulator")


def _node_matches(node: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """`docker node ls --filter`: values of one key OR-ed, keys AND-ed."""
    spec, description = node["Spec"], node["Description"]
    return (any_of(filters, "id", lambda v: node["ID"].startswith(v))
            and any_of(filters, "name",
                       lambda v: v in (description["Hostname"], spec.get("Name", "")))
            and any_of(filters, "role", lambda v: spec["Role"] == v)
            and any_of(filters, "membership", lambda v: v == "accepted")
            and labels_match(description.get("Engine", {}).get("Labels") or {},
                             filters.get("label", []))
            and labels_match(spec.get("Labels") or {}, filters.get("node.label", [])))


def _find_node(nodes: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """dockerd's getNode: full ID, then name (hostname), then ID prefix."""
    for node in nodes:
        if node["ID"] == ref:
            return node
    found = [n for n in nodes if ref in (n["Description"]["Hostname"], n["Spec"].get("Name"))]
    if not found and ref:
        found = [n for n in nodes if n["ID"].startswith(ref)]
    if not found:
        raise NotFound(f"node {ref} not found")
    if len(found) > 1:
        raise InvalidParameter(f"node {ref} is ambiguous ({len(found)} matches found)")
    return found[0]


def manager_swarm(engine: Engine) -> Swarm:
    """The swarm, if this node is one of its managers: the others answer dockerd's 503."""
    return engine.swarm_manager()


@ROUTES.add("POST", "/swarm/init")
def init_swarm(host: HostContext, request: Request) -> Response:
    engine = host.engine
    body = bodies.decode(request, bodies.SWARM_INIT)
    _unsupported(body)
    if body.get("ForceNewCluster") and engine.swarm is not None:
        raise NotImplementedByEmulator("--force-new-cluster is not supported by the emulator")
    node_id = engine.swarm_init(
        advertise_addr=body.get("AdvertiseAddr") or None,
        data_path_port=body.get("DataPathPort", 0),
        default_addr_pool=body.get("DefaultAddrPool") or None,
        subnet_size=body.get("SubnetSize") or 24)
    return Response(200, node_id)


@ROUTES.add("POST", "/swarm/join")
def join_swarm(host: HostContext, request: Request) -> Response:
    body = bodies.decode(request, bodies.SWARM_JOIN)
    remotes = body.get("RemoteAddrs") or []
    if not remotes:
        raise InvalidParameter("at least 1 RemoteAddr is required to join")
    _unsupported(body)
    host.engine.swarm_join(remotes, body.get("JoinToken", ""),
                           advertise_addr=body.get("AdvertiseAddr") or None)
    return Response(200)


@ROUTES.add("POST", "/swarm/leave")
def leave_swarm(host: HostContext, request: Request) -> Response:
    host.engine.swarm_leave(force=request.flag("force"))
    return Response(200)


@ROUTES.add("GET", "/swarm")
def inspect_swarm(host: HostContext, request: Request) -> Response:
    return Response(200, shapes.swarm_inspect(manager_swarm(host.engine)))


@ROUTES.add("GET", "/nodes")
def list_nodes(host: HostContext, request: Request) -> Response:
    filters = request.filters()
    check_filter_keys(filters, NODE_FILTERS)
    nodes = shapes.swarm_nodes(manager_swarm(host.engine))
    return Response(200, [n for n in nodes if _node_matches(n, filters)])


@ROUTES.add("GET", "/nodes/{id}")
def inspect_node(host: HostContext, request: Request) -> Response:
    nodes = shapes.swarm_nodes(manager_swarm(host.engine))
    return Response(200, _find_node(nodes, request.params["id"]))
