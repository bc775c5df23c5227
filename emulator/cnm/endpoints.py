"""Attaching containers to networks: dockerd's connect rules, endpoints, gateways.

`_check_attach` follows dockerd's updateNetworkSettings and
validateEndpointSettings; `_join` makes the endpoint through the driver;
`_gateway_holder` orders endpoints as libnetwork does to pick the one that holds
the container's default route, and moves it when that endpoint leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, ip_address

from emulator import errdefs as err
from emulator.cnm.model import Attachment, Container, Endpoint, Network
from emulator.drivers.base import EndpointSpec, SandboxRef
from emulator.ids import new_id

GWBRIDGE = "docker_gwbridge"


@dataclass(frozen=True)
class AttachRequest:
    network: str
    ip: str | None = None
    aliases: tuple[str, ...] = ()



class EndpointOps:
    """Mixed into Engine: joining and leaving networks."""

    def _check_attach(self, network: Network, attachments: Mapping[str, Attachment],
                      request: AttachRequest, container_name: str,
                      creating: bool = True) -> None:
        """dockerd's updateNetworkSettings and validateEndpointSettings, in its order."""
        existing = [self.networks[i] for i in attachments if i in self.networks]
        created_in_host_mode = any(n.driver == "host" for n in existing) or (
            creating and not existing)
        if network.driver == "host" and not created_in_host_mode:
            raise err.InvalidParameter(
                "cannot connect container to host network - container must be created in host "
                "network mode"
            )
        for other in existing:
            if other.id == network.id:
                raise err.Forbidden(
                    f"endpoint with name {container_name} already exists in network "
                    f"{network.name}"
                )
            if other.driver == "host":
                raise err.InvalidParameter(
                    "container sharing network namespace with another container or host cannot "
                    "be connected to any other network"
                )
            if "none" in (other.name, network.name):
                raise err.InvalidParameter(
                    "container cannot be connected to multiple networks with one of the networks "
                    "in private (none) mode"
                )
        problem = self._endpoint_settings_problem(network, request)
        if problem:
            raise err.InvalidParameter(f"invalid endpoint settings:\n{problem}")

    def _endpoint_settings_problem(self, network: Network, request: AttachRequest) -> str | None:
        if request.ip is None:
            if request.aliases and network.predefined:
                return ("network-scoped alias is supported only for containers in user defined "
                        "networks")
            return None
        if network.predefined:
            return "user specified IP address is supported on user defined networks only"
        if not network.ipam_config or not network.ipam_config[0].get("_user_subnet"):
            return ("user specified IP address is supported only when connecting to networks "
                    "with user configured subnets")
        try:
            ip = ip_address(request.ip)
        except ValueError:
            return f"invalid IPv4 address: {request.ip}"
        subnet = self._space(network).pool(network.pool_id).subnet if network.pool_id else None
        if not isinstance(ip, IPv4Address) or subnet is None or ip not in subnet:
            return f"no configured subnet or ip-range contain the IP address {request.ip}"
        return None

    def _join(self, container: Container, network: Network, attachment: Attachment,
              name: str | None = None) -> Endpoint:
        if network.scope == "swarm":
            self._check_swarm_attach(network)
        driver = self.driver_of(network)
        address = None
        if driver.uses_ipam and network.pool_id is not None:
            try:
                ip = self._space(network).request_address(network.pool_id, attachment.ip)
            except err.Unavailable:
                raise err.DockerError(
                    "no available IPv4 addresses on this network's address pools: "
                    f"{network.name} ({network.id})"
                ) from None
            prefix = self._space(network).pool(network.pool_id).subnet.prefixlen
            address = IPv4Interface(f"{ip}/{prefix}")
        ep = Endpoint(id=new_id(), name=name or container.name, network_id=network.id,
                      container_id=container.id, address=address, mac="",
                      aliases=attachment.aliases, requested_ip=attachment.ip)
        try:
            try:
                info = driver.create_endpoint(network.id, EndpointSpec(ep.id, address))
            except err.DockerError as exc:
                raise err.DockerError(f"failed to create endpoint {ep.name} on network "
                                      f"{network.name}: {exc.message}") from None
            ep.mac = info.mac
            try:
                ifname = None
                if not driver.shares_host_namespace and driver.name != "null":
                    ifname = f"eth{container.next_ifindex}"
                    container.next_ifindex += 1
                holder = self._gateway_holder(container, extra=network)
                wants = holder is network or (holder is None and not network.internal)
                joined = driver.join(network.id, ep.id, SandboxRef(
                    container.sandbox, ifname or "", wants_gateway=wants))
                ep.ifname = joined.ifname
                ep.mac = joined.mac or ep.mac
                if self._offers_gateway(network):
                    ep.gateway = self._space(network).pool(network.pool_id).gateway
            except Exception:
                driver.delete_endpoint(network.id, ep.id)
                raise
        except Exception:
            if address is not None:
                self._space(network).release_address(network.pool_id, address.ip)
            raise
        container.endpoints[network.id] = ep
        network.endpoints[ep.id] = ep
        if holder is network:
            container.gateway_network = network.id
        if network.driver == "overlay" and not network.internal:
            self._gateway_bridge_for(container)
        elif self._offers_gateway(network) and network.name != GWBRIDGE:
            self._drop_gateway_bridge(container, offered=True)
        return ep

    def _space(self, network: Network):
        """The address space a network's pool lives in: the swarm's for swarm networks."""
        return network.address_space or self.addresses

    def _offers_gateway(self, network: Network) -> bool:
        driver = self.driver_of(network)
        return (not network.internal and driver.uses_ipam and network.pool_id is not None
                and getattr(driver, "provides_gateway", True))

    def _gateway_holder(self, container: Container, extra: Network | None = None,
                        without: str | None = None) -> Network | None:
        """libnetwork's Endpoint ordering: a network that offers a gateway, internal ones
        last, then by name; its endpoint holds the container's default route."""
        candidates = [self.networks[i] for i in container.endpoints if i != without]
        if extra is not None:
            candidates.append(extra)
        offering = [n for n in candidates if self._offers_gateway(n)]
        return min(offering, key=lambda n: n.name, default=None)

    def _move_gateway(self, container: Container, leaving: str) -> None:
        """After `leaving` goes, hand the default route to the next network in line."""
        if container.gateway_network != leaving or container.sandbox is None:
            return
        holder = self._gateway_holder(container, without=leaving)
        container.gateway_network = holder.id if holder else None
        if holder is not None and holder.pool_id is not None:
            self.fabric.set_default_route(container.sandbox,
                                          self._space(holder).pool(holder.pool_id).gateway)

    def _leave(self, container: Container, network: Network) -> None:
        ep = container.endpoints.pop(network.id, None)
        if ep is None:
            return
        if container.sandbox is not None and container.running:
            self._move_gateway(container, network.id)
        driver = self.driver_of(network)
        driver.leave(network.id, ep.id)
        driver.delete_endpoint(network.id, ep.id)
        network.endpoints.pop(ep.id, None)
        if ep.address is not None and network.pool_id is not None:
            self._space(network).release_address(network.pool_id, ep.address.ip)
        if network.driver == "overlay":
            self._drop_gateway_bridge(container)
        elif container.running and self._offers_gateway(network) and network.name != GWBRIDGE:
            self._gateway_bridge_for(container)

