"""Waiting until the links of a namespace carry frames, before a check sends any.

A link whose carrier just came on (IFF_LOWER_UP) is still dropping frames until the
kernel's link-watch work has run for it (it attaches the queueing discipline and
sets the operational state), which may be deferred by up to a second. A check that
probes right after a container joins would otherwise lose its first frames and
blame the driver. The condition: no link is up with carrier while its operational
state is not yet UP; it is awaited with the kernel's link notifications.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Iterable

from emulator.fabric.netns import Namespace

RTM_GETLINK, RTM_NEWLINK = 18, 16
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
IFLA_IFNAME, IFLA_OPERSTATE = 3, 16
IF_OPER_UP, IF_OPER_UNKNOWN = 6, 0
RTMGRP_LINK = 1
_NLMSG = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    out = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def pending_links(sock: socket.socket) -> list[str]:
    """Links that are up with carrier but not yet operationally up."""
    sock.send(_NLMSG.pack(_NLMSG.size + _IFINFO.size, RTM_GETLINK,
                          NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + _IFINFO.pack(0, 0, 0, 0, 0))
    pending = []
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _NLMSG.size <= len(data):
            length, kind, _, _, _ = _NLMSG.unpack_from(data, offset)
            if kind in (NLMSG_DONE, NLMSG_ERROR):
                return pending
            if kind == RTM_NEWLINK:
                body = data[offset + _NLMSG.size:offset + length]
                _, _, _, flags, _ = _IFINFO.unpack_from(body, 0)
                attrs = _attrs(body, _IFINFO.size)
                oper = attrs.get(IFLA_OPERSTATE, b"\0")[0]
                carrier = flags & IFF_UP and flags & IFF_LOWER_UP
                if carrier and oper not in (IF_OPER_UP, IF_OPER_UNKNOWN):
                    pending.append(attrs.get(IFLA_IFNAME, b"?").rstrip(b"\0").decode())
            offset += (length + 3) & ~3


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
                dump = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
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
                    if select.select([events], [], [], deadline - time.monotonic())[0]:
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
