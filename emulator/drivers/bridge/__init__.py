"""The `bridge` driver: one Linux bridge per network, a veth per endpoint.

Split by lifecycle phase, as libnetwork splits its bridge driver: `options`
parses and validates, `driver` creates and removes networks and endpoints and hands
its networks' rules to the host firewall (`drivers/hostfirewall.py`).
"""

from emulator.drivers.bridge.driver import BridgeDriver, register

__all__ = ["BridgeDriver", "register"]
