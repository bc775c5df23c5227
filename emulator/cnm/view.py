"""What readers of one engine see: the host's networks and containers as of the last write.

Writers hold the engine's lock, sometimes for long (a plugin's answer, a process
to start), and change networks and containers step by step: a container is
running before its endpoints are all joined. Readers (`docker network ls`,
`inspect`, `ps`, the container an exec runs in) must neither wait behind them
nor see half a change, nor have a dictionary change under them while they
render it. So each write, before it lets go of the lock, publishes a `View`:
copies of the networks and containers, consistent with one another, that no one
changes afterwards. Readers take the latest view without a lock.

Publishing costs little: all that changes of a network once it is made are its
endpoints, which come and go with its containers' endpoints; so a write copies
the networks it added and those whose endpoints it changed (told by comparing
each container with its previous copy), and keeps the other copies; containers
are copied whole (a few hundred per host at most).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address
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
    services: Mapping[str, Mapping[str, tuple[IPv4Address, ...]]] = field(default_factory=dict)
    """Swarm services' DNS names by network ID: name (lower case) -> addresses."""

    def after(self, networks: Mapping[str, Network], changed: list[str],
              containers: Mapping[str, Container]) -> View:
        """The view of the live state now, `changed` naming the networks added or
        removed since this view, in that order; call it with the engine's lock held."""
        touched = dict.fromkeys(changed)
        copies: dict[str, Container] = {}
        for cid, container in containers.items():
            copies[cid] = copied = _container_copy(container)
            before = self.containers.get(cid)
            old = before.endpoints if before is not None else {}
            touched.update(dict.fromkeys(
                net_id for net_id in old.keys() | copied.endpoints.keys()
                if old.get(net_id) is not copied.endpoints.get(net_id)))
        for cid in self.containers.keys() - containers.keys():
            touched.update(dict.fromkeys(self.containers[cid].endpoints))
        nets = dict(self.networks)
        for net_id in touched:
            live = networks.get(net_id)
            if live is None:
                nets.pop(net_id, None)
            else:
                nets[net_id] = _network_copy(live)
        if any(net_id in self.networks and net_id in networks for net_id in changed):
            nets = {net_id: nets[net_id] for net_id in networks}  # a network replaced: order
        return View(MappingProxyType(nets), MappingProxyType(copies))

    def network(self, ref: str) -> Network:
        return find(self.networks.values(), ref, lambda n: n.id, lambda n: n.name,
                    f"network {ref} not found", "network")

    def container(self, ref: str) -> Container:
        return find([c for c in self.containers.values() if not c.hidden], ref.lstrip("/"),
                    lambda c: c.id, lambda c: c.name, f"No such container: {ref}",
                    "container")
