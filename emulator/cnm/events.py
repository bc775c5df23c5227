"""`docker events`: what happened to one engine's containers and networks, in order.

The engine publishes an event where it already knows something happened (a
container created, started, ended, removed; a network created, connected,
disconnected, removed); `docker events` reads them. Like dockerd's events
service it keeps the last 256 for `--since`, and hands each new one to every
subscriber's own queue. Publishing with no subscriber costs a dict and an append,
so the hot paths do not notice it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from emulator.cnm.filters import docker_match, labels_match
from emulator.ids import docker_time_ns

CONTAINER, NETWORK = "container", "network"
KEPT = 256
"""Events kept for `--since`, as dockerd's eventsLimit."""


@dataclass(frozen=True)
class Event:
    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_ns: int = 0
    scope: str = "local"

    def message(self) -> dict[str, object]:
        """Docker's events.Message; containers also carry the deprecated status/id/from."""
        body: dict[str, object] = {}
        if self.type == CONTAINER:
            body.update(status=self.action, id=self.actor_id)
            if self.attributes.get("image"):
                body["from"] = self.attributes["image"]
        body.update(Type=self.type, Action=self.action,
                    Actor={"ID": self.actor_id, "Attributes": dict(self.attributes)},
                    scope=self.scope, time=self.time_ns // 1_000_000_000,
                    timeNano=self.time_ns)
        return body


def run_seconds(container) -> int:
    """Whole seconds the container's last run took (the die event's execDuration)."""
    started = docker_time_ns(container.started_at)
    finished = docker_time_ns(container.finished_at)
    if started is None or finished is None or finished < started:
        return 0
    return (finished - started) // 1_000_000_000


def matches(event: Event, filters: Mapping[str, list[str]]) -> bool:
    """dockerd's events filter: values of one key OR-ed, keys AND-ed; `container`
    and `network` match the actor's ID (or its prefix) or its name."""

    def exact(key: str, value: str) -> bool:
        wanted = filters.get(key)
        return not wanted or value in wanted

    def named(key: str) -> bool:
        wanted = filters.get(key)
        if not wanted:
            return True
        if event.type != key:
            return False
        name = event.attributes.get("name", "")
        return any(event.actor_id.startswith(v) or docker_match(v, name) for v in wanted)

    image = event.attributes.get("image", "")
    return (exact("type", event.type) and exact("event", event.action)
            and exact("scope", event.scope) and named(CONTAINER) and named(NETWORK)
            and (not filters.get("image") or image in filters["image"]
                 or image.partition(":")[0] in filters["image"])
            and labels_match(event.attributes, filters.get("label", [])))


EVENT_FILTERS = ("config", "container", "daemon", "event", "image", "label", "network",
                 "node", "plugin", "scope", "secret", "service", "type", "volume")


class EventBus:
    """One engine's events: kept (the last `KEPT`) and handed to subscribers."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._kept: deque[Event] = deque(maxlen=KEPT)
        self._subscribers: list[queue.SimpleQueue[Event]] = []
        self._lock = threading.Lock()

    def publish(self, type: str, action: str, actor_id: str,
                attributes: Mapping[str, str] | None = None) -> Event:
        event = Event(type, action, actor_id, dict(attributes or {}), self._clock())
        with self._lock:
            self._kept.append(event)
            for subscriber in self._subscribers:
                subscriber.put(event)
        return event

    def container(self, container, action: str, **extra: str) -> Event:
        """A container event with dockerd's attributes: its labels, image and name."""
        attributes = dict(container.labels)
        attributes.update(extra)
        if container.image:
            attributes["image"] = container.image
        attributes["name"] = container.name
        return self.publish(CONTAINER, action, container.id, attributes)

    def network(self, network, action: str, **extra: str) -> Event:
        """A network event with dockerd's attributes: its name and driver (`type`)."""
        return self.publish(NETWORK, action, network.id,
                            {**extra, "name": network.name, "type": network.driver})

    def past(self, since_ns: int | None = None, until_ns: int | None = None) -> list[Event]:
        """The kept events from `since_ns` to `until_ns` (both included), oldest first."""
        with self._lock:
            kept = list(self._kept)
        return [e for e in kept if (since_ns is None or e.time_ns >= since_ns)
                and (until_ns is None or e.time_ns <= until_ns)]

    @contextmanager
    def subscribed(self, since_ns: int | None = None,
                   until_ns: int | None = None) -> Iterator[tuple[list[Event],
                                                                  queue.SimpleQueue[Event]]]:
        """The kept events asked for (none unless `since_ns` or `until_ns` is given, as
        dockerd) and a queue of the events published from now on, until the block ends."""
        mine: queue.SimpleQueue[Event] = queue.SimpleQueue()
        with self._lock:
            kept = list(self._kept)
            self._subscribers.append(mine)
        try:
            past = [] if since_ns is None and until_ns is None else [
                e for e in kept if (since_ns is None or e.time_ns >= since_ns)
                and (until_ns is None or e.time_ns <= until_ns)]
            yield past, mine
        finally:
            with self._lock:
                self._subscribers.remove(mine)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)
