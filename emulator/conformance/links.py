"""Waiting until the links of a namespace carry frames, before a check sends any.

A link whose carrier just came on (IFF_LOWER_UP) is still dropping frames until the
kernel's link-watch work has run for it (it attaches the queueing discipline and
sets the operational state), which may be deferred by up to a second. A check that
probes right after a container joins would otherwise lose its first frames and
blame the driver. The condition: no link is up with carrier while its operational
state is not yet UP; it is awaited with the kernel's link notifications.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from emulator.fabric import readiness
from emulator.fabric.linkwait import READY_STATES, RTMGRP_LINK
from emulator.fabric.netns import Namespace
from emulator.fabric.rtnl import Rtnl


def pending_links(rtnl: Rtnl) -> list[str]:
    """Links that are up with carrier but not yet operationally up."""
    return [link.name for link in rtnl.links()
            if link.up and link.lower_up and link.operstate not in READY_STATES]


def wait_ready(pids: Iterable[int], timeout: float = 3.0) -> list[str]:
    """Wait in the namespace of each pid (distinct namespaces once) until no link is
    pending; the links that had to be waited for, as 'pid:name'."""
    waited: list[str] = []
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    for pid in pids:
        ns = Namespace.of_pid(pid)
        try:
            if ns.inode in seen:
                continue
            seen.add(ns.inode)
            with ns.entered():
                dump = Rtnl()
                events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW,
                                       socket.NETLINK_ROUTE)
            try:
                events.bind((0, RTMGRP_LINK))
                events.setblocking(False)
                first = True
                while (pending := pending_links(dump)) and time.monotonic() < deadline:
                    if first:
                        waited += [f"{pid}:{name}" for name in pending]
                        first = False
                    if readiness.readable(events, deadline - time.monotonic()):
                        try:
                            while events.recv(1 << 16):
                                pass
                        except BlockingIOError:
                            pass
            finally:
                dump.close()
                events.close()
        finally:
            ns.close()
    return waited
