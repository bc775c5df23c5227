"""Waiting for descriptors to be ready, whatever their number.

select(2) aborts the whole process (glibc's FD_SETSIZE check) on a descriptor
numbered 1024 or more, which a lab with a few hundred containers reaches (their
pipes, pidfds, terminals and sockets); poll(2) has no such limit. Every wait of
the lab's process goes through here.
"""

from __future__ import annotations

import select
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def _fd(item: Any) -> int:
    return item if isinstance(item, int) else item.fileno()


def ready(read: Iterable[T] = (), write: Iterable[T] = (),
          timeout: float | None = None) -> tuple[list[T], list[T]]:
    """The items of `read` that can be read and of `write` that can be written (fds or
    objects with fileno()), waiting up to `timeout` seconds (None: until one is). An
    item at its end or in error counts as ready, as select reports it."""
    poller = select.poll()
    wanted: dict[int, int] = {}
    items: dict[int, tuple[list[T], list[T]]] = {}
    for kind, group in ((select.POLLIN, read), (select.POLLOUT, write)):
        for item in group:
            fd = _fd(item)
            wanted[fd] = wanted.get(fd, 0) | kind
            readers, writers = items.setdefault(fd, ([], []))
            (readers if kind == select.POLLIN else writers).append(item)
    for fd, mask in wanted.items():
        poller.register(fd, mask)
    millis = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
    readable: list[T] = []
    writable: list[T] = []
    for fd, events in poller.poll(millis):
        readers, writers = items[fd]
        if events & (select.POLLIN | _DONE):
            readable.extend(readers)
        if events & (select.POLLOUT | _DONE):
            writable.extend(writers)
    return readable, writable


def readable(item: Any, timeout: float | None = None) -> bool:
    """Whether one fd (or object with fileno()) can be read within `timeout` seconds."""
    return bool(ready([item], timeout=timeout)[0])
