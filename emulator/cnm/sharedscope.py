"""Networks defined for many hosts: one create path and one removal path for every shared scope.

A swarm (its managers' store) and the lab's datastore for plugins' global-scope
networks are both shared scopes: a network is allocated once in the scope (ID,
pool from the scope's address space, what else the scope allocates), then each
host taking part makes its own copy with the same ID. Engines reach each other
only through `ScopeMember`, never through each other's private parts.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING, Protocol

from emulator import errdefs as err
from emulator.cnm.model import Network
from emulator.ipam import AddressSpace, check_ipam
from emulator.swarm.shared import SharedNetwork

if TYPE_CHECKING:
    from emulator.cnm.ipfamilies import Families
    from emulator.cnm.networks import NetworkRequest


class ScopeMember(Protocol):
    """What an engine offers the other engines of a shared scope."""

    host: str
    networks: dict[str, Network]

    def adopt_shared(self, definition: SharedNetwork, scope: SharedScope) -> Network:
        """Make (or return) this host's copy of a shared network."""
        ...

    def drop_shared(self, network_id: str) -> None:
        """Remove this host's copy, taking its containers off it first."""
        ...

    def serves_driver(self, name: str) -> bool:
        """Whether the driver `name` (a plugin, say) is available on this host now."""
        ...


class SharedScope(Protocol):
    name: str
    """The scope's name as Docker shows it: "swarm" or "global"."""
    lock: threading.RLock
    networks: dict[str, SharedNetwork]
    addresses: AddressSpace

    def members(self) -> list[ScopeMember]: ...

    def instantiate_on(self, creator: ScopeMember, definition: SharedNetwork
                       ) -> list[ScopeMember]:
        """The hosts that make their copy at once (others make it on first use)."""
        ...

    def allocate(self, request: NetworkRequest) -> SharedNetwork:
        """Record a new network and take what it needs from the scope; undone by
        `release`. Raises (leaving nothing) when the request is refused."""
        ...

    def release(self, network_id: str) -> None: ...

    def check_removal(self, member: ScopeMember, network: Network) -> None: ...


def check_request(request: NetworkRequest) -> Families:
    """dockerd's first checks of a create request: the address families (EnableIPv4,
    EnableIPv6 and their driver options), IPAM syntax, then the name."""
    families = request.families()
    check_ipam(request.ipam_configs(), enable_ipv6=families.ipv6)
    if not request.name:
        raise err.InvalidParameter("invalid name: name is empty")
    return families


def create_shared(creator: ScopeMember, scope: SharedScope, request: NetworkRequest) -> Network:
    """Allocate in the scope, then make the copies; any failure undoes every step."""
    with scope.lock:
        taken = [*creator.networks.values(), *scope.networks.values()]
        if any(n.name == request.name for n in taken):
            raise err.Conflict(f"network with name {request.name} already exists")
        definition = scope.allocate(request)
        with ExitStack() as undo:
            undo.callback(scope.release, definition.id)
            for member in scope.instantiate_on(creator, definition):
                undo.callback(member.drop_shared, definition.id)
                member.adopt_shared(definition, scope)
            undo.pop_all()
        return creator.networks[definition.id]


def remove_shared(member: ScopeMember, scope: SharedScope, network: Network) -> None:
    """`docker network rm` of a shared network: from every host, if none uses it."""
    scope.check_removal(member, network)
    with scope.lock:
        for other in scope.members():
            if network.id in other.networks:
                refuse_if_in_use(other.networks[network.id])
        for other in scope.members():
            other.drop_shared(network.id)
        scope.release(network.id)


def refuse_if_in_use(network: Network) -> None:
    """Docker's refusal to remove a network that still has endpoints."""
    if network.endpoints:
        names = ", ".join(f'name:"{ep.name}" id:"{ep.id[:12]}"'
                          for ep in network.endpoints.values())
        raise err.Forbidden(f"error while removing network: network {network.name} has "
                            f"active endpoints ({names})")
