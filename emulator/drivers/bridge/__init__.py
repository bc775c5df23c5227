"""The `bridge` driver: one Linux bridge per network, a veth per endpoint.

Split by lifecycle phase, as libnetwork splits its bridge driver: `options`
parses and validates, `firewall` renders the host's isolation and NAT rules,
`driver` creates and removes networks and endpoints.
"""

from emulator.drivers.bridge.driver import BridgeDriver

__all__ = ["BridgeDriver"]
