"""An allocated address pool: what one network's IPAM config became.

A pool is a subnet, optionally an ip-range inside it from which container
addresses are drawn, the gateway and the auxiliary addresses reserved in it.
Its id has libnetwork's PoolID form, "LocalDefault/172.18.0.0/16", with the
ip-range appended when there is one ("LocalDefault/10.1.0.0/16/10.1.5.0/24").
A pool is of one family; an IPv6 one's id reads "LocalDefault/fd00:1::/64".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from emulator.ipam.addrset import Address, Subnet, never_handed_out
from emulator.ipam.parse import parse_prefix


@dataclass(frozen=True)
class Pool:
    """One allocated pool; immutable, the address space keeps the taken addresses."""

    id: str
    address_space: str
    subnet: Subnet
    ip_range: Subnet | None
    gateway: Address
    aux_addresses: Mapping[str, Address] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aux_addresses", MappingProxyType(dict(self.aux_addresses)))

    def __reduce__(self) -> tuple:
        """Pickle and copy with a plain dict, which a mappingproxy is not."""
        fields = (self.id, self.address_space, self.subnet, self.ip_range, self.gateway)
        return (Pool, (*fields, dict(self.aux_addresses)))

    @property
    def version(self) -> int:
        """4 or 6."""
        return self.subnet.version

    @property
    def allocation_range(self) -> Subnet:
        """Where dynamic addresses come from: the ip-range, else the whole subnet."""
        return self.ip_range or self.subnet

    def reserved_addresses(self) -> frozenset[Address]:
        """Addresses never handed out: gateway, auxiliaries, network and broadcast (the
        first address of an IPv6 subnet)."""
        return frozenset(
            (self.gateway, *self.aux_addresses.values(), *never_handed_out(self.subnet))
        )

    def overlaps(self, subnet: Subnet) -> bool:
        """Whether this pool's subnet shares an address with `subnet`."""
        return self.subnet.overlaps(subnet)


class PoolKey(NamedTuple):
    """The parts of a pool id."""

    address_space: str
    subnet: Subnet
    ip_range: Subnet | None


def format_pool_id(address_space: str, subnet: Subnet, ip_range: Subnet | None) -> str:
    """libnetwork's PoolID string."""
    pool_id = f"{address_space}/{subnet}"
    return pool_id if ip_range is None else f"{pool_id}/{ip_range}"


def parse_pool_id(pool_id: str) -> PoolKey:
    """Split a pool id; ValueError if it does not have PoolID's form."""
    parts = pool_id.split("/") if isinstance(pool_id, str) else []
    if len(parts) not in (3, 5) or not parts[0]:
        raise ValueError(f"not a pool id: {pool_id!r}")
    subnet = _network("/".join(parts[1:3]))
    ip_range = _network("/".join(parts[3:5])) if len(parts) == 5 else None
    return PoolKey(parts[0], subnet, ip_range)


def _network(text: str) -> Subnet:
    return parse_prefix(text).network


def pool_overlap(subnet: Subnet, pools: Iterable[Pool]) -> Pool | None:
    """The first of `pools` whose subnet overlaps `subnet`, or None.

    Works across address spaces, e.g. to check a local network's subnet
    against swarm pools, which Docker keeps in a separate address space.
    """
    return next((pool for pool in pools if pool.overlaps(subnet)), None)
