"""IP address management as Docker's default IPAM driver does it.

Predefined pools (pools, with Docker 27+'s per-engine IPv6 ULA pool), validation
of user IPAM configs (validate), pool and address allocation within an address
space (allocator), and Docker's error texts (messages); warnings for IPv4 subnets
Docker accepts that will not work as expected (overlaps). IPv4 and IPv6: a pool is
of one family, and a network takes one pool per family it enables.
"""

from emulator.ipam.addrset import AddressSet
from emulator.ipam.allocator import (
    GLOBAL_ADDRESS_SPACE,
    LOCAL_ADDRESS_SPACE,
    AddressSpace,
    global_address_space,
    local_address_space,
)
from emulator.ipam.overlaps import subnet_warnings
from emulator.ipam.pool import Pool, PoolKey, format_pool_id, parse_pool_id, pool_overlap
from emulator.ipam.pools import (
    GLOBAL_DEFAULT_POOLS,
    LOCAL_DEFAULT_POOLS,
    PoolSpec,
    first_free_subnet,
    iter_subnets,
    normalize_specs,
    ula_pool,
    with_ula,
)
from emulator.ipam.validate import (
    IpamConfig,
    check_ipam,
    check_ipam_config,
    format_ipam_errors,
    validate_ipam,
    validate_ipam_config,
)

__all__ = [
    "GLOBAL_ADDRESS_SPACE",
    "GLOBAL_DEFAULT_POOLS",
    "LOCAL_ADDRESS_SPACE",
    "LOCAL_DEFAULT_POOLS",
    "AddressSet",
    "AddressSpace",
    "IpamConfig",
    "Pool",
    "PoolKey",
    "PoolSpec",
    "check_ipam",
    "check_ipam_config",
    "first_free_subnet",
    "format_ipam_errors",
    "format_pool_id",
    "global_address_space",
    "iter_subnets",
    "local_address_space",
    "normalize_specs",
    "parse_pool_id",
    "pool_overlap",
    "subnet_warnings",
    "ula_pool",
    "validate_ipam",
    "validate_ipam_config",
    "with_ula",
]
