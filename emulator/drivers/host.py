"""The `host` driver: the container shares the Docker host's network namespace.

No interface is made; the engine starts the container's process in the host's
namespace, so its sockets compete with the host's for ports, as on Docker.

`ipv6=True` as on Docker, where the host and null networks skip IPAM (libnetwork's
hasSpecialDriver): `--ipv6` is no reason to refuse them (a second host network is
refused for being a second one), and a container here sees whatever IPv6 the host
has, with no address of its own.
"""

from __future__ import annotations

from typing import ClassVar

from emulator.drivers import base as driverapi
from emulator.drivers.null import NullDriver

CAPABILITY = driverapi.Capability(
    uses_ipam=False, shares_host_namespace=True, creates_interface=False,
    provides_gateway=False, only_network="host", ipv6=True)


def register(registrar: driverapi.Registrar) -> None:
    registrar.register("host", lambda ctx: HostDriver(ctx.fabric), CAPABILITY)


class HostDriver(NullDriver):
    name: ClassVar[str] = "host"
