"""What readers of one engine see: the host's networks and containers as of the last write.

Writers hold the engine's lock, sometimes for long (a plugin's answer, a process
to start), and change networks and containers step by step: a container is
running before its endpoints are all joined. Readers (`docker network ls`,
`inspect`, `ps`, the container an exec runs in) must neither wait behind them
nor see half a change, nor have a dictionary change under them while they
render it. So each write, before it lets go of the lock, publishes a `View`:
copies of the networks and containers, consistent with one another, that no one
changes afterwards. Readers take the latest view without a lock.

Publishing costs little: a network's copy is kept from one view to the next
while the network keeps its endpoints (all that changes of a network once it
is made), so a write copies what it touched, not every network; containers are
copied whole (a few hundred per host at most).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from emulator.cnm.lookup import find
from emulator.cnm.model import Container, Network


def _network_copy(network: Network) -> Network:
    copied = object.__new__(Network)
    copied.__dict__.update(network.__dict__)
    copied.endpoints = dict(network.endpoints)
    return copied


def _container_copy(container: Container) -> Container:
    copied = object.__new__(Container)
    copied.__dict__.update(container.__dict__)
    copied.attachments = dict(container.attachments)
    copied.endpoints = dict(container.endpoints)
    return copied


@dataclass(frozen=True)
class View:
    networks: Mapping[str, Network] = field(default_factory=dict)
    containers: Mapping[str, Container] = field(default_factory=dict)
    _sources: Mapping[str, tuple[Network, tuple[str, ...]]] = field(default_factory=dict)
    """Per network: the live object and the endpoint IDs its copy was made from."""

    def after(self, networks: Mapping[str, Network],
              containers: Mapping[str, Container]) -> View:
        """The view of the live state now; call it with the engine's lock held."""
        copies: dict[str, Network] = {}
        sources: dict[str, tuple[Network, tuple[str, ...]]] = {}
        for net_id, network in networks.items():
            endpoints = tuple(network.endpoints)
            source = self._sources.get(net_id)
            if source is not None and source[0] is network and source[1] == endpoints:
                copies[net_id] = self.networks[net_id]
            else:
                copies[net_id] = _network_copy(network)
            sources[net_id] = (network, endpoints)
        return View(MappingProxyType(copies),
                    MappingProxyType({cid: _container_copy(c) for cid, c in containers.items()}),
                    MappingProxyType(sources))

    def network(self, ref: str) -> Network:
        return find(self.networks.values(), ref, lambda n: n.id, lambda n: n.name,
                    f"network {ref} not found", "network")

    def container(self, ref: str) -> Container:
        return find(self.containers.values(), ref.lstrip("/"), lambda c: c.id,
                    lambda c: c.name, f"No such container: {ref}", "container")
