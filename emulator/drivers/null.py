"""The `null` driver (network `none`): a sandbox with only `lo`.

The smallest complete driver, as in libnetwork: every operation succeeds and
touches nothing, because the engine already gave the sandbox its namespace.
`ipv6=True`: as on Docker (no IPAM for it), `--ipv6` changes nothing here; the
sandbox has only `lo`.
"""

from __future__ import annotations

from typing import ClassVar

from emulator.drivers import base as driverapi
from emulator.errdefs import Forbidden
from emulator.fabric.base import HostFabric

CAPABILITY = driverapi.Capability(
    uses_ipam=False, creates_interface=False, provides_gateway=False, only_network="none",
    ipv6=True)


def register(registrar: driverapi.Registrar) -> None:
    registrar.register("null", lambda ctx: NullDriver(ctx.fabric), CAPABILITY)


class NullDriver:
    name: ClassVar[str] = "null"

    def __init__(self, fabric: HostFabric) -> None:
        self._fabric = fabric
        self._network: str | None = None

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        if self._network is not None:
            raise Forbidden(f'only one instance of "{self.name}" network is allowed')

    def create_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        self.validate_network(net, ipam)
        self._network = net.id

    def delete_network(self, net_id: str) -> None:
        if self._network == net_id:
            self._network = None

    def network_options(self, net_id: str) -> dict[str, str]:
        return {}

    def create_endpoint(self, net_id: str, ep: driverapi.EndpointSpec) -> driverapi.EndpointInfo:
        return driverapi.EndpointInfo(mac="", address=None)

    def delete_endpoint(self, net_id: str, ep_id: str) -> None:
        return None

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        return driverapi.JoinInfo(ifname=None)

    def leave(self, net_id: str, ep_id: str) -> None:
        return None

    def check(self, net_id: str, ep_id: str) -> list[str]:
        return []
