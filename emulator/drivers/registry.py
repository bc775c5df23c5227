"""Which driver answers to which name on an emulated Docker host."""

from __future__ import annotations

from emulator.drivers.base import DriverFactory
from emulator.drivers.bridge import BridgeDriver
from emulator.drivers.host import HostDriver
from emulator.drivers.macvlan import MacvlanDriver
from emulator.drivers.null import NullDriver
from emulator.drivers.overlay import OverlayDriver
from emulator.errdefs import NotFound

BUILTIN: dict[str, DriverFactory] = {
    "bridge": BridgeDriver,
    "host": HostDriver,
    "macvlan": MacvlanDriver,
    "null": NullDriver,
    "overlay": OverlayDriver,
}


def lookup(name: str) -> DriverFactory:
    try:
        return BUILTIN[name]
    except KeyError:
        raise NotFound(f'plugin "{name}" not found') from None


def names() -> list[str]:
    return sorted(BUILTIN)
