"""Wait, without sleeping, until links are really up.

The kernel turns a new carrier into an operational state (and attaches the
queueing discipline that lets packets out) in its linkwatch work, which may be
deferred by up to a second. Until then frames are dropped. A link is ready when
its operational state is UP (or UNKNOWN for devices without carrier, like a
bridge with no ports); the wait listens for the kernel's link notifications
between checks, so it returns as soon as the condition holds.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterable

from emulator.fabric import readiness
from emulator.fabric.rtnl import BR_STATE_FORWARDING, IFA_F_DADFAILED, IFA_F_TENTATIVE, Rtnl

RTMGRP_LINK, RTMGRP_IPV6_IFADDR = 0x1, 0x100
READY_STATES = {"UP", "UNKNOWN"}


class LinkWaitTimeout(TimeoutError):
    pass


def _not_ready(rtnl: Rtnl, names: set[str]) -> set[str]:
    ready = {link.name for link in rtnl.links() if link.operstate in READY_STATES and link.up}
    return names - ready


def _drain(events: socket.socket) -> None:
    """Discard pending notifications; an overrun (ENOBUFS) only means some were lost,
    and the next check reads the state afresh anyway."""
    while True:
        try:
            events.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise


def _still_present(rtnl: Rtnl, names: set[str]) -> set[str]:
    return names & {link.name for link in rtnl.links()}


def wait_links_up(names: Iterable[str], timeout: float = 10.0) -> None:
    """Block until every named link in the calling thread's namespace is up."""
    _wait(set(names), _not_ready, "links not up", timeout)


def _not_forwarding(rtnl: Rtnl, names: set[str]) -> set[str]:
    ready = {link.name for link in rtnl.links() if link.port_state == BR_STATE_FORWARDING}
    return names - ready


def wait_ports_forwarding(names: Iterable[str], timeout: float = 10.0) -> None:
    """Block until every named bridge port in the calling thread's namespace forwards."""
    _wait(set(names), _not_forwarding, "bridge ports not forwarding", timeout)


def wait_links_gone(names: Iterable[str], timeout: float = 10.0) -> None:
    """Block until none of the named links exists in the calling thread's namespace."""
    _wait(set(names), _still_present, "links still present", timeout)


def _tentative(rtnl: Rtnl, names: set[str]) -> set[str]:
    indexes = {link.index: link.name for link in rtnl.links() if link.name in names}
    return {indexes[index] for index, _, flags in rtnl.addresses6()
            if index in indexes and flags & IFA_F_TENTATIVE and not flags & IFA_F_DADFAILED}


def wait_no_tentative(names: Iterable[str], timeout: float = 10.0) -> None:
    """Block until no named link in the calling thread's namespace has an IPv6
    address still in duplicate address detection (its link-local, say: until then
    the kernel sends no neighbour solicitation from it, and routed packets wait)."""
    _wait(set(names), _tentative, "IPv6 addresses still tentative", timeout,
          RTMGRP_IPV6_IFADDR)


def _wait(wanted: set[str], unmet, what: str, timeout: float,
          groups: int = RTMGRP_LINK) -> None:
    events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        events.bind((0, groups))
        events.setblocking(False)
        deadline = time.monotonic() + timeout
        with Rtnl() as rtnl:
            while True:
                missing = unmet(rtnl, wanted)
                if not missing:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LinkWaitTimeout(
                        f"{what} after {timeout:.0f} s: {', '.join(sorted(missing))}"
                    )
                if readiness.readable(events, remaining):
                    _drain(events)
    finally:
        events.close()
