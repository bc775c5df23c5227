"""Containers' logs as dockerd's json-file driver keeps them: one record per line,
with its stream and the time it was written, so `docker logs` can tell stdout from
stderr and answer `-t`, `--since`, `--until`, `--tail` and `-f`.

A container's output goes through two FIFOs to one collector thread per engine,
which splits it into lines, stamps each and appends it to `<id>-json.log`
(`{"log": "...", "stream": "stdout", "time": "RFC 3339 nanoseconds"}`, the
json-file format); a pidfd of the container's process tells the collector when
the run ended (the rest of its output is read then). Followers (`logs -f`) wait on
the store's condition for new records and end once the run has.
"""

from __future__ import annotations

import json
import os
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from emulator.fabric.terminals import read_now
from emulator.ids import docker_time_ns

STDOUT, STDERR = 1, 2
STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr"}
STREAMS = {name: number for number, name in STREAM_NAMES.items()}
MAX_LINE = 16 * 1024
"""A line longer than this is recorded in pieces, as dockerd's copier does."""


def rfc3339_nano(time_ns: int, fixed: bool = False) -> str:
    """Go's RFC3339Nano (trailing zeros trimmed), or with `fixed` Docker's
    RFC3339NanoFixed (always nine digits: what `docker logs -t` prints)."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    head = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}"
    if not fixed:
        fraction = fraction.rstrip("0")
    return f"{head}.{fraction}Z" if fraction else f"{head}Z"


@dataclass(frozen=True)
class LogRecord:
    stream: int
    data: bytes
    time_ns: int

    def encoded(self) -> bytes:
        text = self.data.decode("utf-8", "surrogateescape")
        return (json.dumps({"log": text, "stream": STREAM_NAMES[self.stream],
                            "time": rfc3339_nano(self.time_ns)}) + "\n").encode()

    @classmethod
    def decoded(cls, line: bytes) -> LogRecord:
        raw = json.loads(line)
        return cls(STREAMS.get(raw.get("stream"), STDOUT),
                   raw.get("log", "").encode("utf-8", "surrogateescape"),
                   docker_time_ns(raw["time"]) or 0)


class _Run:
    """One container's output being recorded: the log file and each stream's partial line."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "ab")
        self.partial = {STDOUT: b"", STDERR: b""}
        self.users = 1

    def lines(self, stream: int, data: bytes, now: int) -> list[LogRecord]:
        buffered = self.partial[stream] + data
        records = []
        while True:
            cut = buffered.find(b"\n")
            if cut < 0 and len(buffered) < MAX_LINE:
                break
            end = cut + 1 if 0 <= cut < MAX_LINE else MAX_LINE
            records.append(LogRecord(stream, buffered[:end], now))
            buffered = buffered[end:]
        self.partial[stream] = buffered
        return records

    def rest(self, now: int) -> list[LogRecord]:
        records = [LogRecord(s, data, now) for s, data in self.partial.items() if data]
        self.partial = {STDOUT: b"", STDERR: b""}
        return records


class LogStore:
    """The logs of one engine's containers under `log_dir`; writers append, readers
    read and followers wait for more."""

    def __init__(self, log_dir: Path, clock: Callable[[], int] = time.time_ns) -> None:
        self.log_dir = log_dir
        self._clock = clock
        self._runs: dict[str, _Run] = {}
        self._changed = threading.Condition()

    def path(self, cid: str) -> Path:
        return self.log_dir / f"{cid}-json.log"

    def raw_path(self, cid: str) -> Path:
        """Output the fabric wrote as it came (a start that was not captured)."""
        return self.log_dir / f"{cid}.log"

    # -- writing ------------------------------------------------------------------

    def begin(self, cid: str) -> None:
        """A writer of the container's output begins (another may be writing too)."""
        with self._changed:
            run = self._runs.get(cid)
            if run is None:
                self._runs[cid] = _Run(self.path(cid))
            else:
                run.users += 1

    def append(self, cid: str, stream: int, data: bytes) -> None:
        with self._changed:
            run = self._runs.get(cid)
            if run is None:
                return
            self._write(run, run.lines(stream, data, self._clock()))

    def end(self, cid: str) -> None:
        """A writer is done; with the last one the run ends (its partial lines written)."""
        with self._changed:
            run = self._runs.get(cid)
            if run is None:
                return
            run.users -= 1
            if run.users > 0:
                return
            del self._runs[cid]
            self._write(run, run.rest(self._clock()))
            run.file.close()

    def _write(self, run: _Run, records: list[LogRecord]) -> None:
        if records:
            run.file.write(b"".join(r.encoded() for r in records))
            run.file.flush()
        self._changed.notify_all()

    def recording(self, cid: str) -> bool:
        with self._changed:
            return cid in self._runs

    def remove(self, cid: str) -> None:
        self.path(cid).unlink(missing_ok=True)
        self.raw_path(cid).unlink(missing_ok=True)

    # -- reading ------------------------------------------------------------------

    def records(self, cid: str, since_ns: int | None = None, until_ns: int | None = None,
                tail: int | None = None, raw_time_ns: int = 0) -> tuple[list[LogRecord], int]:
        """What the container wrote (tail first, then since/until, as json-file reads),
        and the offset in its log where a follower goes on."""
        records: list[LogRecord] = []
        raw = self.raw_path(cid)
        if raw.exists():
            records += [LogRecord(STDOUT, line, raw_time_ns)
                        for line in raw.read_bytes().splitlines(keepends=True)]
        data = self._read(self.path(cid), 0)
        records += [LogRecord.decoded(line) for line in data.splitlines(keepends=True)]
        if tail is not None:
            records = records[len(records) - tail:] if tail else []
        return [r for r in records if _within(r, since_ns, until_ns)], len(data)

    @staticmethod
    def _read(path: Path, offset: int) -> bytes:
        """Whole records from `offset` on (a record still being written is left)."""
        try:
            with open(path, "rb") as log:
                log.seek(offset)
                data = log.read()
        except FileNotFoundError:
            return b""
        return data[:data.rfind(b"\n") + 1]

    def follow(self, cid: str, offset: int, until_ns: int | None = None,
               heartbeat: float = 1.0) -> Iterator[LogRecord | None]:
        """Records written from `offset` on, as they come, until the run ends (or a record
        is past `until_ns`); None every `heartbeat` seconds while nothing comes."""
        path = self.path(cid)
        while True:
            with self._changed:
                data = self._read(path, offset)
                if not data:
                    if cid not in self._runs:
                        return
                    self._changed.wait(heartbeat)
                    data = self._read(path, offset)
            if not data:
                yield None
                continue
            offset += len(data)
            for line in data.splitlines(keepends=True):
                record = LogRecord.decoded(line)
                if until_ns is not None and record.time_ns > until_ns:
                    return
                yield record


def _within(record: LogRecord, since_ns: int | None, until_ns: int | None) -> bool:
    return ((since_ns is None or record.time_ns >= since_ns)
            and (until_ns is None or record.time_ns <= until_ns))


class OutputCollector:
    """One thread reading the output of every captured container of an engine into
    its LogStore; `on_end(cid)` is called (from that thread) when a run has ended."""

    def __init__(self, store: LogStore, on_end: Callable[[str], None]) -> None:
        self._store = store
        self._on_end = on_end
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[tuple[str, tuple[int, ...], int | None]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False

    def watch(self, cid: str, outputs: dict[int, int], pidfd: int | None) -> None:
        """Read `outputs` (fd -> stream) into the container's log until `pidfd` (the
        process) ends, then close them all. The store's run must have begun."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                 name="container-output")
                self._thread.start()
            self._pending.append((cid, tuple(outputs.items()), pidfd))  # type: ignore[arg-type]
        os.write(self._wake_w, b"\0")

    def close(self) -> None:
        self._closing = True
        try:
            os.write(self._wake_w, b"\0")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        runs: dict[_RunKey, list[int]] = {}
        while not self._closing:
            for key, _ in self._selector.select():
                if key.data is None:
                    self._take_pending(runs)
                    continue
                if self._selector.get_map().get(key.fd) is not key:
                    continue  # closed by an earlier event of this round
                run, kind, stream = key.data
                if kind == "exit":
                    self._finish(run, runs)
                elif not self._read(run.cid, key.fd, stream):
                    self._selector.unregister(key.fd)
                    os.close(key.fd)
                    runs[run].remove(key.fd)
        for run in list(runs):
            self._finish(run, runs, notify=False)

    def _take_pending(self, runs: dict[_RunKey, list[int]]) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            pending, self._pending = self._pending, []
        for cid, outputs, pidfd in pending:
            run = _RunKey(cid)  # a restarted container's new run is another one
            fds = runs[run] = []
            for fd, stream in outputs:
                os.set_blocking(fd, False)
                self._selector.register(fd, selectors.EVENT_READ, (run, "out", stream))
                fds.append(fd)
            if pidfd is not None:
                self._selector.register(pidfd, selectors.EVENT_READ, (run, "exit", 0))
                fds.append(pidfd)
            else:
                self._finish(run, runs)

    def _read(self, cid: str, fd: int, stream: int) -> bool:
        """Record what fd has now; False at its end."""
        while True:
            data = read_now(fd)
            if data is None:
                return False
            if not data:
                return True
            self._store.append(cid, stream, data)

    def _finish(self, run: _RunKey, runs: dict[_RunKey, list[int]],
                notify: bool = True) -> None:
        """The run ended: what its outputs still hold is recorded, then they close."""
        for fd in runs.pop(run, []):
            key = self._selector.get_map().get(fd)
            if key is not None and key.data[1] == "out":
                self._read(run.cid, fd, key.data[2])
            self._selector.unregister(fd)
            os.close(fd)
        self._store.end(run.cid)
        if notify:
            self._on_end(run.cid)


class _RunKey:
    """One run of a container being collected (compared by identity)."""

    __slots__ = ("cid",)

    def __init__(self, cid: str) -> None:
        self.cid = cid
