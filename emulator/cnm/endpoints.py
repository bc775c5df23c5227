"""Attaching containers to networks: dockerd's connect rules, endpoints, gateways.

`check_attach` follows dockerd's updateNetworkSettings and
validateEndpointSettings; `join` makes the endpoint through the driver, each
step followed by its undo; `gateway_holder` orders endpoints as libnetwork does
to pick the one that holds the container's default route, and moves it when
that endpoint leaves. A container on a network whose driver reaches the outside
through docker_gwbridge (overlay), or whose plugin's Join named no gateway (and did
not disable the gateway service), gets Docker's `gateway_<id>` endpoint there, as
libnetwork's needDefaultGW/setupDefaultGW give it; docker_gwbridge is made then if
it is not there yet, in or out of swarm mode.
"""

from __future__ import annotations

import errno
import re
import string
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface

from emulator import errdefs as err
from emulator.cnm.dnsnames import serves_names
from emulator.cnm.model import Attachment, Container, Endpoint, Network
from emulator.cnm.state import HostState
from emulator.drivers.base import SWARM, EndpointSpec, PortPublisher, SandboxRef
from emulator.ids import new_id
from emulator.ipam import subnet_warnings
from emulator.ipam.parse import parse_address, parse_prefix
from emulator.swarm.cluster import GWBRIDGE, not_attachable


@dataclass(frozen=True)
class AttachRequest:
    network: str
    ip: str | None = None
    aliases: tuple[str, ...] = ()
    mac: str | None = None
    """--mac-address / EndpointSettings.MacAddress, as the request spelled it."""
    links: tuple[str, ...] = ()
    """EndpointSettings.Links (NAME[:ALIAS]): on a user-defined network, names the
    linking container alone resolves (libnetwork's CreateOptionAlias)."""
    ip6: str | None = None
    """--ip6 / EndpointSettings.IPAMConfig.IPv6Address."""


def parse_mac(text: str) -> str | None:
    """Go's net.ParseMAC for the 48-bit forms an Ethernet interface takes
    (01:23:45:67:89:ab, 01-23-45-67-89-ab, 0123.4567.89ab), in the kernel's spelling;
    None when it is not one."""
    text = text.strip()
    if len(text) == 14 and text.count(".") == 2:
        groups = text.split(".")
        if all(len(g) == 4 for g in groups):
            text = ":".join(g[i:i + 2] for g in groups for i in (0, 2))
    parts = re.split("[:-]", text)
    if len(parts) != 6 or len({c for c in text if c in ":-"}) != 1:
        return None
    if not all(len(p) == 2 and all(c in string.hexdigits for c in p) for p in parts):
        return None
    return ":".join(parts).lower()


def unroutable_gateway(network: Network, subnet: IPv4Network) -> err.DockerError:
    """The kernel refused the default route: say which subnet it cannot route, and why."""
    why = "; ".join(subnet_warnings(subnet)) or f"the kernel cannot route {subnet}"
    return err.DockerError("failed to set gateway: network is unreachable "
                           f"(network {network.name}: {why})")


def _parse_endpoint_ip(text: str, version: int) -> IPv4Address | IPv6Address | None:
    """EndpointIPAMConfig.Validate: an address of the family, not the unspecified one
    (an IPv4-mapped IPv6 address counts as IPv4, as Go's To4 says)."""
    try:
        address = parse_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version != version or address.is_unspecified:
        return None
    return address


def _ipv6_disabled(container: Container) -> bool:
    """`--sysctl net.ipv6.conf.all.disable_ipv6=1`: Docker 28 gives the container no IPv6
    address on any network (daemon/network.go CreateOptionDisableIPv6)."""
    return container.sysctls.get("net.ipv6.conf.all.disable_ipv6") == "1"


def _out_of_range(network: Network, text: str | None, version: int) -> str | None:
    """validateEndpointIPAddress: the address must be in a subnet the user configured
    for its family (a predefined pool, the ULA one too, does not count)."""
    if not text:
        return None
    static = [c for c in network.ipam_config
              if c.get("_user_subnet") and c.get("_version", 4) == version]
    if not static:
        return ("user specified IP address is supported only when connecting to networks "
                "with user configured subnets")
    address = _parse_endpoint_ip(text, version)
    if address is not None and any(address in parse_prefix(str(c["Subnet"])).network
                                   for c in static):
        return None
    return f"no configured subnet or ip-range contain the IP address {text}"


class Endpoints:
    """Joining and leaving networks, for the containers of one host."""

    def __init__(self, state: HostState) -> None:
        self._state = state
        self.before_swarm_join: Callable[[Container, Network], None] | None = None
        """Told when a container joining a swarm network has its address (the node's lb
        sandbox is made then)."""
        self.gateway_bridge: Callable[[], Network] | None = None
        """docker_gwbridge, made on first use (libnetwork's defaultGwNetwork)."""

    def check_attach(self, network: Network, attachments: Mapping[str, Attachment],
                     request: AttachRequest, container_name: str,
                     creating: bool = True) -> None:
        """dockerd's updateNetworkSettings and validateEndpointSettings, in its order."""
        state = self._state
        existing = [state.networks[i] for i in attachments if i in state.networks]
        in_host_ns = state.capability_of(network).shares_host_namespace
        created_in_host_mode = any(state.capability_of(n).shares_host_namespace
                                   for n in existing) or (creating and not existing)
        if in_host_ns and not created_in_host_mode:
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
            if state.capability_of(other).shares_host_namespace:
                raise err.InvalidParameter(
                    "container sharing network namespace with another container or host cannot "
                    "be connected to any other network"
                )
            if "none" in (other.name, network.name):
                raise err.InvalidParameter(
                    "container cannot be connected to multiple networks with one of the networks "
                    "in private (none) mode"
                )
        if request.mac and parse_mac(request.mac) is None:
            raise err.InvalidParameter(f"invalid MAC address {request.mac}")
        problem = self._endpoint_settings_problem(network, request)
        if problem:
            raise err.InvalidParameter(f"invalid endpoint settings:\n{problem}")

    def _endpoint_settings_problem(self, network: Network, request: AttachRequest) -> str | None:
        """Docker 28's validateEndpointSettings: every problem, joined as its multierror
        joins them (one alone as it is, several as "* " lines)."""
        problems = []
        if network.predefined:
            if request.ip or request.ip6:
                problems.append("user specified IP address is supported on user defined "
                                "networks only")
            if request.aliases:
                problems.append("network-scoped alias is supported only for containers in "
                                "user defined networks")
        for text, version in ((request.ip, 4), (request.ip6, 6)):
            if text and _parse_endpoint_ip(text, version) is None:
                problems.append(f"invalid IPv{version} address: {text}")
        if not network.predefined:
            for text, version in ((request.ip, 4), (request.ip6, 6)):
                problem = _out_of_range(network, text, version)
                if problem:
                    problems.append(problem)
        if not problems:
            return None
        if len(problems) == 1:
            return problems[0]
        return "* " + "\n* ".join(problems)

    def join(self, container: Container, network: Network, attachment: Attachment,
             name: str | None = None) -> Endpoint:
        if (network.scope == SWARM and (network.ingress or not network.attachable)
                and not (container.task_id or container.hidden)):
            raise not_attachable(network.name)
        state = self._state
        driver = state.driver_of(network)
        capability = state.capability_of(network)
        space = state.space(network)
        with ExitStack() as undo:
            address = None
            if capability.uses_ipam and network.pool_id is not None:
                try:
                    ip = space.request_address(network.pool_id, attachment.ip)
                except err.Unavailable:
                    raise err.DockerError(
                        "no available IPv4 addresses on this network's address pools: "
                        f"{network.name} ({network.id})"
                    ) from None
                undo.callback(space.release_address, network.pool_id, ip)
                prefix = space.pool(network.pool_id).subnet.prefixlen
                address = IPv4Interface(f"{ip}/{prefix}")
            if network.scope == SWARM and self.before_swarm_join is not None:
                # the swarm allocated the container's address before the node made the
                # network (and its lb-NET sandbox, which takes the next one); the node's
                # own IPv6 pool served the lb-NET sandbox first
                self.before_swarm_join(container, network)
            address6 = None
            if (capability.uses_ipam and network.pool_id6 is not None
                    and not _ipv6_disabled(container)):
                address6 = self._take_ipv6(network, attachment, undo)
            ep = Endpoint(id=new_id(), name=name or container.name, network_id=network.id,
                          container_id=container.id, address=address, mac="",
                          aliases=attachment.aliases, requested_ip=attachment.ip,
                          address6=address6, requested_ip6=attachment.ip6)
            try:
                info = driver.create_endpoint(network.id, EndpointSpec(
                    ep.id, address, parse_mac(attachment.mac) if attachment.mac else None,
                    address6))
            except err.DockerError as exc:
                raise err.DockerError(f"failed to create endpoint {ep.name} on network "
                                      f"{network.name}: {exc.message}") from None
            undo.callback(driver.delete_endpoint, network.id, ep.id)
            ep.mac = info.mac
            ep.address6 = info.address6 or ep.address6
            ifname = None
            if capability.creates_interface:
                ifname = f"eth{container.next_ifindex}"
                container.next_ifindex += 1
            holder = self.gateway_holder(container, extra=network)
            wants = holder is network or (holder is None and not network.internal)
            try:
                joined = driver.join(network.id, ep.id, SandboxRef(
                    container.sandbox, ifname or "", wants_gateway=wants))
            except OSError as exc:
                if exc.errno != errno.ENETUNREACH or address is None:
                    raise
                raise unroutable_gateway(network, address.network) from None
            ep.ifname = joined.ifname
            ep.mac = joined.mac or ep.mac
            ep.needs_gateway_service = joined.needs_gateway_service
            if state.offers_gateway(network):
                if network.pool_id is not None:
                    ep.gateway = space.pool(network.pool_id).gateway
                if network.pool_id6 is not None and ep.address6 is not None:
                    ep.gateway6 = (joined.gateway6
                                   or state.space6(network).pool(network.pool_id6).gateway)
            elif capability.gateway_from_join:
                ep.gateway = joined.gateway
                ep.gateway6 = joined.gateway6
            undo.pop_all()
        container.endpoints[network.id] = ep
        network.endpoints[ep.id] = ep
        if state.dns is not None and name is None and serves_names(network):
            state.dns.serve(container, container.dns.servers,
                            any(o.startswith("ndots:") for o in container.dns.options))
        if holder is network and (ep.gateway is not None or ep.gateway6 is not None):
            container.gateway_network = network.id
        if name is None and not container.hidden:
            state.events.network(network, "connect", container=container.id)
        if self._needs_gateway_service(network, ep):
            self._gateway_bridge_for(container)
        elif self._gives_gateway(network, ep):
            self._drop_gateway_bridge(container, offered=True)
        return ep

    def _take_ipv6(self, network: Network, attachment: Attachment,
                   undo: ExitStack) -> IPv6Interface:
        """The endpoint's IPv6 address: --ip6, else the lowest free of the IPv6 pool."""
        assert network.pool_id6 is not None
        space = self._state.space6(network)
        try:
            ip = space.request_address(network.pool_id6, attachment.ip6)
        except err.Unavailable:
            raise err.DockerError(
                "no available IPv6 addresses on this network's address pools: "
                f"{network.name} ({network.id})") from None
        undo.callback(space.release_address, network.pool_id6, ip)
        prefix = space.pool(network.pool_id6).subnet.prefixlen
        return IPv6Interface(f"{ip}/{prefix}")

    def gateway_holder(self, container: Container, extra: Network | None = None,
                       without: str | None = None) -> Network | None:
        """libnetwork's Endpoint ordering: a network that offers a gateway, internal ones
        last, docker_gwbridge after all, then by name; its endpoint holds the
        container's default route. A network joining now whose gateway only its join
        tells (a plugin's) is ranked as if it offered one."""
        candidates = [self._state.networks[i] for i in container.endpoints if i != without]
        if extra is not None:
            candidates.append(extra)

        def offers(network: Network) -> bool:
            ep = container.endpoints.get(network.id)
            if ep is not None and network is not extra:
                return self._gives_gateway(network, ep) or (
                    network.name == GWBRIDGE and self._state.offers_gateway(network))
            return self._state.offers_gateway(network) or (
                self._state.capability_of(network).gateway_from_join and not network.internal)

        offering = [n for n in candidates if offers(n)]
        return min(offering, key=lambda n: (n.name == GWBRIDGE, n.name), default=None)

    def _gives_gateway(self, network: Network, ep: Endpoint) -> bool:
        """The endpoint offers the container a gateway: its network's (bridge, macvlan)
        or the one its plugin's Join named; docker_gwbridge's is the last resort."""
        if network.internal or network.name == GWBRIDGE:
            return False
        return self._state.offers_gateway(network) or ep.gateway is not None

    def _move_gateway(self, container: Container, leaving: str) -> None:
        """After `leaving` goes, hand the default route to the next network in line."""
        if container.gateway_network != leaving or container.sandbox is None:
            return
        holder = self.gateway_holder(container, without=leaving)
        container.gateway_network = holder.id if holder else None
        ep = container.endpoints.get(holder.id) if holder is not None else None
        if ep is not None and ep.gateway is not None:
            self._state.fabric.set_default_route(container.sandbox, ep.gateway)

    def publish_ports(self, container: Container) -> None:
        """Program the container's ports on the endpoint that holds its default route,
        if that endpoint's driver publishes ports, and on no other (libnetwork moves them
        with the gateway); none for a container that asks for none."""
        state = self._state
        ports = container.ports
        if not (ports.requested() or ports.exposed):
            return
        holder = container.gateway_network
        for net_id, ep in container.endpoints.items():
            if net_id != holder and ep.published is not None:
                self._unpublish(state.networks[net_id], ep)
        if holder is None or holder not in container.endpoints:
            return
        network = state.networks[holder]
        driver = state.driver_of(network)
        ep = container.endpoints[holder]
        if ep.published is not None or not isinstance(driver, PortPublisher):
            return
        try:
            ep.published = driver.publish(network.id, ep.id, ports.requested())
        except err.DockerError as exc:
            raise err.DockerError(
                "failed to set up container networking: driver failed programming external "
                f"connectivity on endpoint {ep.name} ({ep.id}): {exc.message}") from None

    def _unpublish(self, network: Network, ep: Endpoint) -> None:
        driver = self._state.driver_of(network)
        if ep.published is not None and isinstance(driver, PortPublisher):
            driver.unpublish(network.id, ep.id)
        ep.published = None

    def leave(self, container: Container, network: Network) -> None:
        ep = container.endpoints.pop(network.id, None)
        if ep is None:
            return
        self._unpublish(network, ep)
        if container.sandbox is not None and container.running:
            self._move_gateway(container, network.id)
        state = self._state
        driver = state.driver_of(network)
        driver.leave(network.id, ep.id)
        driver.delete_endpoint(network.id, ep.id)
        network.endpoints.pop(ep.id, None)
        if ep.address is not None and network.pool_id is not None:
            state.space(network).release_address(network.pool_id, ep.address.ip)
        if ep.address6 is not None and network.pool_id6 is not None:
            state.space6(network).release_address(network.pool_id6, ep.address6.ip)
        if ep.name == container.name and not container.hidden:
            state.events.network(network, "disconnect", container=container.id)
        if self._needs_gateway_service(network, ep):
            self._drop_gateway_bridge(container)
        elif container.running and self._gives_gateway(network, ep):
            self._gateway_bridge_for(container)

    def leave_all(self, network: Network) -> None:
        """Take every container of this host off `network` (it is going away)."""
        for ep in list(network.endpoints.values()):
            container = self._state.containers.get(ep.container_id)
            if container is not None:
                self.leave(container, network)
                container.attachments.pop(network.id, None)

    # -- the docker_gwbridge endpoint -------------------------------------------

    def _needs_gateway_service(self, network: Network, ep: Endpoint) -> bool:
        """libnetwork's needDefaultGW for one endpoint: its driver reaches the outside
        through docker_gwbridge (overlay), or its join gave no gateway and did not
        disable the gateway service (a plugin's); never on an internal network."""
        if network.internal or network.name == GWBRIDGE:
            return False
        return (self._state.capability_of(network).reaches_outside_via_gwbridge
                or ep.needs_gateway_service)

    def _via_gwbridge(self, container: Container) -> bool:
        if not container.gateway_bridge:
            return False
        return any(self._needs_gateway_service(self._state.networks[n], ep)
                   for n, ep in container.endpoints.items())

    def _gateway_bridge_for(self, container: Container) -> None:
        """A container on a non-internal overlay, with no other network offering a
        gateway, reaches the outside through docker_gwbridge (endpoint gateway_<id>)."""
        if not self._via_gwbridge(container):
            return
        if any(self._gives_gateway(self._state.networks[n], ep)
               for n, ep in container.endpoints.items()):
            return
        gw = next((n for n in self._state.networks.values() if n.name == GWBRIDGE), None)
        if gw is None and self.gateway_bridge is not None:
            gw = self.gateway_bridge()
        if gw is None or gw.id in container.endpoints:
            return
        self.join(container, gw, Attachment(gw.id), name=f"gateway_{container.id[:12]}")

    def _drop_gateway_bridge(self, container: Container, offered: bool = False) -> None:
        """Leave docker_gwbridge once the container is on no non-internal overlay, or
        once another network offers it a gateway (`offered`), as libnetwork does."""
        gw = next((n for n in self._state.networks.values() if n.name == GWBRIDGE), None)
        if gw is None or gw.id not in container.endpoints or gw.id in container.attachments:
            return
        if not offered and self._via_gwbridge(container):
            return
        self.leave(container, gw)
