"""The prefix index answers overlap questions as scanning every member would."""

from __future__ import annotations

from ipaddress import IPv4Network

from hypothesis import given
from hypothesis import strategies as st

from emulator.ipam.prefixindex import PrefixIndex

prefixes = st.builds(lambda address, bits: IPv4Network((address, bits), strict=False),
                     st.integers(0, 2**32 - 1), st.integers(0, 32))
near = st.builds(lambda address, bits: IPv4Network((address, bits), strict=False),
                 st.integers(0x0A000000, 0x0A00FFFF), st.integers(8, 32))


@given(st.lists(st.one_of(prefixes, near), max_size=30), st.data())
def test_overlaps_as_a_scan_would_say(members: list[IPv4Network], data: st.DataObject) -> None:
    index = PrefixIndex()
    for member in members:
        index.add(member)
    removed = data.draw(st.lists(st.sampled_from(members), unique=True) if members
                        else st.just([]))
    kept = list(members)
    for prefix in removed:
        index.remove(prefix)
        kept.remove(prefix)
    candidates = st.one_of(prefixes, near, *([st.sampled_from(members)] if members else []))
    for probe in data.draw(st.lists(candidates, min_size=1, max_size=10)):
        assert index.overlaps(probe) == any(probe.overlaps(m) for m in kept), (probe, kept)


def test_a_member_taken_twice_stays_until_removed_twice() -> None:
    index = PrefixIndex()
    net = IPv4Network("10.1.0.0/24")
    index.add(net)
    index.add(net)
    index.remove(net)
    assert index.overlaps(IPv4Network("10.1.0.128/25"))
    index.remove(net)
    assert not index.overlaps(IPv4Network("10.1.0.0/16"))
