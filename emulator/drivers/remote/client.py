"""The HTTP side of Docker's plugin protocol: JSON POSTs to a plugin's socket.

One request per connection, a deadline per call. A plugin answers 200 with a JSON
object, with {"Err": "..."} on failure, or 404 for a call it does not implement.
Anything else (no socket, a refused or dropped connection, a timeout, a body that is
not a JSON object) is a PluginError naming the plugin, the call and what went wrong.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"


class PluginError(RuntimeError):
    """The plugin could not be asked, or its answer made no sense."""


class PluginCallFailed(RuntimeError):
    """The plugin answered {"Err": "..."}."""

    def __init__(self, call: str, message: str) -> None:
        super().__init__(message)
        self.call = call
        self.message = message


class NotImplementedByPlugin(RuntimeError):
    """The plugin answered 404: it does not implement this (optional) call."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


@dataclass(frozen=True)
class PluginAddress:
    """Where a plugin listens: a Unix socket path, or host:port for tcp://."""

    name: str
    unix: str | None = None
    tcp: tuple[str, int] | None = None

    def __str__(self) -> str:
        return f"unix://{self.unix}" if self.unix else f"tcp://{self.tcp[0]}:{self.tcp[1]}"


class PluginClient:
    def __init__(self, address: PluginAddress, timeout: float = 10.0) -> None:
        self.address = address
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.address.unix:
            return _UnixConnection(self.address.unix, self.timeout)
        host, port = self.address.tcp  # type: ignore[misc]
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def call(self, method: str, body: dict | None = None) -> dict:
        """POST /method; the reply object. Raises PluginCallFailed, NotImplementedByPlugin
        or PluginError."""
        where = f"plugin {self.address.name} ({self.address}) /{method}"
        connection = self._connection()
        try:
            connection.request("POST", f"/{method}", body=json.dumps(body or {}),
                               headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
            response = connection.getresponse()
            raw = response.read()
        except TimeoutError:
            raise PluginError(f"{where}: no answer within {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise PluginError(f"{where}: {exc.__class__.__name__}: {exc}") from None
        finally:
            connection.close()
        if response.status == 404:
            raise NotImplementedByPlugin(f"{where}: not implemented")
        try:
            reply = json.loads(raw or b"{}")
        except ValueError:
            raise PluginError(f"{where}: the answer is not JSON: {raw[:80]!r}") from None
        if not isinstance(reply, dict):
            raise PluginError(f"{where}: the answer is not a JSON object: {raw[:80]!r}")
        if reply.get("Err"):
            raise PluginCallFailed(method, str(reply["Err"]))
        if response.status != 200:
            raise PluginError(f"{where}: HTTP {response.status}: {raw[:80]!r}")
        return reply
