"""An address space: the pools and addresses Docker's default IPAM driver hands out.

One AddressSpace per Docker host holds its local networks ("LocalDefault");
swarm networks live in another ("GlobalDefault"). It reproduces Docker 27/28
(libnetwork/ipams/defaultipam) plus the gateway and auxiliary-address steps
of libnetwork/network.go, including these observable quirks:

* Without a subnet, a pool is the first predefined subnet overlapping neither
  an allocated subnet nor `reserved` (the host's routes); freed subnets are
  reused lowest first.
* With a subnet and no ip-range, any overlap is refused. With an ip-range,
  Docker checks nothing but an identical subnet+ip-range: a pool may reuse an
  allocated subnet (sharing its taken addresses) or overlap another one
  (moby/moby#46756). Bridge networks catch that in their driver, not here.
* Without --gateway, the gateway is the first free address of the ip-range
  (of the subnet when there is none): 10.1.5.0 for 10.1.0.0/16 with ip-range
  10.1.5.0/24, since only the subnet's own network address is reserved.
* A requested address may lie anywhere in the subnet, even outside the ip-range.
* IPv6 pools work alike (Docker 27/28): without a subnet a /64 of the predefined
  IPv6 pools (the engine's ULA /48, pools.ula_pool); only an IPv6 subnet's first
  address is reserved, so its gateway is ::1 and containers get ::2, ::3, ...
  Taken addresses are kept sparsely (addrset), never as a bitmap of 2^64 bits.

Every failing call leaves the space exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network

from emulator.errdefs import DockerError, Forbidden, InvalidParameter, NotFound, Unavailable
from emulator.ipam import messages
from emulator.ipam.addrset import Address, AddressSet, Subnet, never_handed_out
from emulator.ipam.parse import parse_address, parse_prefix
from emulator.ipam.pool import Pool, format_pool_id, parse_pool_id
from emulator.ipam.pools import (
    GLOBAL_DEFAULT_POOLS,
    LOCAL_DEFAULT_POOLS,
    PoolSpec,
    first_free_subnet,
    normalize_specs,
    with_ula,
)
from emulator.ipam.prefixindex import PrefixIndex
from emulator.ipam.validate import check_ipam_config

LOCAL_ADDRESS_SPACE = "LocalDefault"
GLOBAL_ADDRESS_SPACE = "GlobalDefault"


@dataclass
class _Subnet:
    """An allocated subnet: its taken addresses and the pools drawing from it."""

    addresses: AddressSet
    has_master: bool = False
    ip_ranges: set[Subnet] = field(default_factory=set)

    @property
    def in_use(self) -> bool:
        return self.has_master or bool(self.ip_ranges)


class AddressSpace:
    """Pools and addresses of one Docker address space, IPv4 and IPv6."""

    def __init__(
        self,
        name: str = LOCAL_ADDRESS_SPACE,
        predefined: Iterable[PoolSpec] = LOCAL_DEFAULT_POOLS,
        *,
        serial: bool = False,
    ) -> None:
        """`serial` sets how dynamic addresses are picked: Docker picks the
        first free one on local networks, and scans on from the last one
        handed out on swarm networks (ipam option com.docker.network.ipam.serial).
        """
        self.name = name
        self.predefined = normalize_specs(predefined)
        self.serial = serial
        self._subnets: dict[Subnet, _Subnet] = {}
        self._taken = {4: PrefixIndex(32), 6: PrefixIndex(128)}
        """The keys of _subnets, for overlap checks that do not scan them all."""
        self._pools: dict[str, Pool] = {}

    # Pools

    def request_pool(
        self,
        subnet: str | None = None,
        ip_range: str | None = None,
        gateway: str | None = None,
        aux_addresses: Mapping[str, str] | None = None,
        reserved: Iterable[IPv4Network | IPv6Network] = (),
        *,
        v6: bool = False,
    ) -> Pool:
        """Allocate a pool and reserve its gateway and auxiliary addresses.

        Without `subnet`, take a predefined subnet of the family `v6` says,
        avoiding `reserved`; with one, the pool is of the subnet's family.
        Raises InvalidParameter for an invalid config (ValidateIPAM's text),
        or when no predefined subnet is left; Forbidden for an
        overlap; DockerError (500) when the gateway or an auxiliary address
        cannot be reserved.
        """
        aux = dict(aux_addresses or {})
        if subnet or ip_range or gateway or aux:
            check_ipam_config(subnet, ip_range, gateway, aux, enable_ipv6=True)
        network, child = self._choose_subnet(subnet, ip_range, reserved, 6 if v6 else 4)
        state = self._subnets.get(network) or _Subnet(AddressSet(network))
        gateway_address = self._plan_gateway(state, child or network, gateway)
        aux_map = self._plan_aux(state, gateway_address, aux)
        return self._commit_pool(state, child, gateway_address, not gateway, aux_map)

    def release_pool(self, pool_id: str) -> None:
        """Free a pool with its gateway and auxiliary addresses; unknown ids are ignored."""
        pool = self._pools.pop(pool_id, None)
        if pool is None:
            return
        state = self._subnets[pool.subnet]
        for address in (pool.gateway, *pool.aux_addresses.values()):
            state.addresses.remove(address)
        if pool.ip_range is None:
            state.has_master = False
        else:
            state.ip_ranges.discard(pool.ip_range)
        if not state.in_use:
            del self._subnets[pool.subnet]
            self._taken[pool.subnet.version].remove(pool.subnet)

    def pools(self) -> list[Pool]:
        """Allocated pools, oldest first."""
        return list(self._pools.values())

    def pool(self, pool_id: str) -> Pool:
        """The pool with this id; NotFound (or InvalidParameter for a malformed id)."""
        return self._lookup(pool_id, messages.POOL_NOT_FOUND)

    # Addresses

    def request_address(
        self, pool_id: str, ip: str | Address | None = None, *, serial: bool | None = None
    ) -> Address:
        """Take `ip`, or the next free address of the pool's range.

        Raises InvalidParameter if `ip` is not in the subnet, Forbidden if
        it is taken, Unavailable when the range is exhausted. `serial`
        overrides the space's default scan order for this request.
        """
        pool = self.pool(pool_id)
        addresses = self._subnets[pool.subnet].addresses
        if ip is None:
            return self._take_next(addresses, pool.allocation_range, serial)
        address = self._address_in(pool.subnet, ip, messages.INVALID_PREFERRED_ADDRESS)
        addresses.add(address)
        return address

    def release_address(self, pool_id: str, ip: str | Address) -> None:
        """Free an address; freeing a free or reserved address changes nothing."""
        pool = self._lookup(pool_id, messages.RELEASE_POOL_NOT_FOUND)
        address = self._address_in(pool.subnet, ip, messages.INVALID_ADDRESS)
        if address not in self._pinned(pool.subnet):
            self._subnets[pool.subnet].addresses.remove(address)

    def allocated_addresses(self, pool_id: str) -> frozenset[Address]:
        """Taken addresses of the pool's subnet, reserved ones included."""
        return self._subnets[self.pool(pool_id).subnet].addresses.taken()

    def free_count(self, pool_id: str) -> int:
        """How many addresses the pool can still hand out dynamically."""
        pool = self.pool(pool_id)
        return self._subnets[pool.subnet].addresses.count_free(pool.allocation_range)

    # Steps of request_pool; none changes anything before _commit_pool.

    def _choose_subnet(
        self,
        subnet: str | None,
        ip_range: str | None,
        reserved: Iterable[IPv4Network | IPv6Network],
        version: int,
    ) -> tuple[Subnet, Subnet | None]:
        if not subnet:
            return self._predefined_subnet(reserved, version), None
        network = parse_prefix(subnet).network
        child = parse_prefix(ip_range).network if ip_range else None
        self._check_static(network, child)
        return network, child

    def _predefined_subnet(self, reserved: Iterable[IPv4Network | IPv6Network],
                           version: int) -> Subnet:
        taken = [n for n in (*self._subnets, *reserved) if n.version == version]
        specs = [spec for spec in self.predefined if spec.version == version]
        found = first_free_subnet(specs, taken)
        if found is None:
            raise InvalidParameter(messages.NO_MORE_SUBNETS)
        return found

    def _check_static(self, network: Subnet, child: Subnet | None) -> None:
        existing = self._subnets.get(network)
        duplicate = existing is not None and (child is None or child in existing.ip_ranges)
        overlapping = child is None and self._taken[network.version].overlaps(network)
        if duplicate or overlapping:
            overlap = messages.POOL_OVERLAP
            raise Forbidden(messages.POOL_REQUEST_INVALID.format(error=overlap))

    def _plan_gateway(
        self, state: _Subnet, allocation_range: Subnet, gateway: str | None
    ) -> Address:
        if gateway:
            address = parse_address(gateway)
            if address in state.addresses:
                raise _gateway_error(gateway, messages.IP_ALREADY_ALLOCATED)
            return address
        found = state.addresses.find_free(allocation_range, serial=self.serial)
        if found is None:
            raise _gateway_error("", messages.NO_AVAILABLE_IPS)
        return found

    def _plan_aux(
        self, state: _Subnet, gateway: Address, aux: Mapping[str, str]
    ) -> dict[str, Address]:
        planned: dict[str, Address] = {}
        for name, text in aux.items():
            address = parse_address(text)
            if address in state.addresses or address in (gateway, *planned.values()):
                error = messages.IP_ALREADY_ALLOCATED
                raise DockerError(messages.AUX_FAILED.format(name=name, address=text, error=error))
            planned[name] = address
        return planned

    def _commit_pool(
        self,
        state: _Subnet,
        child: Subnet | None,
        gateway: Address,
        dynamic_gateway: bool,
        aux: dict[str, Address],
    ) -> Pool:
        network = state.addresses.subnet
        if network not in self._subnets:
            self._taken[network.version].add(network)
        self._subnets[network] = state
        if child is None:
            state.has_master = True
        else:
            state.ip_ranges.add(child)
        state.addresses.add(gateway, dynamic=dynamic_gateway)
        for address in aux.values():
            state.addresses.add(address)
        pool_id = format_pool_id(self.name, network, child)
        pool = Pool(pool_id, self.name, network, child, gateway, aux)
        self._pools[pool_id] = pool
        return pool

    # Helpers

    def _take_next(
        self, addresses: AddressSet, within: Subnet, serial: bool | None
    ) -> Address:
        scan_serially = self.serial if serial is None else serial
        found = addresses.find_free(within, serial=scan_serially)
        if found is None:
            raise Unavailable(messages.NO_AVAILABLE_IPS)
        addresses.add(found, dynamic=True)
        return found

    def _lookup(self, pool_id: str, not_found: str) -> Pool:
        try:
            key = parse_pool_id(pool_id)
        except ValueError:
            raise InvalidParameter(messages.INVALID_POOL_ID.format(pool_id=pool_id)) from None
        pool = self._pools.get(pool_id)
        if pool is None:
            child = key.ip_range or messages.GO_ZERO_PREFIX
            raise NotFound(not_found.format(subnet=key.subnet, child=child))
        return pool

    def _address_in(
        self, subnet: Subnet, ip: str | Address, invalid: str
    ) -> Address:
        """Parse `ip` and require it inside `subnet` (Docker's out-of-range error)."""
        try:
            address = parse_address(ip) if isinstance(ip, str) else ip
        except ValueError:
            raise InvalidParameter(invalid.format(address=ip)) from None
        if address.version != subnet.version or address not in subnet:
            raise InvalidParameter(messages.IP_OUT_OF_RANGE)
        return address

    def _pinned(self, subnet: Subnet) -> set[Address]:
        """Addresses of `subnet` that only releasing their pool may free."""
        pinned: set[Address] = set(never_handed_out(subnet))
        for pool in self._pools.values():
            if pool.subnet == subnet:
                pinned |= {pool.gateway, *pool.aux_addresses.values()}
        return pinned


def _gateway_error(gateway: str, error: str) -> DockerError:
    return DockerError(messages.GATEWAY_FAILED.format(gateway=gateway, error=error))


def local_address_space(predefined: Iterable[PoolSpec] = LOCAL_DEFAULT_POOLS,
                        engine_id: str | None = None) -> AddressSpace:
    """A host's local address space: first-free address allocation. With `engine_id`,
    the engine's ULA /48 is added to the predefined pools unless one is IPv6
    (Docker 27+); without, the space has no default IPv6 pool (as 20.10)."""
    if engine_id is not None:
        predefined = with_ula(predefined, engine_id)
    return AddressSpace(LOCAL_ADDRESS_SPACE, predefined, serial=False)


def global_address_space(predefined: Iterable[PoolSpec] = GLOBAL_DEFAULT_POOLS) -> AddressSpace:
    """The swarm address space: serial address allocation, 10.0.0.0/8 in /24s."""
    return AddressSpace(GLOBAL_ADDRESS_SPACE, predefined, serial=True)
