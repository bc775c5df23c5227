"""Requests, responses and the route table of the Engine API.

Paths may carry Docker's version prefix (`/v1.45/networks`); it is stripped
before matching, and a route found answers dockerd's 400 to a version it does
not serve. Path parameters are URL-decoded, as dockerd's router decodes them
(`/networks/my%20net` is the network `my net`). A handler is a plain function
of the host it serves and the request; it returns a `Response` (None once it has
streamed over a hijacked connection) or raises a DockerError, which becomes
dockerd's `{"message": ...}` with dockerd's status. Handlers read a body with
`emulator.api.bodies.decode`. A request no route takes is refused as dockerd
would (404 `page not found`), or, for an operation of Docker's API the emulator
lacks, with 501.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from emulator.api import apispec
from emulator.api.version import VERSION_PREFIX, check_client_version
from emulator.errdefs import DockerError, InvalidParameter, NotFound


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
    stream: Iterator[bytes] | None = None
    """When set, the headers go out at once and each piece follows as an HTTP chunk as
    it comes (events, `logs -f`, stats); an empty piece only asks whether the client
    is still there, and the stream ends (the iterator closed) when it is not."""

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return (json.dumps(self.body) + "\n").encode()


Handler = Callable[[Any, Request], Response | None]
"""handler(context, request): the context is what the routes act on (one host)."""


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    """A path with `{name}` placeholders, each matching one path segment."""
    handler: Handler
    streams: bool = False
    """Its answer may take as long as a container runs (the server gives it a thread
    of its own rather than one of its workers)."""

    def regex(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$")


class RouteTable(list[Route]):
    """A module's routes, declared on the handlers: `@ROUTES.add("GET", "/networks")`."""

    def add(self, method: str, pattern: str,
            streams: bool = False) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.append(Route(method, pattern, handler, streams))
            return handler

        return declare


class Router:
    """Finds a request's route (the first that matches) and calls its handler."""

    def __init__(self, routes: Iterable[Route], context: Any) -> None:
        self._routes = [(route, route.regex()) for route in routes]
        self._context = context

    def _find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, regex in self._routes:
            found = regex.match(path)
            if found and (route.method == method
                          or (route.method, method) == ("GET", "HEAD")):
                return route, found.groupdict()
        return None

    def streams(self, method: str, path: str) -> bool:
        """Whether the route of `method path` (version prefix and all) streams."""
        match = VERSION_PREFIX.match(path)
        found = self._find(method, match.group(2) if match else path)
        return found is not None and found[0].streams

    def route(self, request: Request) -> Response | None:
        path = request.path
        match = VERSION_PREFIX.match(path)
        if match:
            request.api_version, path = match.group(1), match.group(2)
        found = self._find(request.method, path)
        if found is None:
            if in_spec(request.method, path):
                raise NotImplementedEndpoint(f"{request.method} {path}")
            raise NotFound("page not found")
        route, params = found
        check_client_version(request.api_version)
        request.params = {name: unquote(value) for name, value in params.items()}
        return route.handler(self._context, request)


class NotImplementedEndpoint(DockerError):
    status = 501

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not implemented by the cnm-emulator Engine API")


@functools.cache
def _spec_operations() -> list[tuple[str, re.Pattern[str]]]:
    paths = apispec.load()["paths"]
    return [(method.upper(), re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", template) + "$"))
            for template, operations in paths.items() for method in operations]


def in_spec(method: str, path: str) -> bool:
    """Whether Docker's API has `method path` (else dockerd answers 404 page not found)."""
    return any(method == m and regex.match(path) for m, regex in _spec_operations())


def parse_query(raw: str) -> dict[str, list[str]]:
    return parse_qs(raw, keep_blank_values=True)
