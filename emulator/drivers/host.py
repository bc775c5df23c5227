"""The `host` driver: the container shares the Docker host's network namespace.

No interface is made; the engine starts the container's process in the host's
namespace, so its sockets compete with the host's for ports, as on Docker.
"""

from __future__ import annotations

from typing import ClassVar

from emulator.drivers.null import NullDriver


class HostDriver(NullDriver):
    name: ClassVar[str] = "host"
    shares_host_namespace: ClassVar[bool] = True
