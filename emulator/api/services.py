"""`/services` and `/tasks`: swarm services through the Engine API and the docker CLI.

A request's ServiceSpec is decoded as dockerd decodes it (`bodies`) and turned
into the emulator's `swarm.services.ServiceSpec`: name, labels, image, command,
args, env, hostname, networks with their aliases, replicas, endpoint mode and
published ports. Every other field of Docker's ServiceSpec that a request sets
to something else than its default is refused with 501, naming the field, before
anything changes: the emulator never drops what it cannot honour. The engine
(`emulator.cnm.services`) does the rest and raises dockerd's errors (not a
manager, no such network, a network that cannot be used with services, name and
port conflicts, a stale version, a rename).

`GET /distribution/{name}/json` answers as a dockerd without registry access: the
CLI then warns that the image's digest could not be recorded and goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator import errdefs as err
from emulator.api import bodies, version
from emulator.api import swarm as swarm_routes
from emulator.api.context import HostContext
from emulator.api.goschema import Node, request_node
from emulator.api.router import Request, Response, RouteTable
from emulator.api.shapes import services as shapes
from emulator.api.shapes import swarm as swarm_shapes
from emulator.cnm.filters import any_of, check_filter_keys, labels_match
from emulator.cnm.model import Network
from emulator.swarm.services import (
    DNSRR,
    HOST_MODE,
    INGRESS_MODE,
    VIP,
    NetworkAttachment,
    PortConfig,
    Service,
    ServiceSpec,
    Task,
)
from emulator.swarm.shared import SharedNetwork

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""

SERVICE_CREATE = bodies.Body("POST", "/services/create")
SERVICE_UPDATE = bodies.Body("POST", "/services/{id}/update")

SERVICE_FILTERS = ("id", "label", "mode", "name", "runtime")
TASK_FILTERS = ("name", "id", "label", "service", "node", "desired-state", "_up-to-date",
                "runtime")
TASK_STATES = ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready",
               "starting", "running", "complete", "shutdown", "failed", "rejected", "remove",
               "orphaned")

HONOURED = frozenset({
    "Name", "Labels",
    "TaskTemplate.ContainerSpec.Image", "TaskTemplate.ContainerSpec.Command",
    "TaskTemplate.ContainerSpec.Args", "TaskTemplate.ContainerSpec.Env",
    "TaskTemplate.ContainerSpec.Hostname",
    "TaskTemplate.Networks[].Target", "TaskTemplate.Networks[].Aliases",
    "Networks[].Target", "Networks[].Aliases",
    "Mode.Replicated.Replicas",
    "EndpointSpec.Mode", "EndpointSpec.Ports[].Protocol", "EndpointSpec.Ports[].TargetPort",
    "EndpointSpec.Ports[].PublishedPort", "EndpointSpec.Ports[].PublishMode",
})
"""The ServiceSpec fields the emulator honours (`[]`: each element of a list)."""

DEFAULTS: dict[str, Any] = {
    "TaskTemplate.ContainerSpec.Isolation": "default",
    "TaskTemplate.ContainerSpec.StopGracePeriod": shapes.STOP_GRACE_PERIOD_NS,
    "TaskTemplate.RestartPolicy.Condition": "any",
    "TaskTemplate.RestartPolicy.Delay": shapes.RESTART_DELAY_NS,
    "TaskTemplate.Runtime": "container",
    "TaskTemplate.Placement.Platforms[].OS": "linux",
    **{f"{config}.{key}": value for config in ("UpdateConfig", "RollbackConfig")
       for key, value in shapes.DEFAULT_UPDATE_CONFIG.items()},
}
"""Fields whose value, besides Go's zero value, is Docker's default: what the
emulator does anyway (every task is a container on a linux node, started once)."""

LISTS_OF_HONOURED = frozenset({"TaskTemplate.Networks", "Networks", "EndpointSpec.Ports",
                               "TaskTemplate.Placement.Platforms"})
"""Lists whose elements' fields are checked one by one; any other list set is refused
as a whole (a mount, a secret, a ulimit: an element means something)."""

PLATFORM_ARCHITECTURES = ("", "amd64", "x86_64")
"""The architectures of a placement platform every emulated node satisfies."""


# -- the spec ---------------------------------------------------------------------------


def not_honoured(body: dict[str, Any]) -> list[str]:
    """The fields of a decoded ServiceSpec body set to what the emulator cannot honour."""
    found: list[str] = []
    _walk(body, request_node("POST", "/services/create"), "", found)
    return found


def _walk(value: Any, node: Node, path: str, found: list[str]) -> None:
    if path in HONOURED or _is_default(value, path):
        return
    if isinstance(value, dict) and "properties" in node:
        for key, item in value.items():
            child = node["properties"].get(key)
            if child is not None:
                _walk(item, child, f"{path}.{key}" if path else key, found)
        return
    if isinstance(value, list) and path in LISTS_OF_HONOURED:
        for item in value:
            _walk(item, node["items"], path + "[]", found)
        return
    name = path.replace("[]", "")
    if name not in found:
        found.append(name)


def _is_default(value: Any, path: str) -> bool:
    if path == "TaskTemplate.Placement.Platforms[].Architecture":
        return value in PLATFORM_ARCHITECTURES
    return value in (None, False, 0, "", [], {}) or (path in DEFAULTS
                                                    and value == DEFAULTS[path])


def refuse_unsupported(body: dict[str, Any]) -> None:
    mode = body.get("Mode") or {}
    for name, flag in (("Global", "global"), ("ReplicatedJob", "replicated-job"),
                       ("GlobalJob", "global-job")):
        if name in mode:
            raise err.NotImplementedByEmulator(
                f"{flag} mode (--mode {flag}) is not supported by the emulator: only "
                "replicated services")
    fields = sorted(not_honoured(body))
    if fields:
        verb = "is" if len(fields) == 1 else "are"
        raise err.NotImplementedByEmulator(
            f"{', '.join(fields)} {verb} not supported by the emulator")


def _protocol(raw: str) -> str:
    """swarmkit's enum conversion: an unknown protocol is tcp, as dockerd maps it."""
    value = raw.lower()
    return value if value in ("tcp", "udp", "sctp") else "tcp"


def spec_from_body(body: dict[str, Any], name: str | None = None) -> ServiceSpec:
    """The emulator's ServiceSpec of a decoded, checked body (`name` when it has none)."""
    template = body.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    image = container.get("Image") or ""
    if not image:
        raise err.InvalidParameter("rpc error: code = InvalidArgument desc = ContainerSpec: "
                                   "image reference must be provided")
    networks = [*(template.get("Networks") or []), *(body.get("Networks") or [])]
    endpoint = body.get("EndpointSpec") or {}
    mode = (endpoint.get("Mode") or VIP).lower()
    ports = tuple(PortConfig(target=p.get("TargetPort", 0), published=p.get("PublishedPort", 0),
                             protocol=_protocol(p.get("Protocol") or "tcp"),
                             mode=HOST_MODE if (p.get("PublishMode") or "").lower() == HOST_MODE
                             else INGRESS_MODE)
                  for p in endpoint.get("Ports") or [])
    _check_endpoint(mode, ports)
    replicated = (body.get("Mode") or {}).get("Replicated")
    replicas = replicated.get("Replicas", 1) if replicated is not None else 1
    return ServiceSpec(
        name=body.get("Name") or name or "",
        image=image,
        command=tuple(container.get("Command") or ()),
        args=tuple(container.get("Args") or ()),
        replicas=replicas,
        networks=tuple(NetworkAttachment(n.get("Target", ""), tuple(n.get("Aliases") or ()))
                       for n in networks),
        ports=ports,
        endpoint_mode=DNSRR if mode == DNSRR else VIP,
        labels=tuple(sorted((body.get("Labels") or {}).items())),
        env=tuple(container.get("Env") or ()),
        hostname=container.get("Hostname") or "",
    )


def _check_endpoint(mode: str, ports: tuple[PortConfig, ...]) -> None:
    """swarmkit's validateEndpointSpec."""
    seen: set[tuple[str, int]] = set()
    for port in ports:
        if mode == DNSRR and port.mode == INGRESS_MODE:
            raise err.InvalidParameter(
                "rpc error: code = InvalidArgument desc = EndpointSpec: port published with "
                "ingress mode can't be used with dnsrr mode")
        if not port.published:
            continue
        if (port.protocol, port.published) in seen:
            raise err.InvalidParameter("rpc error: code = InvalidArgument desc = EndpointSpec: "
                                       "duplicate published ports provided")
        seen.add((port.protocol, port.published))


def read_spec(request: Request, body_of: bodies.Body,
              name: Callable[[], str] | None = None) -> ServiceSpec:
    """The request's spec; without a Name, `name()`'s (none: the engine picks one)."""
    body = bodies.decode(request, body_of)
    refuse_unsupported(body)
    return spec_from_body(body, name() if name is not None and not body.get("Name") else None)


# -- services ---------------------------------------------------------------------------


def _service_matches(service: Service, filters: dict[str, list[str]]) -> bool:
    return (any_of(filters, "id", service.id.startswith)
            and any_of(filters, "name", service.name.startswith)
            and any_of(filters, "mode", lambda v: v == "replicated")
            and any_of(filters, "runtime", lambda v: v == "container")
            and labels_match(dict(service.spec.labels), filters.get("label", [])))


def _wants_status(request: Request) -> bool:
    raw = request.arg("status")
    if not raw or (request.api_version and version.compare(request.api_version, "1.41") < 0):
        return False
    return _parse_bool(raw, "status")


def _parse_bool(raw: str, name: str) -> bool:
    """Go's strconv.ParseBool, with dockerd's text for what it refuses."""
    if raw in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if raw in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise err.InvalidParameter(f'invalid value for {name}: {raw}: strconv.ParseBool: parsing '
                               f'"{raw}": invalid syntax')


@ROUTES.add("GET", "/services")
def list_services(host: HostContext, request: Request) -> Response:
    engine = host.engine
    filters = request.filters()
    check_filter_keys(filters, SERVICE_FILTERS)
    status = _wants_status(request)
    services = [s for s in engine.list_services() if _service_matches(s, filters)]
    return Response(200, [shapes.service_json(s, status=engine.service_status(s) if status
                                              else None) for s in services])


@ROUTES.add("POST", "/services/create")
def create_service(host: HostContext, request: Request) -> Response:
    spec = read_spec(request, SERVICE_CREATE)
    service, warnings = host.engine.create_service(spec)
    return Response(201, {"ID": service.id, "Warnings": list(warnings) or None})


@ROUTES.add("GET", "/services/{id}")
def inspect_service(host: HostContext, request: Request) -> Response:
    raw = request.arg("insertDefaults")
    insert_defaults = _parse_bool(raw, "insertDefaults") if raw else False
    service = host.engine.get_service(request.params["id"])
    return Response(200, shapes.service_json(service, insert_defaults=insert_defaults))


@ROUTES.add("POST", "/services/{id}/update")
def update_service(host: HostContext, request: Request) -> Response:
    engine = host.engine
    raw = request.arg("version") or ""
    if not raw.isdigit() or int(raw) >= 2 ** 64:
        problem = ("invalid syntax" if not raw.isdigit() else "value out of range")
        raise err.InvalidParameter(f"invalid service version '{raw}': strconv.ParseUint: "
                                   f'parsing "{raw}": {problem}')
    rollback = request.arg("rollback") or "none"
    if rollback not in ("none", "previous"):
        raise err.DockerError(f"unrecognized rollback option {rollback}")
    service = engine.get_service(request.params["id"])
    spec = read_spec(request, SERVICE_UPDATE, lambda: service.name)
    if rollback == "previous":
        if service.previous_spec is None:
            raise err.InvalidParameter("rpc error: code = FailedPrecondition desc = service "
                                       f"{service.id} does not have a previous spec")
        spec = service.previous_spec
    warnings = engine.update_service(service.id, int(raw), spec)
    return Response(200, {"Warnings": list(warnings) or None})


@ROUTES.add("DELETE", "/services/{id}")
def remove_service(host: HostContext, request: Request) -> Response:
    host.engine.remove_service(request.params["id"])
    return Response(200)


LOGS_UNSUPPORTED = ("docker service logs is not supported by the emulator: read a task's "
                    "output with docker logs on the node running it")


@ROUTES.add("GET", "/services/{id}/logs")
def service_logs(host: HostContext, request: Request) -> Response:
    host.engine.get_service(request.params["id"])
    raise err.NotImplementedByEmulator(LOGS_UNSUPPORTED)


# -- tasks ------------------------------------------------------------------------------


def _task_filters(host: HostContext, filters: dict[str, list[str]]) -> dict[str, list[str]]:
    """dockerd's GetTasks: `service` and `node` values resolved to IDs (a miss is dockerd's
    not found), `desired-state` values checked."""
    engine = host.engine
    resolved = dict(filters)
    if "service" in filters:
        resolved["service"] = [engine.get_service(ref).id for ref in filters["service"]]
    if "node" in filters:
        nodes = swarm_shapes.swarm_nodes(swarm_routes.manager_swarm(engine))
        resolved["node"] = [str(swarm_routes._find_node(nodes, ref)["ID"])
                            for ref in filters["node"]]
    for state in filters.get("desired-state", []):
        if state and state.lower() not in TASK_STATES:
            raise err.DockerError(f"Invalid desired-state filter: '{state}'")
    return resolved


def _task_matches(task: Task, service: Service | None, filters: dict[str, list[str]],
                  ) -> bool:
    # `_up-to-date` (the CLI's progress): the engine's tasks all run the current spec
    name = task.name(service) if service is not None else task.id
    return (any_of(filters, "id", task.id.startswith)
            and any_of(filters, "name", name.startswith)
            and any_of(filters, "service", lambda v: task.service_id == v)
            and any_of(filters, "node", lambda v: task.node_id == v)
            and any_of(filters, "desired-state", lambda v: task.desired_state == v.lower())
            and any_of(filters, "runtime", lambda v: v in ("container", ""))
            and labels_match({}, filters.get("label", [])))


def _swarm_networks(host: HostContext) -> dict[str, Network | SharedNetwork]:
    """The swarm's networks: as this node has them (with their subnets), or as the
    swarm defines them."""
    engine = host.engine
    networks: dict[str, Network | SharedNetwork] = dict(
        engine.swarm.networks if engine.swarm is not None else {})
    networks.update({n.id: n for n in engine.networks.values() if n.scope == "swarm"})
    return networks


def _task_json(host: HostContext, task: Task, services: dict[str, Service],
               networks: dict[str, Network | SharedNetwork]) -> dict[str, Any]:
    container = host.engine.containers.get(task.container_id) if task.container_id else None
    pid = (container.pid or 0) if container is not None else 0
    return shapes.task_json(task, services.get(task.service_id), networks, pid=pid)


@ROUTES.add("GET", "/tasks")
def list_tasks(host: HostContext, request: Request) -> Response:
    engine = host.engine
    filters = request.filters()
    check_filter_keys(filters, TASK_FILTERS)
    swarm_routes.manager_swarm(engine)
    filters = _task_filters(host, filters)
    services = {s.id: s for s in engine.list_services()}
    tasks = [t for t in engine.list_tasks()
             if _task_matches(t, services.get(t.service_id), filters)]
    networks = _swarm_networks(host)
    return Response(200, [_task_json(host, t, services, networks) for t in tasks])


@ROUTES.add("GET", "/tasks/{id}")
def inspect_task(host: HostContext, request: Request) -> Response:
    engine = host.engine
    task = engine.get_task(request.params["id"])
    services = {s.id: s for s in engine.list_services()}
    return Response(200, _task_json(host, task, services, _swarm_networks(host)))


@ROUTES.add("GET", "/tasks/{id}/logs")
def task_logs(host: HostContext, request: Request) -> Response:
    host.engine.get_task(request.params["id"])
    raise err.NotImplementedByEmulator(LOGS_UNSUPPORTED)


# -- the registry -------------------------------------------------------------------------


NO_REGISTRY = ('Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: '
               "no such host")
"""What a dockerd that cannot reach Docker Hub answers a distribution inspect with."""


@ROUTES.add("GET", "/distribution/{name}/json")
@ROUTES.add("GET", "/distribution/{repo}/{name}/json")
@ROUTES.add("GET", "/distribution/{registry}/{repo}/{name}/json")
def distribution_inspect(host: HostContext, request: Request) -> Response:
    """The emulated hosts reach no registry: the lookup fails as it does on a dockerd
    without network access (the CLI then warns that the digest was not recorded)."""
    raise err.DockerError(NO_REGISTRY)
