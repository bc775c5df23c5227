"""Wait, without sleeping, until links are really up.

The kernel turns a new carrier into an operational state (and attaches the
queueing discipline that lets packets out) in its linkwatch work, which may be
deferred by up to a second. Until then frames are dropped. A link is ready when
its operational state is UP (or UNKNOWN for devices without carrier, like a
bridge with no ports); the wait listens for the kernel's link notifications
between checks, so it returns as soon as the condition holds.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable

from pyroute2 import IPRoute

RTMGRP_LINK = 1
READY_STATES = {"UP", "UNKNOWN"}


class LinkWaitTimeout(TimeoutError):
    pass


def _not_ready(ipr: IPRoute, names: set[str]) -> set[str]:
    ready = {
        link.get("IFLA_IFNAME")
        for link in ipr.get_links()
        if link.get("IFLA_OPERSTATE") in READY_STATES and link["flags"] & 1
    }
    return names - ready


def wait_links_up(names: Iterable[str], timeout: float = 10.0) -> None:
    """Block until every named link in the calling thread's namespace is up."""
    wanted = set(names)
    events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        events.bind((0, RTMGRP_LINK))
        events.setblocking(False)
        deadline = time.monotonic() + timeout
        with IPRoute() as ipr:
            while True:
                missing = _not_ready(ipr, wanted)
                if not missing:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LinkWaitTimeout(
                        f"links not up after {timeout:.0f} s: {', '.join(sorted(missing))}"
                    )
                readable, _, _ = select.select([events], [], [], remaining)
                if readable:
                    try:
                        while events.recv(65536):
                            pass
                    except BlockingIOError:
                        pass
    finally:
        events.close()
