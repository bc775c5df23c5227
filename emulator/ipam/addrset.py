"""The taken addresses of one subnet, scanned in the order of Docker's bitmap.

libnetwork keeps one bitmap per subnet (libnetwork/bitmap, wrapped by
internal/addrset) and hands out the first free address of the requested
range. With the "serial" option (set by swarm) the scan starts just after
the address most recently handed out, then wraps to the start of the range.
Every dynamic hand-out moves that cursor, serial or not; a specific address
(--ip, --gateway, --aux-address) does not.

Only taken addresses are stored, so a /8 or an IPv6 /64 costs no more than a
/30: Docker's IPv6 subnets are 2^64 addresses, which no bitmap could hold.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from emulator.errdefs import Forbidden
from emulator.ipam import messages

Address = IPv4Address | IPv6Address
Subnet = IPv4Network | IPv6Network


class AddressSet:
    """Taken addresses of `subnet`; those Docker never hands out are taken from the start.

    Those are, as in Docker 28's newPoolData, the network and broadcast address of
    an IPv4 subnet (none for a /31 or /32) and the first address of an IPv6 one.
    """

    def __init__(self, subnet: Subnet) -> None:
        self.subnet = subnet
        self._taken: set[int] = set()
        self._cursor = 0
        for address in never_handed_out(subnet):
            self._taken.add(self._offset(address))

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, IPv4Address | IPv6Address) or address not in self.subnet:
            return False
        return self._offset(address) in self._taken

    def __len__(self) -> int:
        return len(self._taken)

    def taken(self) -> frozenset[Address]:
        """Every taken address, reserved ones included."""
        return frozenset(self._address(offset) for offset in self._taken)

    def find_free(self, within: Subnet, *, serial: bool = False) -> Address | None:
        """The address the next dynamic request in `within` would get; no change made."""
        low, high = self._offset(within[0]), self._offset(within[-1])
        if serial and self._cursor > low:
            found = self._scan(self._cursor, high)
            if found is not None:
                return self._address(found)
        found = self._scan(low, high)
        return None if found is None else self._address(found)

    def count_free(self, within: Subnet) -> int:
        """How many addresses of `within` are not taken."""
        low, high = self._offset(within[0]), self._offset(within[-1])
        return high - low + 1 - sum(1 for offset in self._taken if low <= offset <= high)

    def add(self, address: Address, *, dynamic: bool = False) -> None:
        """Take `address`; Forbidden("Address already in use") if it is taken.

        `dynamic` marks an address chosen by find_free: the serial cursor
        then moves past it, as libnetwork's bitmap does.
        """
        offset = self._offset(address)
        if offset in self._taken:
            raise Forbidden(messages.IP_ALREADY_ALLOCATED)
        self._taken.add(offset)
        if dynamic:
            self._cursor = offset + 1

    def remove(self, address: Address) -> None:
        """Free `address`; freeing a free address is not an error (as in Docker)."""
        self._taken.discard(self._offset(address))

    def _scan(self, start: int, high: int) -> int | None:
        offset = start
        while offset <= high and offset in self._taken:
            offset += 1
        return offset if offset <= high else None

    def _offset(self, address: Address) -> int:
        return int(address) - int(self.subnet.network_address)

    def _address(self, offset: int) -> Address:
        return self.subnet.network_address + offset


def never_handed_out(subnet: Subnet) -> tuple[Address, ...]:
    """The addresses Docker never hands out in `subnet`: an IPv4 subnet's network and
    broadcast address (none for a /31 or /32); an IPv6 subnet's first address, the
    Subnet-Router anycast address of RFC 4291 (libnetwork/ipams/defaultipam newPoolData)."""
    if isinstance(subnet, IPv6Network):
        return (subnet.network_address,)
    if subnet.prefixlen >= subnet.max_prefixlen - 1:
        return ()
    return (subnet.network_address, subnet.broadcast_address)
