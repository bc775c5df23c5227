"""`GET /events`: the engine's events as dockerd streams them (one JSON object each),
from `since` (kept events) until `until` or until the client goes."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator

from emulator import errdefs as err
from emulator.api.context import HostContext
from emulator.api.router import Request, Response, RouteTable
from emulator.cnm.events import EventBus, matches

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""

HEARTBEAT_S = 1.0
"""How often a quiet stream looks whether its client is still there."""


def parse_timestamp(value: str) -> int:
    """dockerd's timetypes.ParseTimestamps: `SECONDS[.NANOSECONDS]` (what the docker CLI
    sends for RFC 3339 times and durations alike) -> nanoseconds since the epoch."""
    seconds, dot, fraction = value.partition(".")
    try:
        whole = int(seconds)
    except ValueError:
        raise err.DockerError(f'strconv.ParseInt: parsing "{seconds}": invalid syntax') from None
    if not dot:
        return whole * 1_000_000_000
    try:
        nanos = int(fraction)
    except ValueError:
        raise err.DockerError(f'strconv.ParseInt: parsing "{fraction}": invalid syntax') from None
    return whole * 1_000_000_000 + int(nanos * 10 ** (9 - len(fraction)))


def optional_timestamp(request: Request, name: str) -> int | None:
    raw = request.arg(name) or ""
    return parse_timestamp(raw) if raw else None


@ROUTES.add("GET", "/events", streams=True)
def events(host: HostContext, request: Request) -> Response:
    since = optional_timestamp(request, "since")
    until = optional_timestamp(request, "until")
    if until is not None and since is not None and until < since:
        raise err.InvalidParameter(f"`since` time ({request.arg('since')}) cannot be after "
                                   f"`until` time ({request.arg('until')})")
    filters = request.filters()
    return Response(200, stream=event_stream(host.engine.events, since, until, filters),
                    headers={"Content-Type": "application/json"})


def event_stream(bus: EventBus, since: int | None, until: int | None,
                 filters: dict[str, list[str]]) -> Iterator[bytes]:
    """The events asked for, each a line of JSON; empty pieces while nothing comes."""
    with bus.subscribed(since, until) as (past, arriving):
        for event in past:
            if matches(event, filters):
                yield _line(event.message())
        if until is not None and until < time.time_ns():
            return
        while True:
            wait = HEARTBEAT_S
            if until is not None:
                wait = min(wait, max(0.0, (until - time.time_ns()) / 1e9))
            try:
                event = arriving.get(timeout=wait)
            except queue.Empty:
                if until is not None and time.time_ns() >= until:
                    return
                yield b""
                continue
            if until is not None and event.time_ns > until:
                return
            if matches(event, filters):
                yield _line(event.message())


def _line(body: dict) -> bytes:
    return (json.dumps(body) + "\n").encode()
