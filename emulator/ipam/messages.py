"""Docker's IPAM error texts, kept in one place so every layer quotes them alike.

dockerd answers IPAM failures with fixed sentences (libnetwork/ipamapi) or with
sentences built around them (libnetwork/network.go, the default IPAM driver).
Scripts match on these strings, so the emulator must print them byte for byte.
The texts are those of Docker 27/28 (the linear default-IPAM allocator).
"""

from __future__ import annotations

# libnetwork/ipamapi/contract.go (errdefs class in brackets).
NO_AVAILABLE_IPS = "no available addresses on this pool"  # ErrNoAvailableIPs [Unavailable]
IP_ALREADY_ALLOCATED = "Address already in use"  # ErrIPAlreadyAllocated [Forbidden]
IP_OUT_OF_RANGE = "requested address is out of range"  # ErrIPOutOfRange [InvalidParameter]
POOL_OVERLAP = "Pool overlaps with other one on this address space"  # ErrPoolOverlap [Forbidden]
NO_MORE_SUBNETS = "all predefined address pools have been fully subnetted"  # [InvalidParameter]

# libnetwork/ipams/defaultipam/allocator.go: RequestPool wraps a static failure.
POOL_REQUEST_INVALID = "invalid pool request: {error}"  # [Forbidden]
INVALID_POOL_ID = "invalid pool id: {pool_id}"  # [InvalidParameter]
INVALID_ADDRESS = "invalid address"  # ReleaseAddress of an unparsable address [InvalidParameter]
INVALID_PREFERRED_ADDRESS = "invalid preferred address: {address}"  # [InvalidParameter]

# libnetwork/ipams/defaultipam/address_space.go requestAddress and
# releaseAddress [NotFound]; `{child}` prints Go's zero netip.Prefix as
# "invalid Prefix" when the pool has no ip-range.
POOL_NOT_FOUND = "cannot find address pool for poolID:{subnet}/{child}"
RELEASE_POOL_NOT_FOUND = "cannot find address pool for {subnet}/{child}"
GO_ZERO_PREFIX = "invalid Prefix"

# libnetwork/network.go ipamAllocateVersion: the gateway and auxiliary
# addresses are reserved right after the pool, failures wrapped [Internal].
GATEWAY_FAILED = "failed to allocate gateway ({gateway}): {error}"
AUX_FAILED = "failed to allocate secondary ip address ({name}:{address}): {error}"

# api/types/network/ipam.go ValidateIPAM, wrapped by daemon/network.go in
# errdefs.InvalidParameter; sub-errors joined by internal/multierror.
INVALID_CONFIG_HEADER = "invalid network config:"
SUBNET_NOT_CIDR = "invalid subnet {subnet}: invalid CIDR block notation"
SUBNET_HOST_BITS = "invalid subnet {subnet}: it should be {masked}"
RANGE_NOT_CIDR = "invalid ip-range {ip_range}: invalid CIDR block notation"
RANGE_FAMILY = "invalid ip-range {ip_range}: parent subnet is an {family} block"
RANGE_TOO_BIG = "invalid ip-range {ip_range}: CIDR block is bigger than its parent subnet {subnet}"
RANGE_HOST_BITS = "invalid ip-range {ip_range}: it should be {masked}"
RANGE_OUTSIDE = "invalid ip-range {ip_range}: parent subnet {subnet} doesn't contain ip-range"
GATEWAY_INVALID = "invalid gateway {gateway}: {reason}"
AUX_INVALID = "invalid auxiliary address {name}: {reason}"
ADDRESS_NOT_IP = "invalid address"
ADDRESS_FAMILY = "parent subnet is an {family} block"
ADDRESS_OUTSIDE = "parent subnet {subnet} doesn't contain this address"
