"""Everything one emulated Docker host serves: the routes over its engine."""

from __future__ import annotations

from pathlib import Path

from emulator.api import (
    containerops,
    containers,
    events,
    execs,
    networks,
    services,
    swarm,
    system,
)
from emulator.api.context import HostContext
from emulator.api.router import Router
from emulator.api.server import ApiServer
from emulator.cnm.engine import Engine

ROUTES = [*system.ROUTES, *networks.ROUTES, *containers.ROUTES, *containerops.ROUTES,
          *execs.ROUTES, *events.ROUTES, *swarm.ROUTES, *services.ROUTES]


def engine_api(engine: Engine, socket_path: Path, log_hint: str | None = None) -> ApiServer:
    """The engine's API server; its containers' logs are `engine.lifecycle.log_dir`.
    `log_hint` (e.g. "see `cnm lab logs NAME`") ends the text of every 500 answer."""
    return ApiServer(Router(ROUTES, HostContext(engine)), socket_path, log_hint=log_hint)
