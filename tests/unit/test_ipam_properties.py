"""Property-based tests of the IPAM package, with Python's ipaddress as the oracle."""

from __future__ import annotations

import copy
from ipaddress import IPv4Address, IPv4Network

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.errdefs import DockerError, Forbidden, InvalidParameter, Unavailable
from emulator.ipam import (
    AddressSpace,
    Pool,
    PoolSpec,
    first_free_subnet,
    iter_subnets,
    local_address_space,
    validate_ipam_config,
)

# A small predefined list keeps brute-force oracles cheap: 4 /24s, then 4 /26s.
SMALL_DEFAULTS = (PoolSpec.parse("10.0.0.0/22", 24), PoolSpec.parse("10.1.0.0/24", 26))


def networks(min_prefix: int, max_prefix: int, within: str = "10.0.0.0/8") -> st.SearchStrategy:
    """Masked IPv4 networks inside `within` with a prefix length in the bounds."""
    block = IPv4Network(within)
    first, last = int(block.network_address), int(block.broadcast_address)
    return st.builds(
        lambda address, bits: IPv4Network((address, bits), strict=False),
        st.integers(first, last),
        st.integers(min_prefix, max_prefix),
    )


def address_in(network: IPv4Network) -> st.SearchStrategy[IPv4Address]:
    return st.integers(0, network.num_addresses - 1).map(lambda n: network[n])


def sub_network(network: IPv4Network) -> st.SearchStrategy[IPv4Network]:
    """A network inside `network` (possibly itself)."""
    return st.integers(network.prefixlen, 32).flatmap(
        lambda bits: st.sampled_from(list(network.subnets(new_prefix=bits))[:64])
    )


@st.composite
def pool_configs(draw) -> dict:
    """A valid IPAM config on a small subnet; gateway or aux may collide (and fail)."""
    subnet = draw(networks(23, 32))
    config: dict = {"subnet": str(subnet)}
    if draw(st.booleans()):
        config["ip_range"] = str(draw(sub_network(subnet)))
    if draw(st.booleans()):
        config["gateway"] = str(draw(address_in(subnet)))
    names = draw(st.lists(st.sampled_from("abcd"), max_size=3, unique=True))
    config["aux_addresses"] = {name: str(draw(address_in(subnet))) for name in names}
    return config


def usable_oracle(pool: Pool) -> set[IPv4Address]:
    """What ipaddress says a pool can hand out dynamically."""
    usable = set(pool.allocation_range)
    if pool.subnet.prefixlen <= 30:
        usable -= {pool.subnet.network_address, pool.subnet.broadcast_address}
    return usable - {pool.gateway} - set(pool.aux_addresses.values())


def observe(space: AddressSpace) -> tuple:
    """Everything a caller can see of a space, including the next dynamic picks."""
    pools = space.pools()
    taken = {pool.id: space.allocated_addresses(pool.id) for pool in pools}
    return pools, taken, {pool.id: _next_picks(space, pool.id) for pool in pools}


def _next_picks(space: AddressSpace, pool_id: str) -> tuple:
    picks = []
    for serial in (False, True):
        probe = copy.deepcopy(space)
        try:
            picks.append(probe.request_address(pool_id, serial=serial))
        except Unavailable:
            picks.append(None)
    return tuple(picks)


# Addresses


@given(config=pool_configs(), serial=st.booleans())
def test_exhausting_a_pool_hands_out_exactly_the_usable_addresses(config, serial):
    space = AddressSpace(serial=serial)
    try:
        pool = space.request_pool(**config)
    except DockerError:
        assert space.pools() == []
        return
    expected = usable_oracle(pool)
    assert space.free_count(pool.id) == len(expected)
    handed = []
    while True:
        try:
            handed.append(space.request_address(pool.id))
        except Unavailable:
            break
    assert len(handed) == len(set(handed)) == len(expected)
    assert set(handed) == expected
    assert not set(handed) & pool.reserved_addresses()


@given(config=pool_configs(), data=st.data())
def test_local_allocation_matches_a_first_free_model(config, data):
    space = local_address_space()
    try:
        pool = space.request_pool(**config)
    except DockerError:
        return
    taken = set(pool.reserved_addresses())
    reserved = set(taken)
    wide = pool.subnet.supernet(new_prefix=max(pool.subnet.prefixlen - 1, 0))
    for _ in range(data.draw(st.integers(0, 40))):
        action = data.draw(st.sampled_from(["next", "ip", "release"]))
        if action == "next":
            free = sorted(set(pool.allocation_range) - taken)
            if not free:
                assert _fails(Unavailable, space.request_address, pool.id)
                continue
            assert space.request_address(pool.id) == free[0]
            taken.add(free[0])
        elif action == "ip":
            ip = data.draw(address_in(wide))
            if ip not in pool.subnet:
                assert _fails(InvalidParameter, space.request_address, pool.id, ip)
            elif ip in taken:
                assert _fails(Forbidden, space.request_address, pool.id, ip)
            else:
                assert space.request_address(pool.id, str(ip)) == ip
                taken.add(ip)
        else:
            ip = data.draw(address_in(pool.subnet))
            space.release_address(pool.id, ip)
            if ip not in reserved:
                taken.discard(ip)
        assert space.allocated_addresses(pool.id) == taken


def _fails(error_class: type[DockerError], call, *args) -> bool:
    try:
        call(*args)
    except error_class:
        return True
    return False


# Pools


@given(data=st.data())
def test_pools_never_overlap_and_defaults_are_the_first_free(data):
    space = AddressSpace(predefined=SMALL_DEFAULTS)
    for _ in range(data.draw(st.integers(1, 15))):
        action = data.draw(st.sampled_from(["default", "static", "release"]))
        subnets = [pool.subnet for pool in space.pools()]
        if action == "default":
            reserved = data.draw(st.lists(networks(20, 30, "10.0.0.0/15"), max_size=2))
            oracle = next(
                (
                    s
                    for s in iter_subnets(SMALL_DEFAULTS)
                    if not any(s.overlaps(t) for t in subnets + reserved)
                ),
                None,
            )
            if oracle is None:
                assert _fails(
                    InvalidParameter, space.request_pool, None, None, None, None, reserved
                )
            else:
                assert space.request_pool(reserved=reserved).subnet == oracle
        elif action == "static":
            subnet = data.draw(networks(21, 28, "10.0.0.0/15"))
            if any(subnet.overlaps(s) for s in subnets):
                assert _fails(Forbidden, space.request_pool, str(subnet))
            else:
                assert space.request_pool(str(subnet)).subnet == subnet
        elif subnets:
            space.release_pool(data.draw(st.sampled_from(space.pools())).id)
        current = [pool.subnet for pool in space.pools()]
        for index, subnet in enumerate(current):
            assert not any(subnet.overlaps(other) for other in current[index + 1 :])


@given(
    base=networks(12, 20),
    size_offset=st.integers(0, 6),
    taken=st.lists(networks(8, 28), max_size=6),
)
def test_first_free_subnet_matches_brute_force(base, size_offset, taken):
    spec = PoolSpec(base, base.prefixlen + size_offset)
    oracle = next((s for s in spec.subnets() if not any(s.overlaps(t) for t in taken)), None)
    assert first_free_subnet([spec], taken) == oracle


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_failed_requests_leave_the_space_unchanged(data):
    space = AddressSpace(predefined=SMALL_DEFAULTS, serial=data.draw(st.booleans()))
    for _ in range(data.draw(st.integers(1, 12))):
        before = copy.deepcopy(space)
        try:
            _random_operation(space, data)
        except DockerError:
            assert observe(space) == observe(before)


def _random_operation(space: AddressSpace, data: st.DataObject) -> None:
    pools = space.pools()
    action = data.draw(st.sampled_from(["pool", "default", "drop", "address", "release"]))
    if action == "pool":
        config = data.draw(pool_configs())
        config["subnet"] = data.draw(st.sampled_from([config["subnet"], "10.0.0.0/24"]))
        if config["subnet"] == "10.0.0.0/24" or data.draw(st.booleans()):
            config.pop("ip_range", None)
        space.request_pool(**config)
    elif action == "default":
        space.request_pool()
    elif not pools:
        return
    elif action == "drop":
        space.release_pool(data.draw(st.sampled_from(pools)).id)
    else:
        pool = data.draw(st.sampled_from(pools))
        ip = data.draw(st.none() | address_in(pool.subnet.supernet(new_prefix=22)))
        if action == "address":
            space.request_address(pool.id, ip)
        elif ip is not None:
            space.release_address(pool.id, ip)


# Validation


@given(address=st.integers(0, 2**32 - 1).map(IPv4Address), bits=st.integers(0, 32))
def test_host_bits_are_reported_with_the_masked_subnet(address, bits):
    masked = IPv4Network((address, bits), strict=False)
    errors = validate_ipam_config(f"{address}/{bits}")
    if address == masked.network_address:
        assert errors == []
    else:
        assert errors == [f"invalid subnet {address}/{bits}: it should be {masked}"]


@given(subnet=networks(8, 30), ip_range=networks(8, 30), gateway=st.integers(0, 2**32 - 1))
def test_range_and_gateway_are_accepted_exactly_when_inside(subnet, ip_range, gateway):
    gateway_address = IPv4Address(gateway)
    errors = validate_ipam_config(str(subnet), str(ip_range), str(gateway_address))
    range_ok = ip_range.subnet_of(subnet)
    gateway_ok = gateway_address in subnet
    assert (errors == []) == (range_ok and gateway_ok)
    assert any("gateway" in error for error in errors) == (not gateway_ok)
