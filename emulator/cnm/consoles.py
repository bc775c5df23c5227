"""The terminal or stdin of a container run with `-t` or `-i`, and who is attached to it.

containerd's shim holds a TTY container's terminal for its whole life: it copies
what the container writes to the log and to every attached client, and what an
attached client types to the container. A `Console` does that for one container
across its runs: made at create (so a client attached before the start sees the
first byte, a shell's prompt), given the terminal's master (or the stdin pipe's
write end) at each start, and ended with the container.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from emulator.fabric.terminals import set_window

Listener = Callable[[bytes | None], None]
"""Hears each chunk of a TTY's output, then None once the terminal has closed."""


class Console:
    """One container's terminal (`tty`) or stdin pipe."""

    def __init__(self, tty: bool, log: Path | None) -> None:
        self.tty = tty
        self._log = log
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._master: int | None = None
        self._stdin: int | None = None
        self._size: tuple[int, int] | None = None
        self._pending = b""  # typed before the start
        self._close_pending = False

    def begin(self, master: int | None, stdin: int | None) -> None:
        """A run started: its terminal's master (TTY) or stdin's write end (-i)."""
        with self._lock:
            old, self._master, self._stdin = self._stdin, master, stdin
            pending, self._pending = self._pending, b""
            close, self._close_pending = self._close_pending, False
        if old is not None:  # the previous run's
            os.close(old)
        if pending:
            self.write(pending)
        if close:
            self.close_stdin()
        if master is not None:
            if self._size is not None:
                set_window(master, *self._size)
            threading.Thread(target=self._copy_output, args=(master,), daemon=True,
                             name="cnm-console").start()

    def listen(self) -> tuple[queue.SimpleQueue[bytes | None], Callable[[], None]]:
        """A queue of the TTY's output from now on (None once the terminal closes), and
        the function that stops it."""
        chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        with self._lock:
            self._listeners.append(chunks.put)

        def stop() -> None:
            with self._lock:
                if chunks.put in self._listeners:
                    self._listeners.remove(chunks.put)

        return chunks, stop

    def write(self, data: bytes) -> None:
        """What an attached client typed, to the terminal or the stdin pipe."""
        with self._lock:
            fd = self._master if self._master is not None else self._stdin
            if fd is None:
                self._pending += data
                return
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def close_stdin(self) -> None:
        """The attached client's input ended (`StdinOnce`): so does the container's."""
        with self._lock:
            fd, self._stdin = self._stdin, None
            if fd is None and self._master is None:
                self._close_pending = True
        if fd is not None:
            os.close(fd)

    def resize(self, rows: int, cols: int) -> None:
        """`/containers/{id}/resize`: the terminal's window, now and at the next start."""
        self._size = (rows, cols)
        master = self._master
        if master is not None:
            try:
                set_window(master, rows, cols)
            except OSError:
                pass

    def end(self) -> None:
        """The container is gone: what is still open is closed."""
        self.close_stdin()

    def _copy_output(self, master: int) -> None:
        log = open(self._log, "ab") if self._log is not None else None  # noqa: SIM115
        try:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError as exc:
                    if exc.errno == errno.EINTR:
                        continue
                    break  # EIO: every process holding the terminal has ended
                if not data:
                    break
                if log is not None:
                    log.write(data)
                    log.flush()
                with self._lock:
                    listeners = list(self._listeners)
                for listener in listeners:
                    listener(data)
        finally:
            with self._lock:
                if self._master == master:
                    self._master = None
                listeners = list(self._listeners)
            os.close(master)
            if log is not None:
                log.close()
            for listener in listeners:
                listener(None)
