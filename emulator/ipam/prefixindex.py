"""Which prefixes of one family are taken, answering "does this one overlap any?" in O(log n).

Two prefixes overlap only when one contains the other. So a prefix overlaps a
member when a member starts inside it (then it contains that member, or equals
it), or when a member of a shorter length contains its first address. The first
is one bisection of the members' sorted first addresses, the second one lookup
per prefix length in use. Network create asks this at every create, and with a
thousand networks a scan of all of them cost more than the create itself.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from ipaddress import IPv4Network, IPv6Network


def _mask(length: int, bits: int) -> int:
    full = (1 << bits) - 1
    return (full << (bits - length)) & full


class PrefixIndex:
    """A multiset of prefixes of one family: IPv4 (`bits` 32) or IPv6 (128)."""

    def __init__(self, bits: int = 32) -> None:
        self._bits = bits
        self._starts: list[int] = []
        """Members' first addresses, sorted, with repeats."""
        self._by_length: dict[int, Counter[int]] = {}
        """Prefix length -> members' first addresses -> how many."""

    def add(self, prefix: IPv4Network | IPv6Network) -> None:
        start = int(prefix.network_address)
        insort(self._starts, start)
        self._by_length.setdefault(prefix.prefixlen, Counter())[start] += 1

    def remove(self, prefix: IPv4Network | IPv6Network) -> None:
        """Take one copy of `prefix` out; it must be a member."""
        start = int(prefix.network_address)
        del self._starts[bisect_left(self._starts, start)]
        starts = self._by_length[prefix.prefixlen]
        starts[start] -= 1
        if not starts[start]:
            del starts[start]
            if not starts:
                del self._by_length[prefix.prefixlen]

    def overlaps(self, prefix: IPv4Network | IPv6Network) -> bool:
        start = int(prefix.network_address)
        i = bisect_left(self._starts, start)
        if i < len(self._starts) and self._starts[i] <= int(prefix.broadcast_address):
            return True
        return any(start & _mask(length, self._bits) in starts
                   for length, starts in self._by_length.items() if length < prefix.prefixlen)
