"""Reads a topology file's text within bounds, so that no path can exhaust memory or hang.

A topology is a small regular file. Anything else named as one is refused before it is
read: a FIFO would block the reader forever, /dev/zero would be read until memory runs
out. The size is checked on what is read, not only on what stat says, because /proc
files say 0 and a file may grow while it is read.
"""

from __future__ import annotations

import os
import stat
from typing import NoReturn

from .errors import Problem, TopologyError

MAX_FILE_BYTES = 1 << 20
MAX_FILE_SIZE = "1 MiB"
_CHUNK = 1 << 16

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_topology_file(path: str | os.PathLike[str]) -> str:
    """The file's text; raises TopologyError (FILE: what is wrong) for a file that is not a
    regular file, is larger than MAX_FILE_BYTES or is not UTF-8, and OSError when it
    cannot be opened."""
    source = os.fspath(path)
    _refuse_unless_regular(source, os.stat(source).st_mode)
    # O_NONBLOCK: should the path become a FIFO after the stat, opening it cannot block.
    fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _refuse_unless_regular(source, os.fstat(fd).st_mode)
        data = _read_at_most(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        _refuse(source, f"too large: a topology file may be at most {MAX_FILE_SIZE} "
                f"({MAX_FILE_BYTES} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        _refuse(source, f"not UTF-8 text (byte {error.start}: {error.reason})")


def _refuse_unless_regular(source: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    _refuse(source, f"{kind}, not a regular file")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _refuse(source: str, message: str) -> NoReturn:
    raise TopologyError([Problem(source, None, None, message)])
