"""Long-lived descriptors are kept numbered FD_SETSIZE (1024) and above.

libnftables waits on its netlink socket with select(), and glibc aborts the whole
process when select() is handed a descriptor numbered 1024 or more. The kernel
gives out the lowest free number, so in a lab of a thousand containers, whose
resolvers hold two sockets each, every nft session opened afterwards would get
a number above 1023 and bring the lab down. Moving the sockets that live as long
as a container above that line leaves the low numbers to short-lived ones.
"""

from __future__ import annotations

import fcntl
import resource
import socket
import threading

FD_SETSIZE = 1024
_limit_lock = threading.Lock()
_limit_raised = [False]


def _raise_soft_limit() -> None:
    """The soft limit on open descriptors up to the hard one (once per process)."""
    with _limit_lock:
        if _limit_raised[0]:
            return
        _limit_raised[0] = True
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def lifted(sock: socket.socket) -> socket.socket:
    """`sock`, renumbered to FD_SETSIZE or above (the same socket, its old number
    closed); as it was when the descriptor limit leaves no room up there."""
    if sock.fileno() >= FD_SETSIZE:
        return sock
    _raise_soft_limit()
    try:
        number = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, FD_SETSIZE)
    except OSError:
        return sock
    moved = socket.socket(fileno=number)
    moved.settimeout(sock.gettimeout())
    sock.close()
    return moved
