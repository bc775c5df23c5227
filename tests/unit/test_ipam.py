"""Example-based tests of the IPAM package against Docker 27/28's behaviour and texts."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address, IPv4Network, IPv6Network

import pytest

from emulator.errdefs import (
    DockerError,
    Forbidden,
    InvalidParameter,
    NotFound,
    Unavailable,
)
from emulator.ipam import (
    GLOBAL_DEFAULT_POOLS,
    LOCAL_DEFAULT_POOLS,
    AddressSpace,
    IpamConfig,
    PoolSpec,
    check_ipam,
    check_ipam_config,
    first_free_subnet,
    format_ipam_errors,
    global_address_space,
    iter_subnets,
    local_address_space,
    normalize_specs,
    parse_pool_id,
    pool_overlap,
    validate_ipam_config,
)
from emulator.ipam.parse import parse_prefix

OVERLAP = "invalid pool request: Pool overlaps with other one on this address space"
IN_USE = "Address already in use"
NET = IPv4Network
IP = IPv4Address


def raised(error_class: type[DockerError], call, *args, **kwargs) -> DockerError:
    """Run call, expecting error_class exactly; return the error."""
    with pytest.raises(error_class) as info:
        call(*args, **kwargs)
    assert type(info.value) is error_class
    return info.value


@pytest.fixture
def host() -> AddressSpace:
    """A host's local space whose default bridge already holds 172.17.0.0/16."""
    space = local_address_space()
    space.request_pool("172.17.0.0/16")
    return space


# Predefined pools


def test_local_defaults_are_dockers_31_subnets_in_order():
    subnets = [str(s) for s in iter_subnets(LOCAL_DEFAULT_POOLS)]
    assert subnets[:15] == [f"172.{n}.0.0/16" for n in range(17, 32)]
    assert subnets[15:] == [f"192.168.{16 * n}.0/20" for n in range(16)]


def test_global_default_is_10_slash_8_in_slash_24s_lazily():
    (spec,) = GLOBAL_DEFAULT_POOLS
    assert spec.count == 65536
    first = list(itertools.islice(spec.subnets(), 3))
    assert first == [NET("10.0.0.0/24"), NET("10.0.1.0/24"), NET("10.0.2.0/24")]
    assert spec.subnet_at(65535) == NET("10.255.255.0/24")
    with pytest.raises(IndexError):
        spec.subnet_at(65536)


def test_pool_spec_refuses_a_size_shorter_than_its_base():
    with pytest.raises(ValueError, match="cannot be split"):
        PoolSpec.parse("10.0.0.0/8", 7)


def test_normalize_sorts_and_drops_overlapped_specs():
    specs = [PoolSpec.parse("192.168.0.0/16", 24), PoolSpec.parse("10.0.0.0/8", 16)]
    specs.append(PoolSpec.parse("10.5.0.0/16", 24))
    assert normalize_specs(specs) == (specs[1], specs[0])


def test_first_free_subnet_skips_blockers_and_can_run_out():
    spec = (PoolSpec.parse("10.0.0.0/16", 24),)
    assert first_free_subnet(spec, [NET("10.0.0.0/23"), NET("10.0.2.128/25")]) == NET("10.0.3.0/24")
    assert first_free_subnet(spec, [NET("10.0.0.0/8")]) is None


# Default pool allocation


def test_first_network_after_the_default_bridge_gets_172_18(host):
    pool = host.request_pool()
    assert pool.subnet == NET("172.18.0.0/16")
    assert pool.gateway == IP("172.18.0.1")
    assert pool.id == "LocalDefault/172.18.0.0/16"
    assert host.request_pool().subnet == NET("172.19.0.0/16")


def test_defaults_run_through_192_168_then_are_exhausted(host):
    subnets = [host.request_pool().subnet for _ in range(30)]
    assert subnets[-1] == NET("192.168.240.0/20")
    before = host.pools()
    error = raised(InvalidParameter, host.request_pool)
    assert error.message == "all predefined address pools have been fully subnetted"
    assert error.status == 400
    assert host.pools() == before


def test_a_released_default_subnet_is_reused_lowest_first(host):
    pools = [host.request_pool() for _ in range(3)]
    host.release_pool(pools[1].id)
    host.release_pool(pools[0].id)
    assert host.request_pool().subnet == NET("172.18.0.0/16")
    assert host.request_pool().subnet == NET("172.19.0.0/16")
    assert host.request_pool().subnet == NET("172.21.0.0/16")


def test_defaults_avoid_reserved_host_routes(host):
    assert host.request_pool(reserved=[NET("172.18.0.0/16")]).subnet == NET("172.19.0.0/16")
    wide = [NET("172.16.0.0/12"), IPv6Network("fd00::/8")]
    assert host.request_pool(reserved=wide).subnet == NET("192.168.0.0/20")
    partial = [NET("172.16.0.0/12"), NET("192.168.16.5/32")]
    assert host.request_pool(reserved=partial).subnet == NET("192.168.32.0/20")


def test_defaults_avoid_a_static_subnet_inside_a_default(host):
    host.request_pool("172.18.5.0/24")
    assert host.request_pool().subnet == NET("172.19.0.0/16")


def test_global_space_hands_out_10_0_x_0_slash_24():
    swarm = global_address_space()
    assert swarm.request_pool().id == "GlobalDefault/10.0.0.0/24"
    assert swarm.request_pool().subnet == NET("10.0.1.0/24")


# Static pools


def test_static_subnet_overlapping_an_allocated_one_is_forbidden(host):
    for subnet in ("172.17.0.0/16", "172.17.3.0/24", "172.16.0.0/12"):
        error = raised(Forbidden, host.request_pool, subnet)
        assert error.message == OVERLAP
        assert error.status == 403
    assert [p.id for p in host.pools()] == ["LocalDefault/172.17.0.0/16"]


def test_same_subnet_and_ip_range_twice_is_forbidden(host):
    host.request_pool("10.1.0.0/16", "10.1.1.0/24")
    assert raised(Forbidden, host.request_pool, "10.1.0.0/16", "10.1.1.0/24").message == OVERLAP


def test_ip_range_pools_may_share_or_overlap_subnets_as_in_docker(host):
    first = host.request_pool("10.1.0.0/16", "10.1.1.0/24", "10.1.0.1")
    second = host.request_pool("10.1.0.0/16", "10.1.2.0/24", "10.1.0.2")
    host.request_pool("10.0.0.0/8", "10.9.0.0/24")
    assert host.request_address(first.id) == IP("10.1.1.0")
    assert raised(Forbidden, host.request_address, second.id, "10.1.1.0").message == IN_USE
    error = raised(DockerError, host.request_pool, "10.1.0.0/16", "10.1.3.0/24", "10.1.0.1")
    assert error.message == "failed to allocate gateway (10.1.0.1): Address already in use"
    assert error.status == 500


def test_a_shared_subnet_lives_until_its_last_pool_goes(host):
    master = host.request_pool("10.1.0.0/16")
    child = host.request_pool("10.1.0.0/16", "10.1.8.0/24")
    host.release_pool(master.id)
    assert raised(Forbidden, host.request_pool, "10.1.0.0/16").message == OVERLAP
    host.release_pool(child.id)
    assert host.request_pool("10.1.0.0/16").subnet == NET("10.1.0.0/16")


# Gateway and auxiliary addresses


def test_gateway_defaults_to_the_first_address_of_the_ip_range(host):
    assert host.request_pool("10.1.0.0/16", "10.1.5.0/24").gateway == IP("10.1.5.0")
    assert host.request_pool("10.2.0.0/16", "10.2.0.0/24").gateway == IP("10.2.0.1")
    assert host.request_pool("10.3.0.0/24").gateway == IP("10.3.0.1")


def test_explicit_gateway_and_aux_addresses_are_reserved(host):
    aux = {"router": "10.1.0.2", "printer": "10.1.200.1"}
    pool = host.request_pool("10.1.0.0/16", "10.1.0.0/24", "10.1.0.254", aux)
    assert pool.gateway == IP("10.1.0.254")
    assert dict(pool.aux_addresses) == {"router": IP("10.1.0.2"), "printer": IP("10.1.200.1")}
    assert host.request_address(pool.id) == IP("10.1.0.1")
    assert host.request_address(pool.id) == IP("10.1.0.3")
    assert raised(Forbidden, host.request_address, pool.id, "10.1.200.1").message == IN_USE


def test_gateway_on_the_network_address_fails_like_docker(host):
    error = raised(DockerError, host.request_pool, "10.1.0.0/24", gateway="10.1.0.0")
    assert error.message == "failed to allocate gateway (10.1.0.0): Address already in use"
    assert host.request_pool("10.1.0.0/24").gateway == IP("10.1.0.1")


def test_aux_address_on_the_gateway_fails_like_docker(host):
    before = host.pools()
    call = host.request_pool
    error = raised(DockerError, call, "10.1.0.0/24", aux_addresses={"host": "10.1.0.1"})
    assert error.message == "failed to allocate secondary ip address (host:10.1.0.1): " + IN_USE
    assert host.pools() == before


def test_no_gateway_left_in_a_full_ip_range(host):
    first = host.request_pool("10.1.0.0/24", "10.1.0.7/32", gateway="10.1.0.1")
    host.request_address(first.id)
    host.request_address(first.id, "10.1.0.6")
    error = raised(DockerError, host.request_pool, "10.1.0.0/24", "10.1.0.6/31")
    assert error.message == "failed to allocate gateway (): no available addresses on this pool"


# Addresses


def test_local_addresses_are_first_free(host):
    pool = host.request_pool()
    first, second, _ = (host.request_address(pool.id) for _ in range(3))
    assert (first, second) == (IP("172.18.0.2"), IP("172.18.0.3"))
    host.release_address(pool.id, first)
    assert host.request_address(pool.id) == first


def test_swarm_addresses_are_serial_and_wrap():
    swarm = global_address_space()
    pool = swarm.request_pool("10.0.9.0/29")
    got = [swarm.request_address(pool.id) for _ in range(3)]
    assert got == [IP("10.0.9.2"), IP("10.0.9.3"), IP("10.0.9.4")]
    swarm.release_address(pool.id, "10.0.9.2")
    got = [swarm.request_address(pool.id) for _ in range(3)]
    assert got == [IP("10.0.9.5"), IP("10.0.9.6"), IP("10.0.9.2")]


def test_serial_can_be_asked_per_request(host):
    pool = host.request_pool("10.1.0.0/24")
    addresses = [host.request_address(pool.id) for _ in range(3)]
    host.release_address(pool.id, addresses[0])
    assert host.request_address(pool.id, serial=True) == IP("10.1.0.5")


def test_requested_ip_may_be_outside_the_ip_range_but_not_the_subnet(host):
    pool = host.request_pool("10.1.0.0/16", "10.1.5.0/24")
    assert host.request_address(pool.id, "10.1.9.9") == IP("10.1.9.9")
    error = raised(InvalidParameter, host.request_address, pool.id, "10.2.0.1")
    assert error.message == "requested address is out of range"
    error = raised(InvalidParameter, host.request_address, pool.id, "fd00::1")
    assert error.message == "requested address is out of range"


def test_requested_ip_in_use_or_reserved_is_forbidden(host):
    pool = host.request_pool("10.1.0.0/24")
    host.request_address(pool.id, "10.1.0.9")
    for ip in ("10.1.0.9", "10.1.0.1", "10.1.0.0", "10.1.0.255"):
        assert raised(Forbidden, host.request_address, pool.id, ip).message == IN_USE


def test_exhaustion_is_unavailable(host):
    pool = host.request_pool("10.1.0.0/29")
    assert [host.request_address(pool.id) for _ in range(5)][-1] == IP("10.1.0.6")
    error = raised(Unavailable, host.request_address, pool.id)
    assert error.message == "no available addresses on this pool"
    assert error.status == 503
    assert host.free_count(pool.id) == 0


@pytest.mark.parametrize(
    ("subnet", "gateway", "hosts"),
    [("10.1.0.0/31", "10.1.0.0", ["10.1.0.1"]), ("10.1.0.4/32", "10.1.0.4", [])],
)
def test_slash_31_and_32_have_no_network_or_broadcast(host, subnet, gateway, hosts):
    pool = host.request_pool(subnet)
    assert pool.gateway == IP(gateway)
    assert [str(host.request_address(pool.id)) for _ in hosts] == hosts
    raised(Unavailable, host.request_address, pool.id)


def test_unknown_and_malformed_pool_ids(host):
    error = raised(NotFound, host.request_address, "LocalDefault/10.9.0.0/16")
    assert error.message == "cannot find address pool for poolID:10.9.0.0/16/invalid Prefix"
    error = raised(
        NotFound, host.release_address, "LocalDefault/10.9.0.0/16/10.9.1.0/24", "1.1.1.1"
    )
    assert error.message == "cannot find address pool for 10.9.0.0/16/10.9.1.0/24"
    assert raised(InvalidParameter, host.pool, "nonsense").message == "invalid pool id: nonsense"


def test_releases_are_idempotent_and_spare_reserved_addresses(host):
    pool = host.request_pool("10.1.0.0/24", aux_addresses={"r": "10.1.0.2"})
    address = host.request_address(pool.id)
    host.release_address(pool.id, address)
    host.release_address(pool.id, address)
    host.release_address(pool.id, pool.gateway)
    host.release_address(pool.id, "10.1.0.2")
    assert host.allocated_addresses(pool.id) == {
        IP("10.1.0.0"),
        IP("10.1.0.1"),
        IP("10.1.0.2"),
        IP("10.1.0.255"),
    }
    error = raised(InvalidParameter, host.release_address, pool.id, "10.2.0.1")
    assert error.message == "requested address is out of range"
    host.release_pool(pool.id)
    host.release_pool(pool.id)
    assert [p.id for p in host.pools()] == ["LocalDefault/172.17.0.0/16"]


# Pools and ids


def test_pool_ids_round_trip():
    key = parse_pool_id("LocalDefault/10.1.0.0/16/10.1.5.0/24")
    assert key == ("LocalDefault", NET("10.1.0.0/16"), NET("10.1.5.0/24"))
    assert parse_pool_id("GlobalDefault/10.0.0.0/24").ip_range is None
    with pytest.raises(ValueError, match="pool id"):
        parse_pool_id("LocalDefault/10.1.0.0")


def test_pool_overlap_works_across_address_spaces(host):
    swarm = global_address_space()
    swarm_pool = swarm.request_pool()
    pools = host.pools() + swarm.pools()
    assert pool_overlap(NET("10.0.0.128/25"), pools) == swarm_pool
    assert pool_overlap(NET("172.17.255.0/24"), pools) == host.pools()[0]
    assert pool_overlap(NET("192.168.0.0/16"), pools) is None


def test_pool_reserved_addresses(host):
    pool = host.request_pool("10.1.0.0/30", aux_addresses={"x": "10.1.0.2"})
    assert pool.reserved_addresses() == {IP(f"10.1.0.{n}") for n in range(4)}
    assert pool.allocation_range == NET("10.1.0.0/30")


# Validation


def test_host_bits_in_subnet_use_dockers_text():
    assert validate_ipam_config("10.1.2.3/24") == [
        "invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24"
    ]


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        (("10.1.0.0/16",), []),
        ((None, None, "10.1.0.1"), ["invalid subnet : invalid CIDR block notation"]),
        (("10.1.0.0",), ["invalid subnet 10.1.0.0: invalid CIDR block notation"]),
        (
            ("10.1.0.0/255.255.0.0",),
            ["invalid subnet 10.1.0.0/255.255.0.0: invalid CIDR block notation"],
        ),
        (("10.1.0.0/016",), ["invalid subnet 10.1.0.0/016: invalid CIDR block notation"]),
        (("010.1.0.0/16",), ["invalid subnet 010.1.0.0/16: invalid CIDR block notation"]),
        (("10.1.0.0/33",), ["invalid subnet 10.1.0.0/33: invalid CIDR block notation"]),
        (("10.1.0.0/16", "10.1.0.0/"), ["invalid ip-range 10.1.0.0/: invalid CIDR block notation"]),
        (
            ("10.1.0.0/16", "fd00::/64"),
            ["invalid ip-range fd00::/64: parent subnet is an IPv4 block"],
        ),
        (
            ("10.1.0.0/16", "10.2.0.0/24"),
            ["invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/16 doesn't contain ip-range"],
        ),
        (
            ("10.1.0.0/16", "10.1.0.1/8"),
            [
                "invalid ip-range 10.1.0.1/8: CIDR block is bigger than its parent subnet"
                " 10.1.0.0/16",
                "invalid ip-range 10.1.0.1/8: it should be 10.0.0.0/8",
            ],
        ),
        (
            ("10.1.0.0/16", None, "10.2.0.1"),
            ["invalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"],
        ),
        (("10.1.0.0/16", None, "10.1.0.256"), ["invalid gateway 10.1.0.256: invalid address"]),
        (("10.1.0.0/16", None, "::1"), ["invalid gateway ::1: parent subnet is an IPv4 block"]),
        (
            ("10.1.0.0/16", None, None, {"a": "10.1.0.5", "b": "10.3.0.1", "c": "x"}),
            [
                "invalid auxiliary address b: parent subnet 10.1.0.0/16"
                " doesn't contain this address",
                "invalid auxiliary address c: invalid address",
            ],
        ),
    ],
)
def test_validation_messages(config, errors):
    assert validate_ipam_config(*config) == errors


def test_ipv6_subnets_are_only_checked_when_ipv6_is_enabled():
    assert validate_ipam_config("fd00::1/64") == []
    assert validate_ipam_config("fd00::1/64", enable_ipv6=True) == [
        "invalid subnet fd00::1/64: it should be fd00::/64"
    ]
    zoned = validate_ipam_config("fe80::/64", gateway="fe80::1%eth0", enable_ipv6=True)
    assert zoned == [
        "invalid gateway fe80::1%eth0: parent subnet fe80::/64 doesn't contain this address"
    ]


def test_all_errors_of_all_configs_are_joined_as_dockerd_does():
    configs = [IpamConfig("10.1.2.3/24", gateway="10.9.9.9"), IpamConfig("bad")]
    error = raised(InvalidParameter, check_ipam, configs)
    assert error.message == (
        "invalid network config:\n"
        "* invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24\n"
        "* invalid gateway 10.9.9.9: parent subnet 10.1.2.3/24 doesn't contain this address\n"
        "* invalid subnet bad: invalid CIDR block notation"
    )


def test_single_error_keeps_the_bullet():
    assert format_ipam_errors(["x"]) == "invalid network config:\n* x"
    error = raised(InvalidParameter, check_ipam_config, "10.0.0.0/8", "10.0.0.0/8 ")
    assert (
        error.message
        == "invalid network config:\n* invalid ip-range 10.0.0.0/8 : invalid CIDR block notation"
    )
    check_ipam_config("10.0.0.0/8", "10.1.0.0/16", "10.0.0.1", {"a": "10.2.0.1"})


def test_request_pool_validates_first(host):
    error = raised(InvalidParameter, host.request_pool, "10.1.0.0/16", gateway="10.2.0.1")
    assert error.message.startswith("invalid network config:\n* invalid gateway 10.2.0.1")
    error = raised(InvalidParameter, host.request_pool, ip_range="10.1.0.0/24")
    assert (
        error.message == "invalid network config:\n* invalid subnet : invalid CIDR block notation"
    )


def test_parse_prefix_keeps_host_bits():
    prefix = parse_prefix("10.1.2.3/24")
    assert (str(prefix), str(prefix.network)) == ("10.1.2.3/24", "10.1.2.0/24")
