"""Docker's predefined address pools, from which networks without --subnet draw.

dockerd splits a few private blocks into equal subnets (ipamutils
localScopeDefaultNetworks / globalScopeDefaultNetworks, also the shape of the
daemon's `default-address-pools` option): 172.17.0.0/16 to 172.31.0.0/16 as
/16s, then 192.168.0.0/16 as /20s, for local networks (31 subnets), and
10.0.0.0/8 as /24s for swarm networks (65536 subnets). Subnets are produced
lazily; the global pool is never materialised.

IPv6 (Docker 27+, daemon/daemon.go deriveULABaseNetwork): when no default pool is
IPv6, dockerd appends a ULA /48 derived from its engine ID, cut into /64s. 20.10
had no IPv6 default pool at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Address, IPv6Network

Subnet = IPv4Network | IPv6Network


@dataclass(frozen=True, order=True)
class PoolSpec:
    """A block `base` to be cut into subnets of prefix length `size`."""

    base: Subnet
    size: int

    def __post_init__(self) -> None:
        if not self.base.prefixlen <= self.size <= self.base.max_prefixlen:
            raise ValueError(f"pool {self.base} cannot be split into /{self.size} subnets")

    @classmethod
    def parse(cls, base: str, size: int) -> PoolSpec:
        """Build a spec from daemon.json-like text, e.g. ("172.17.0.0/12", 20)."""
        network = IPv6Network(base) if ":" in base else IPv4Network(base)
        return cls(network, size)

    @property
    def version(self) -> int:
        return self.base.version

    @property
    def count(self) -> int:
        """How many subnets the block holds."""
        return 1 << (self.size - self.base.prefixlen)

    def subnet_at(self, index: int) -> Subnet:
        """The index-th subnet of the block, counted from its start."""
        if not 0 <= index < self.count:
            raise IndexError(f"{self.base} has no subnet number {index} of size /{self.size}")
        start = int(self.base.network_address) + (index << (self.base.max_prefixlen - self.size))
        return type(self.base)((start, self.size))

    def subnets(self) -> Iterator[Subnet]:
        """The block's subnets in address order, produced one at a time."""
        return (self.subnet_at(index) for index in range(self.count))


def _split(base: str, size: int) -> PoolSpec:
    return PoolSpec.parse(base, size)


LOCAL_DEFAULT_POOLS: tuple[PoolSpec, ...] = (
    _split("172.17.0.0/16", 16),
    _split("172.18.0.0/16", 16),
    _split("172.19.0.0/16", 16),
    _split("172.20.0.0/14", 16),
    _split("172.24.0.0/14", 16),
    _split("172.28.0.0/14", 16),
    _split("192.168.0.0/16", 20),
)
"""Local-scope defaults, libnetwork/ipamutils/utils.go (Docker 25 to 28)."""

GLOBAL_DEFAULT_POOLS: tuple[PoolSpec, ...] = (_split("10.0.0.0/8", 24),)
"""Global-scope (swarm) defaults, libnetwork/ipamutils/utils.go."""

ULA_BASE = IPv6Address("fd00::")
ULA_SUBNET_SIZE = 64


def ula_pool(engine_id: str) -> PoolSpec:
    """Docker 27+'s default IPv6 pool for a host (daemon/daemon.go deriveULABaseNetwork):
    fd00::/8 followed by the low 40 bits of the first 8 bytes of sha256(engine ID),
    a /48 cut into /64s. The empty ID gives fd42:98fc:1c14::/48."""
    digest = hashlib.sha256(engine_id.encode()).digest()
    global_id = int.from_bytes(digest[:8], "big") & ((1 << 40) - 1)
    base = IPv6Network((int(ULA_BASE) + (global_id << 80), 48))
    return PoolSpec(base, ULA_SUBNET_SIZE)


def with_ula(specs: Iterable[PoolSpec], engine_id: str) -> tuple[PoolSpec, ...]:
    """`specs`, plus the engine's ULA pool when none of them is IPv6 (dockerd's
    getDefaultNetworkPools does this to the local defaults and to default-address-pools)."""
    specs = tuple(specs)
    if any(spec.version == 6 and spec.base.network_address.ipv4_mapped is None for spec in specs):
        return specs
    return (*specs, ula_pool(engine_id))


def normalize_specs(specs: Iterable[PoolSpec]) -> tuple[PoolSpec, ...]:
    """Sort specs by address and drop any overlapping an earlier one.

    Docker 27+ does this to its predefined list (defaultipam newAddrSpace),
    so the order of `default-address-pools` entries does not matter.
    """
    kept: list[PoolSpec] = []
    for spec in sorted(specs, key=lambda s: (s.version, s.base.network_address, s.base.prefixlen)):
        if not kept or not kept[-1].base.overlaps(spec.base):
            kept.append(spec)
    return tuple(kept)


def iter_subnets(specs: Iterable[PoolSpec]) -> Iterator[Subnet]:
    """Every predefined subnet, spec after spec, lazily."""
    for spec in specs:
        yield from spec.subnets()


def first_free_subnet(
    specs: Iterable[PoolSpec], taken: Sequence[Subnet]
) -> Subnet | None:
    """The first predefined subnet overlapping none of `taken`, or None.

    This is the subnet Docker 27+'s linear allocator picks. It skips past
    each blocking prefix instead of testing subnets one by one, so a nearly
    full 10.0.0.0/8 costs as many steps as there are blocking prefixes.
    """
    for spec in specs:
        found = _first_free_in(spec, [t for t in taken if t.version == spec.version])
        if found is not None:
            return found
    return None


def _first_free_in(spec: PoolSpec, taken: Sequence[Subnet]) -> Subnet | None:
    step = 1 << (spec.base.max_prefixlen - spec.size)
    start = int(spec.base.network_address)
    last = int(spec.base.broadcast_address)
    while start <= last:
        candidate = type(spec.base)((start, spec.size))
        blocker = next((t for t in taken if t.overlaps(candidate)), None)
        if blocker is None:
            return candidate
        past_blocker = int(blocker.broadcast_address) + 1
        start = max(start + step, _align_up(past_blocker, step))
    return None


def _align_up(value: int, step: int) -> int:
    return -(-value // step) * step
