"""Docker's Engine API on a Unix socket per emulated Docker host.

A facade over the host's Engine: the real `docker` CLI and docker-py drive the
lab through it. No network logic lives here, only Docker's wire format.
"""

from emulator.api.server import API_VERSION, ApiServer

__all__ = ["API_VERSION", "ApiServer"]
