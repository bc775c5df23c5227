"""Requests, responses and the route table of the Engine API.

Paths may carry Docker's version prefix (`/v1.45/networks`); it is stripped
before matching. A handler returns a `Response` or raises a DockerError, which
becomes dockerd's `{"message": ...}` with dockerd's status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from emulator.errdefs import DockerError, InvalidParameter

VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    api_version: str | None = None
    hijack: Any = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"invalid JSON in request body: {exc}") from None

    def filters(self) -> dict[str, list[str]]:
        """Docker's `filters` query: {"key": ["v"]} or the old {"key": {"v": true}}."""
        raw = self.arg("filters")
        if not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidParameter(f"invalid filter: {raw}") from None
        if not isinstance(parsed, dict):
            raise InvalidParameter(f"invalid filter: {raw}")
        return {k: list(v) if isinstance(v, (list, dict)) else [str(v)]
                for k, v in parsed.items()}


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    chunks: list[bytes] | None = None
    """Sent as HTTP chunks, one JSON message each, as dockerd streams progress."""
    later: Callable[[], Any] | None = None
    """When set, the headers go out at once and `later()`'s JSON follows when ready
    (dockerd answers /wait this way: clients proceed once they have the headers)."""

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return (json.dumps(self.body) + "\n").encode()


Handler = Callable[[Request], Response]


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"
        self._routes.append((method, re.compile(regex), pattern, handler))

    def route(self, request: Request) -> Response:
        path = request.path
        match = VERSION_PREFIX.match(path)
        if match:
            request.api_version, path = match.group(1), match.group(2)
        for method, regex, _, handler in self._routes:
            found = regex.match(path)
            if found and (method == request.method or (method, request.method) == ("GET", "HEAD")):
                request.params = found.groupdict()
                return handler(request)
        raise NotImplementedEndpoint(f"{request.method} {path}")


class NotImplementedEndpoint(DockerError):
    status = 501

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not implemented by the cnm-emulator Engine API")


def parse_query(raw: str) -> dict[str, list[str]]:
    return parse_qs(raw, keep_blank_values=True)
