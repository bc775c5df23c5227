"""Hijacked connections (exec start, attach) and the output they carry.

docker-py reads a hijacked stream from the raw socket under the HTTP response's
buffered reader, which loses whatever arrived together with the `101 UPGRADED`
headers (a command that fails at once, or prints quickly). This reads the
buffered reader itself: Docker's frames without a TTY (one byte stream, three
zero bytes, big-endian length), the bytes as they come with one.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator

STDOUT, STDERR = 1, 2
_UPGRADE = {"Connection": "Upgrade", "Upgrade": "tcp"}


def start_exec(api, exec_id: str, tty: bool):
    """POST /exec/{id}/start, upgraded; the response whose stream `frames` reads."""
    response = api._post_json(api._url("/exec/{0}/start", exec_id), headers=_UPGRADE,
                              data={"Tty": tty, "Detach": False}, stream=True)
    api._raise_for_status(response)
    return response


def attach(api, container: str):
    """POST /containers/{id}/attach for stdout and stderr, upgraded."""
    response = api._post(api._url("/containers/{0}/attach", container), headers=_UPGRADE,
                         params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 0},
                         stream=True)
    api._raise_for_status(response)
    return response


def frames(response, tty: bool) -> Iterator[tuple[int, bytes]]:
    """(stream, bytes) until the daemon closes the connection."""
    reader = response.raw._fp.fp
    if tty:
        while chunk := reader.read1(65536):
            yield STDOUT, chunk
        return
    while len(header := reader.read(8)) == 8:
        stream, length = struct.unpack(">BxxxL", header)
        yield stream, reader.read(length)


def copy(response, tty: bool) -> None:
    """Write the stream's output to our stdout and stderr as it comes."""
    try:
        for stream, data in frames(response, tty):
            out = sys.stderr.buffer if stream == STDERR else sys.stdout.buffer
            out.write(data)
            out.flush()
    finally:
        response.close()
