"""The taken addresses of one subnet, scanned in the order of Docker's bitmap.

libnetwork keeps one bitmap per subnet (libnetwork/bitmap, wrapped by
internal/addrset) and hands out the first free address of the requested
range. With the "serial" option (set by swarm) the scan starts just after
the address most recently handed out, then wraps to the start of the range.
Every dynamic hand-out moves that cursor, serial or not; a specific address
(--ip, --gateway, --aux-address) does not.

Only taken addresses are stored, so a /8 costs no more than a /30.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from emulator.errdefs import Forbidden
from emulator.ipam import messages


class AddressSet:
    """Taken addresses of `subnet`; network and broadcast are taken from the start.

    As in Docker, /31 and /32 subnets have no network or broadcast address.
    """

    def __init__(self, subnet: IPv4Network) -> None:
        self.subnet = subnet
        self._taken: set[int] = set()
        self._cursor = 0
        for address in network_and_broadcast(subnet):
            self._taken.add(self._offset(address))

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, IPv4Address) or address not in self.subnet:
            return False
        return self._offset(address) in self._taken

    def __len__(self) -> int:
        return len(self._taken)

    def taken(self) -> frozenset[IPv4Address]:
        """Every taken address, reserved ones included."""
        return frozenset(self._address(offset) for offset in self._taken)

    def find_free(self, within: IPv4Network, *, serial: bool = False) -> IPv4Address | None:
        """The address the next dynamic request in `within` would get; no change made."""
        low, high = self._offset(within[0]), self._offset(within[-1])
        if serial and self._cursor > low:
            found = self._scan(self._cursor, high)
            if found is not None:
                return self._address(found)
        found = self._scan(low, high)
        return None if found is None else self._address(found)

    def count_free(self, within: IPv4Network) -> int:
        """How many addresses of `within` are not taken."""
        low, high = self._offset(within[0]), self._offset(within[-1])
        return high - low + 1 - sum(1 for offset in self._taken if low <= offset <= high)

    def add(self, address: IPv4Address, *, dynamic: bool = False) -> None:
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

    def remove(self, address: IPv4Address) -> None:
        """Free `address`; freeing a free address is not an error (as in Docker)."""
        self._taken.discard(self._offset(address))

    def _scan(self, start: int, high: int) -> int | None:
        offset = start
        while offset <= high and offset in self._taken:
            offset += 1
        return offset if offset <= high else None

    def _offset(self, address: IPv4Address) -> int:
        return int(address) - int(self.subnet.network_address)

    def _address(self, offset: int) -> IPv4Address:
        return self.subnet.network_address + offset


def network_and_broadcast(subnet: IPv4Network) -> tuple[IPv4Address, ...]:
    """The addresses Docker never hands out in `subnet`: none for a /31 or /32."""
    if subnet.prefixlen >= subnet.max_prefixlen - 1:
        return ()
    return (subnet.network_address, subnet.broadcast_address)
