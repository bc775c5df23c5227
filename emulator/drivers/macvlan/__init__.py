"""The macvlan driver: containers straight on a LAN, each with its own MAC."""

from emulator.drivers.macvlan.driver import MacvlanDriver, register

__all__ = ["MacvlanDriver", "register"]
