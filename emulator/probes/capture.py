"""Packet capture inside a lab namespace: raw frames from one interface, with direction.

An AF_PACKET socket opened while the thread is inside the namespace and bound to the
interface sees every frame it sends and receives; frames are kept as bytes with their
time and direction, for exact byte counts and for pcap files.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from emulator.fabric.netns import Namespace
from emulator.probes.engine import refuse_machine_namespace

ETH_P_ALL = 0x0003
OUTGOING = socket.PACKET_OUTGOING


@dataclass(frozen=True)
class Frame:
    at: float
    data: bytes
    outgoing: bool


class Capture:
    """Frames on `interface` in the namespace of `pid`, from open until close."""

    def __init__(self, pid: int, interface: str) -> None:
        ns = Namespace.of_pid(pid)
        try:
            refuse_machine_namespace(ns)
            with ns.entered():
                self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                           socket.htons(ETH_P_ALL))
                self._sock.bind((interface, ETH_P_ALL))
        finally:
            ns.close()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
        self.frames: list[Frame] = []

    def drain(self) -> list[Frame]:
        """Every frame captured since the last drain."""
        fresh = []
        while True:
            try:
                data, address = self._sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            fresh.append(Frame(time.time(), data, address[2] == OUTGOING))
        self.frames.extend(fresh)
        return fresh

    def clear(self) -> None:
        self.drain()
        self.frames.clear()

    def close(self) -> None:
        threading.Thread(target=self._sock.close, daemon=True).start()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
