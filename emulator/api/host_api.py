"""Everything one emulated Docker host serves: the routes over its engine."""

from __future__ import annotations

from pathlib import Path

from emulator.api import containers, execs, networks, swarm, system
from emulator.api.router import Router
from emulator.api.server import ApiServer
from emulator.cnm.engine import Engine


def engine_api(engine: Engine, socket_path: Path, log_dir: Path | None) -> ApiServer:
    router = Router()
    system.register(router, engine)
    networks.register(router, engine)
    containers.register(router, engine, log_dir)
    execs.register(router, engine)
    swarm.register(router, engine)
    return ApiServer(router, socket_path)
