"""Small helpers shared by the checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.conformance.registry import CheckFailed
from emulator.conformance.targets import Target
from emulator.drivers.remote.client import PluginClient
from emulator.drivers.remote.discovery import discover

if TYPE_CHECKING:
    from emulator.conformance.context import CheckContext


def needs(*features: str) -> Callable[[Target], str | None]:
    """applies(): skipped with the driver's reason when it lacks one of `features`."""

    def applies(target: Target) -> str | None:
        return target.caps.missing(*features)

    return applies


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def refused_container_gone(ctx: CheckContext, name: str, host: str = "h1") -> None:
    """A container whose run was refused is gone, or only created: `docker run` is a
    create and a start, and a container whose start failed stays created (Docker's
    CLI and docker-py leave it so), but it neither runs nor holds an endpoint."""
    found = [c for c in ctx.host(host).containers.list(all=True) if c.name == name]
    if not found:
        return
    info = found[0].inspect()
    running = bool(info["State"]["Running"])
    joined = sorted(net for net, settings in (info["NetworkSettings"]["Networks"] or {}).items()
                    if settings.get("EndpointID"))
    expect(not running and not joined, f"the refused container {name} was left behind"
           + (", running" if running else "")
           + (f", with endpoints on {', '.join(joined)}" if joined else ""))
    ctx.notes.append(f"the refused container {name} is left created (not running, no "
                     "endpoint), as `docker run` leaves a container whose start failed")


def plugin_client(ctx: CheckContext, host: str) -> PluginClient:
    """A client of the plugin under test on `host`, over its own socket (as an engine
    would call it)."""
    address = discover(ctx.lab.plugin_dir(host), ctx.target.driver)
    if address is None:
        raise CheckFailed(f"the plugin {ctx.target.driver} is not registered on {host}")
    return PluginClient(address, timeout=ctx.lab.plugin_timeout)
