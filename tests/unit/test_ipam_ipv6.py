"""The IPAM's IPv6 pools and addresses against Docker 28 (libnetwork/ipams/defaultipam,
daemon/daemon.go deriveULABaseNetwork): the per-engine ULA pool, lowest-free
allocation in huge subnets, exhaustion, auxiliary addresses and validation texts."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.errdefs import DockerError, Forbidden, InvalidParameter, Unavailable
from emulator.ipam import (
    LOCAL_DEFAULT_POOLS,
    AddressSpace,
    PoolSpec,
    check_ipam_config,
    local_address_space,
    parse_pool_id,
    ula_pool,
    with_ula,
)

IP6 = IPv6Address
NET6 = IPv6Network


def raised(error_class: type[DockerError], call, *args, **kwargs) -> DockerError:
    with pytest.raises(error_class) as info:
        call(*args, **kwargs)
    assert type(info.value) is error_class
    return info.value


@pytest.fixture
def space() -> AddressSpace:
    return local_address_space(engine_id="499d4bc0-b0b3-416f-b1ee-cf6486315593")


# The default ULA pool


@pytest.mark.parametrize(("engine_id", "base"), [
    ("", "fd42:98fc:1c14::/48"),  # daemon/daemon_test.go TestDeriveULABaseNetwork
    ("499d4bc0-b0b3-416f-b1ee-cf6486315593", "fd62:fb69:18af::/48"),
])
def test_ula_pool_is_dockers_derivation_from_the_engine_id(engine_id, base):
    assert ula_pool(engine_id) == PoolSpec(NET6(base), 64)


def test_ula_pool_is_added_only_when_no_default_pool_is_ipv6():
    assert with_ula(LOCAL_DEFAULT_POOLS, "x")[-1] == ula_pool("x")
    own = (PoolSpec.parse("10.0.0.0/8", 24), PoolSpec.parse("2001:db8::/56", 64))
    assert with_ula(own, "x") == own


def test_auto_ipv6_pools_are_the_lowest_free_64s_of_the_ula(space):
    first = space.request_pool(v6=True)
    second = space.request_pool(v6=True)
    assert (first.subnet, first.gateway) == (NET6("fd62:fb69:18af::/64"), IP6("fd62:fb69:18af::1"))
    assert second.subnet == NET6("fd62:fb69:18af:1::/64")
    space.release_pool(first.id)
    assert space.request_pool(v6=True).subnet == NET6("fd62:fb69:18af::/64")


def test_auto_ipv6_pool_skips_a_static_subnet_inside_the_ula(space):
    space.request_pool("fd62:fb69:18af::/63")
    assert space.request_pool(v6=True).subnet == NET6("fd62:fb69:18af:2::/64")


def test_auto_ipv4_pool_is_not_taken_from_the_ula(space):
    assert space.request_pool().subnet == IPv4Network("172.17.0.0/16")


def test_without_an_engine_id_there_is_no_default_ipv6_pool():
    error = raised(InvalidParameter, local_address_space().request_pool, v6=True)
    assert error.message == "all predefined address pools have been fully subnetted"


def test_ula_pool_runs_out_after_65536_networks():
    space = AddressSpace(predefined=(PoolSpec.parse("fd00:aa::/62", 64),))
    subnets = [space.request_pool(v6=True).subnet for _ in range(4)]
    assert subnets[-1] == NET6("fd00:aa:0:3::/64")
    error = raised(InvalidParameter, space.request_pool, v6=True)
    assert error.message == "all predefined address pools have been fully subnetted"


# Addresses


def test_gateway_is_1_and_containers_get_the_lowest_free_address(space):
    pool = space.request_pool("fd00:1::/64")
    assert pool.gateway == IP6("fd00:1::1")
    first, second = space.request_address(pool.id), space.request_address(pool.id)
    assert (first, second) == (IP6("fd00:1::2"), IP6("fd00:1::3"))
    space.release_address(pool.id, first)
    assert space.request_address(pool.id) == IP6("fd00:1::2")


def test_a_64_costs_only_its_taken_addresses(space):
    pool = space.request_pool("fd00:1::/64")
    for _ in range(1000):
        space.request_address(pool.id)
    assert len(space.allocated_addresses(pool.id)) == 1002  # :: and the gateway too
    assert space.free_count(pool.id) == 2**64 - 1002


def test_subnet_router_anycast_is_reserved_but_the_last_address_is_not(space):
    pool = space.request_pool("fd00:1::/126")
    taken = [space.request_address(pool.id) for _ in range(2)]
    assert taken == [IP6("fd00:1::2"), IP6("fd00:1::3")]
    error = raised(Unavailable, space.request_address, pool.id)
    assert error.message == "no available addresses on this pool"
    assert raised(Forbidden, space.request_address, pool.id, "fd00:1::").message == (
        "Address already in use")


def test_a_128_has_no_address_for_its_gateway(space):
    error = raised(DockerError, space.request_pool, "fd00:1::5/128")
    assert error.message == "failed to allocate gateway (): no available addresses on this pool"
    assert space.pools() == []


def test_ip_range_and_gateway_and_aux_addresses(space):
    pool = space.request_pool("fd00:1::/64", "fd00:1::100/120", "fd00:1::fe",
                              {"router": "fd00:1::100", "out": "fd00:1::9"})
    assert pool.id == "LocalDefault/fd00:1::/64/fd00:1::100/120"
    assert parse_pool_id(pool.id).ip_range == NET6("fd00:1::100/120")
    assert pool.gateway == IP6("fd00:1::fe")
    assert space.request_address(pool.id) == IP6("fd00:1::101")
    assert raised(Forbidden, space.request_address, pool.id, "fd00:1::9").message == (
        "Address already in use")


def test_a_requested_address_of_the_other_family_is_out_of_range(space):
    pool = space.request_pool("fd00:1::/64")
    assert raised(InvalidParameter, space.request_address, pool.id, "10.0.0.1").message == (
        "requested address is out of range")
    assert raised(InvalidParameter, space.request_address, pool.id, "fd00:2::1").message == (
        "requested address is out of range")


def test_overlapping_ipv6_subnets_are_refused_and_families_never_overlap(space):
    space.request_pool("fd00:1::/64")
    space.request_pool("10.0.0.0/8")
    error = raised(Forbidden, space.request_pool, "fd00:1::/48")
    assert error.message == (
        "invalid pool request: Pool overlaps with other one on this address space")
    # ::a00:0/104 has the same integer value as 10.0.0.0/8
    assert space.request_pool("::a00:0/104").subnet == NET6("::a00:0/104")


# Validation texts (api/types/network/ipam.go ValidateIPAM)


@pytest.mark.parametrize(("config", "error"), [
    (("fd00:1::1/64",), "invalid subnet fd00:1::1/64: it should be fd00:1::/64"),
    (("fd00:1::/64", "10.0.0.0/24"),
     "invalid ip-range 10.0.0.0/24: parent subnet is an IPv6 block"),
    (("fd00:1::/64", "fd00:1::/48"),
     "invalid ip-range fd00:1::/48: CIDR block is bigger than its parent subnet fd00:1::/64"),
    (("fd00:1::/64", None, "fd00:2::1"),
     "invalid gateway fd00:2::1: parent subnet fd00:1::/64 doesn't contain this address"),
    (("fd00:1::/64", None, "10.0.0.1"), "invalid gateway 10.0.0.1: parent subnet is an IPv6 block"),
    (("fd00:1::/64", None, None, {"r": "fd00:9::1"}),
     "invalid auxiliary address r: parent subnet fd00:1::/64 doesn't contain this address"),
    (("10.0.0.0/24", None, "fd00::1"), "invalid gateway fd00::1: parent subnet is an IPv4 block"),
])
def test_ipv6_validation_texts(config, error):
    with pytest.raises(InvalidParameter) as info:
        check_ipam_config(*config, enable_ipv6=True)
    assert info.value.message == f"invalid network config:\n* {error}"


def test_an_ipv6_subnet_is_not_validated_without_ipv6():
    check_ipam_config("fd00:1::1/64", None, "fd00:9::1", enable_ipv6=False)


# Properties


@settings(max_examples=60, deadline=None)
@given(length=st.integers(min_value=120, max_value=128), steps=st.lists(
    st.tuples(st.booleans(), st.integers(min_value=0, max_value=255)), max_size=40))
def test_ipv6_addresses_are_always_the_lowest_free_and_never_twice(length, steps):
    space = local_address_space(engine_id="x")
    try:
        pool = space.request_pool(f"fd00:1::/{length}")
    except DockerError:
        assert length == 128 and space.pools() == []
        return
    usable = [a for a in pool.subnet if a not in pool.reserved_addresses()]
    held: list[IPv6Address] = []
    for take, index in steps:
        if take:
            free = [a for a in usable if a not in held]
            if not free:
                with pytest.raises(Unavailable):
                    space.request_address(pool.id)
                continue
            got = space.request_address(pool.id)
            assert got == free[0]
            held.append(got)
        elif held:
            space.release_address(pool.id, held.pop(index % len(held)))
    assert space.free_count(pool.id) == len(usable) - len(held)
