"""A connection taken over after `101 UPGRADED`: what exec and attach stream over.

A client asks for it with `Upgrade: tcp` (the docker CLI and docker-py always
do for exec start and attach). The handler answers `101 UPGRADED` through the
HTTP connection's state machine, then the socket carries raw bytes both ways:
the process's output to the client, the client's input (`reader`) to the
process, starting with whatever the client sent right after its request.
"""

from __future__ import annotations

import fcntl
import select
import socket
import struct
import termios
import time

import h11


def _unread(sock: socket.socket) -> int:
    """Bytes we sent that the peer has not read yet."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


class HijackReader:
    """What the client sends after the upgrade (`read1`, as a buffered file has it)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.pending = b""

    def read1(self, size: int = 65536) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return self._sock.recv(size if size > 0 else 65536)


class Hijack:
    """The raw connection of one upgraded request."""

    def __init__(self, sock: socket.socket, http: h11.Connection) -> None:
        self.sock = sock
        self._http = http
        self.reader = HijackReader(sock)
        self.upgraded = False

    def upgrade(self, content_type: str) -> None:
        self.sock.settimeout(None)
        self.sock.sendall(self._http.send(h11.InformationalResponse(
            status_code=101, reason=b"UPGRADED",
            headers=[("Content-Type", content_type), ("Connection", "Upgrade"),
                     ("Upgrade", "tcp")])) or b"")
        self.upgraded = True
        self.reader.pending = self._http.trailing_data[0]
        self._until_client_read()

    def _until_client_read(self, limit: float = 2.0) -> None:
        """Wait until the client has read the 101 headers (the socket's output queue,
        SIOCOUTQ, is empty): a client such as docker-py reads headers through a buffer
        and the stream from the raw socket, losing stream bytes that came with them."""
        deadline = time.monotonic() + limit
        pause = 0.0001
        while _unread(self.sock) and time.monotonic() < deadline:
            select.select([], [], [], pause)
            pause = min(pause * 2, 0.01)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        """End our half of the stream; the server closes the socket after the handler."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
