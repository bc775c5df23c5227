"""A lab's Engine API state from engines on the fake fabric, without sockets.

docker-py's four read calls are answered by the emulated API's own handlers, the
JSON round-tripped as on the wire; default routes come from what the fake fabric
was told to install (it plays the kernel).
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from typing import Any

from api_helpers import call

from emulator.api.containers import inspect_container, list_containers
from emulator.api.context import HostContext
from emulator.api.networks import inspect_network, list_networks
from emulator.cnm.engine import Engine
from emulator.probes.apistate import DefaultRoute, LabState, RouteReader, read_host


class HandlerAPI:
    """The EngineAPI protocol of `emulator.probes.apistate`, served in process."""

    def __init__(self, engine: Engine) -> None:
        self._host = HostContext(engine)

    def _json(self, handler, **params: str) -> Any:
        return json.loads(call(handler, self._host, **params).encoded())

    def containers(self) -> list[dict[str, Any]]:
        return self._json(list_containers)

    def inspect_container(self, container: str) -> dict[str, Any]:
        return self._json(inspect_container, id=container)

    def networks(self) -> list[dict[str, Any]]:
        return self._json(list_networks)

    def inspect_network(self, net_id: str) -> dict[str, Any]:
        return self._json(inspect_network, id=net_id)


def fabric_routes(engine: Engine) -> RouteReader:
    """Default routes by container pid, as the fake fabric holds them."""

    def route_of(pid: int) -> DefaultRoute | None:
        for container in engine.containers.values():
            if container.pid == pid and container.sandbox is not None:
                gateway = engine.fabric.default_routes.get(container.sandbox.key)
                return DefaultRoute(IPv4Address(str(gateway)), "eth0") if gateway else None
        return None

    return route_of


def fake_lab_state(lab) -> LabState:
    """What the probes would read from `lab` (hosts with `.engine`, `node_pid`,
    `outside_address`) through its Engine APIs."""
    hosts = tuple(read_host(name, host.address, lab.node_pid(name), HandlerAPI(host.engine),
                            fabric_routes(host.engine))
                  for name, host in lab.hosts.items())
    return LabState(hosts, lab.node_pid("outside"), lab.outside_address)
