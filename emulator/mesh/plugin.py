"""The plugin endpoint: Docker's remote driver calls, answered by the mesh driver.

The protocol itself (HTTP/1.1 on a Unix socket, {"Err": ...} answers, 404 for a call
not implemented) is emulator.pluginhttp's; this maps each call to the driver's
route for it (see MeshDriver.routes).
"""

from __future__ import annotations

from emulator.pluginhttp import Handler, Method


class MeshPlugin(Handler):
    name = "mesh"

    def __init__(self, routes: dict[str, Method]) -> None:
        self.routes = routes

    def method(self, call: str) -> Method | None:
        return self.routes.get("/" + call)
