"""The record a driver keeps of its networks and their endpoints, written once.

bridge, macvlan, overlay and the remote driver each keep a table of their networks
on this host, each network with its endpoints, and answer the engine from it in the
same way: an unknown network is NotFound, deleting or leaving what is already gone
succeeds (CNI's DEL), and a network's endpoints are released before it goes.
`NetworkBookkeeping` does that once, as containerlab's default node does for its
kinds; a driver says only what differs: how an endpoint is made (`_new_endpoint`)
and released (`_release`), what a network leaves behind (`_retire`), and what it
checks (`_check_network`, `_check_endpoint`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import Any, Generic, TypeVar

from emulator.drivers.base import EndpointInfo, EndpointSpec, NetworkSpec, SandboxRef
from emulator.errdefs import NotFound
from emulator.fabric.base import HostFabric, SandboxHandle


@dataclass
class Endpoint:
    """An endpoint as a driver records it; joined while `sandbox` is set."""

    id: str
    mac: str
    address: IPv4Interface | None
    sandbox: SandboxHandle | None = None
    ifname: str | None = None


E = TypeVar("E", bound=Endpoint)


@dataclass
class Network(Generic[E]):
    """A network as a driver records it, with its endpoints on this host."""

    spec: NetworkSpec
    gateway: IPv4Address | None
    endpoints: dict[str, E] = field(default_factory=dict)


N = TypeVar("N", bound=Network[Any])


class NetworkBookkeeping(ABC, Generic[N, E]):
    """The `Driver` operations that are the same for every driver keeping a record;
    a driver implements the rest of `Driver` and the hooks below."""

    name: str

    def __init__(self, fabric: HostFabric) -> None:
        self._fabric = fabric
        self._networks: dict[str, N] = {}

    def _net(self, net_id: str) -> N:
        try:
            return self._networks[net_id]
        except KeyError:
            raise NotFound(f"network {net_id} not found") from None

    def network_options(self, net_id: str) -> dict[str, str]:
        return dict(self._net(net_id).spec.options)

    def delete_network(self, net_id: str) -> None:
        network = self._networks.pop(net_id, None)
        if network is None:
            return
        for ep in list(network.endpoints.values()):
            self._discard(network, ep)
        self._retire(network)

    def _discard(self, network: N, ep: E) -> None:
        """Take away an endpoint still on a network that is being deleted."""
        self._release(network, ep)

    def _retire(self, network: N) -> None:
        """Remove what the network made on this host, once its endpoints are gone."""

    def create_endpoint(self, net_id: str, ep: EndpointSpec) -> EndpointInfo:
        network = self._net(net_id)
        endpoint = self._new_endpoint(network, ep)
        network.endpoints[ep.id] = endpoint
        return EndpointInfo(mac=endpoint.mac, address=endpoint.address)

    @abstractmethod
    def _new_endpoint(self, network: N, ep: EndpointSpec) -> E:
        """The endpoint's record, and whatever the driver makes for it before a join."""

    def delete_endpoint(self, net_id: str, ep_id: str) -> None:
        self._forget_endpoint(net_id, ep_id)

    def _forget_endpoint(self, net_id: str, ep_id: str) -> E | None:
        """Drop an endpoint from the record, released first; None if it was unknown."""
        network = self._networks.get(net_id)
        if network is None:
            return None
        ep = network.endpoints.pop(ep_id, None)
        if ep is not None:
            self._release(network, ep)
        return ep

    def leave(self, net_id: str, ep_id: str) -> None:
        network = self._networks.get(net_id)
        if network is not None and ep_id in network.endpoints:
            self._release(network, network.endpoints[ep_id])

    @abstractmethod
    def _release(self, network: N, ep: E) -> None:
        """Undo the endpoint's join, if it is joined, and record it as left."""

    def _gateway(self, network: N, sandbox: SandboxRef) -> IPv4Address | None:
        """The default gateway a joining container gets from this network, if any."""
        if sandbox.wants_gateway and not network.spec.internal:
            return network.gateway
        return None

    def check(self, net_id: str, ep_id: str) -> list[str]:
        network = self._networks.get(net_id)
        if network is None:
            return [self._unknown(f"network {net_id}")]
        problems = self._check_network(network)
        ep = network.endpoints.get(ep_id)
        if ep is None:
            return problems + [self._unknown(f"endpoint {ep_id}")]
        return problems + self._check_endpoint(network, ep)

    def _unknown(self, what: str) -> str:
        return f"{what} is unknown to the {self.name} driver"

    def _check_network(self, network: N) -> list[str]:
        return []

    def _check_endpoint(self, network: N, ep: E) -> list[str]:
        if ep.sandbox is not None and ep.ifname not in self._fabric.sandbox_links(ep.sandbox):
            return [f"interface {ep.ifname} is missing from the sandbox"]
        return []
