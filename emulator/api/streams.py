"""Copying a process's output to a hijacked connection, Docker's way.

Without a TTY every chunk is framed: one byte for the stream (1 stdout,
2 stderr), three zero bytes, a big-endian length. With a TTY the bytes go raw.
"""

from __future__ import annotations

import os
import selectors
import struct
import threading
from collections.abc import Callable

from emulator.fabric import readiness
from emulator.fabric.terminals import read_now

STDOUT, STDERR = 1, 2
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def pump(hijack, sources: dict[int, int], tty: bool, until_fd: int | None = None) -> None:
    """Forward every source fd (fd -> stream) until all reach EOF.

    `until_fd` (a pidfd) ends the copy when it becomes readable, after draining
    what the sources still hold: a FIFO whose writer we also hold never ends by EOF.
    """
    selector = selectors.DefaultSelector()
    for fd in sources:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    if until_fd is not None:
        selector.register(until_fd, selectors.EVENT_READ)
    open_fds = set(sources)
    try:
        while open_fds:
            for key, _ in selector.select():
                fd = key.fd
                if fd == until_fd:
                    for source in list(open_fds):
                        _drain(hijack, source, sources[source], tty)
                    return
                if not _forward(hijack, fd, sources[fd], tty):
                    selector.unregister(fd)
                    open_fds.discard(fd)
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        selector.close()


def _forward(hijack, fd: int, stream: int, tty: bool) -> bool:
    """Send what fd has now; False at EOF."""
    data = read_now(fd)
    if data is None:
        return False
    if data:
        hijack.send(data if tty else frame(stream, data))
    return True


def drain(hijack, fd: int, stream: int, tty: bool) -> None:
    """Send what fd holds now, without waiting for more."""
    os.set_blocking(fd, False)
    _drain(hijack, fd, stream, tty)


def _drain(hijack, fd: int, stream: int, tty: bool) -> None:
    while _forward(hijack, fd, stream, tty) and _readable(fd):
        pass


def _readable(fd: int) -> bool:
    return readiness.readable(fd, 0)


def feed_stdin(hijack, write: Callable[[bytes], object],
               close: Callable[[], object] | None = None) -> threading.Thread:
    """Copy what the client sends after the upgrade into the process's stdin;
    at the client's end of input, `close` the process's stdin (if given)."""

    def copy() -> None:
        try:
            while True:
                data = hijack.reader.read1(65536)
                if not data:
                    break
                write(data)
        except (OSError, ValueError):
            pass
        finally:
            if close is not None:
                try:
                    close()
                except (OSError, ValueError):
                    pass

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread
