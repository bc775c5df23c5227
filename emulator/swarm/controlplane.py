"""The overlay control plane: where every endpoint of every overlay network lives.

Docker spreads this by gossip (NetworkDB); the emulator keeps it in the swarm's
shared state and calls every host that has the network instantiated, which then
programs forwarding (MAC -> VTEP) and neighbour (IP -> MAC) entries on its VXLAN
device. Nothing is learnt from flooded frames.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address


@dataclass(frozen=True)
class Peer:
    """One endpoint of an overlay network: on which host (VTEP, IPv4 or IPv6: the host's
    advertised address) it lives."""

    network_id: str
    endpoint_id: str
    host: str
    vtep: IPv4Address | IPv6Address
    address: IPv4Address
    mac: str


Listener = Callable[[Peer, bool], None]


class ControlPlane:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._peers: dict[str, dict[str, Peer]] = {}
        self._listeners: dict[str, dict[str, Listener]] = {}

    def subscribe(self, network_id: str, host: str, listener: Listener) -> list[Peer]:
        """Hear about peers of `network_id` from now on; returns the current ones."""
        with self._lock:
            self._listeners.setdefault(network_id, {})[host] = listener
            return list(self._peers.get(network_id, {}).values())

    def unsubscribe(self, network_id: str, host: str) -> None:
        with self._lock:
            self._listeners.get(network_id, {}).pop(host, None)

    def publish(self, peer: Peer) -> None:
        with self._lock:
            self._peers.setdefault(peer.network_id, {})[peer.endpoint_id] = peer
            listeners = self._others(peer)
        for listener in listeners:
            listener(peer, True)

    def withdraw(self, network_id: str, endpoint_id: str) -> None:
        with self._lock:
            peer = self._peers.get(network_id, {}).pop(endpoint_id, None)
            listeners = self._others(peer) if peer else []
        for listener in listeners:
            listener(peer, False)  # type: ignore[arg-type]

    def peers(self, network_id: str) -> list[Peer]:
        with self._lock:
            return list(self._peers.get(network_id, {}).values())

    def forget_network(self, network_id: str) -> None:
        with self._lock:
            self._peers.pop(network_id, None)
            self._listeners.pop(network_id, None)

    def _others(self, peer: Peer) -> list[Listener]:
        return [listener for host, listener in self._listeners.get(peer.network_id, {}).items()
                if host != peer.host]
