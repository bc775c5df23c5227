"""Which driver answers to which name on one emulated Docker host.

Built-in drivers are found, not listed: every module or package directly under
`emulator.drivers` that has a `register(registrar)` function registers its
driver with the capability it declares, as libnetwork's drivers call
`driverapi.Registerer.RegisterDriver`. A name no built-in answers to is looked
up as a plugin in the host's plugin directory (Docker's remote drivers), whose
capability comes from its GetCapabilities answer.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from dataclasses import dataclass
from functools import cache
from ipaddress import IPv4Address
from pathlib import Path

from emulator.drivers.base import Capability, Driver, DriverContext, DriverFactory
from emulator.drivers.remote.client import PluginError
from emulator.drivers.remote.discovery import discover
from emulator.drivers.remote.driver import RemoteDriver
from emulator.errdefs import DockerError, NotFound


@dataclass(frozen=True)
class Registration:
    name: str
    factory: DriverFactory
    capability: Capability


class _Collector:
    def __init__(self) -> None:
        self.found: dict[str, Registration] = {}

    def register(self, name: str, factory: DriverFactory, capability: Capability) -> None:
        if name in self.found:
            raise ValueError(f"network driver {name!r} is registered twice")
        self.found[name] = Registration(name, factory, capability)


@cache
def builtin() -> dict[str, Registration]:
    """Every built-in driver, by name."""
    import emulator.drivers as package

    collector = _Collector()
    for module in pkgutil.iter_modules(package.__path__):
        imported = importlib.import_module(f"{package.__name__}.{module.name}")
        register = getattr(imported, "register", None)
        if callable(register):
            register(collector)
    return dict(sorted(collector.found.items()))


def names() -> list[str]:
    return list(builtin())


def capability(name: str) -> Capability:
    """The capability a built-in driver declares."""
    try:
        return builtin()[name].capability
    except KeyError:
        raise NotFound(f'plugin "{name}" not found') from None


class DriverRegistry:
    """The drivers of one host, made on first use: built-ins, then plugins."""

    def __init__(self, context: DriverContext, plugin_dir: Path | None = None,
                 plugin_timeout: float = 10.0, node_address: IPv4Address | None = None) -> None:
        self.context = context
        self.plugin_dir = plugin_dir
        self.plugin_timeout = plugin_timeout
        self.node_address = node_address
        self._loaded: dict[str, tuple[Driver, Capability]] = {}
        self._lock = threading.RLock()

    def get(self, name: str) -> Driver:
        return self._load(name)[0]

    def capability(self, name: str) -> Capability:
        return self._load(name)[1]

    def available(self, name: str) -> bool:
        """Whether `name` is a built-in or a plugin that answers here now."""
        try:
            self._load(name)
        except DockerError:
            return False
        return True

    def loaded(self) -> list[tuple[str, Driver, Capability]]:
        with self._lock:
            return [(name, d, c) for name, (d, c) in self._loaded.items()]

    def forget(self, name: str) -> None:
        """Drop a loaded plugin, so the next use discovers and activates it again."""
        with self._lock:
            self._loaded.pop(name, None)

    def _load(self, name: str) -> tuple[Driver, Capability]:
        with self._lock:
            if name not in self._loaded:
                registration = builtin().get(name)
                if registration is not None:
                    entry = (registration.factory(self.context), registration.capability)
                else:
                    entry = self._plugin(name)
                self._loaded[name] = entry
            return self._loaded[name]

    def _plugin(self, name: str) -> tuple[Driver, Capability]:
        try:
            address = discover(self.plugin_dir, name)
        except PluginError as exc:
            raise DockerError(f'error looking up network driver "{name}": {exc}') from None
        if address is None:
            raise NotFound(f'plugin "{name}" not found')
        driver = RemoteDriver.activate(address, self.context.fabric, self.plugin_timeout,
                                       self.node_address)
        return driver, driver.capability
