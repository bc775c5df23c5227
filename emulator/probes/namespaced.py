"""Programs and sockets inside lab namespaces, for what measures or serves traffic there.

A thread steps into the network namespace of a process (a container's, a Docker
host's), starts the program or opens the socket there, and steps back; both keep
that namespace. Nothing is ever started or opened in the machine's own namespace.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from emulator.fabric.netns import Namespace
from emulator.probes.engine import refuse_machine_namespace

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@contextmanager
def inside(pid: int) -> Iterator[None]:
    """The calling thread in the network namespace of `pid`, never the machine's own."""
    ns = Namespace.of_pid(pid)
    try:
        refuse_machine_namespace(ns)
        with ns.entered():
            yield
    finally:
        ns.close()


def popen_in(pid: int, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    with inside(pid):
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={"PATH": PATH, **env})


def run_in(pid: int, argv: list[str], env: dict[str, str],
           timeout: float = 60) -> subprocess.CompletedProcess:
    with inside(pid):
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": PATH, **env})


def socket_in(pid: int, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    with inside(pid):
        return socket.socket(socket.AF_INET, kind)
