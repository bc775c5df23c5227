"""One swarm: its nodes, join tokens, swarm-scoped networks, VNIs and address pool.

The swarm's state is what Docker keeps in the managers' Raft store; here it is one
object shared by the emulated hosts of a lab. A network created on a manager is
allocated here (subnet from the default address pool, a VXLAN ID from 4096 up) and
instantiated on every node's engine, with the same ID everywhere; addresses on it
are handed out here too, so no two containers of the swarm get the same one.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address
from typing import Any

from emulator import errdefs as err
from emulator.ids import base36_id, docker_timestamp
from emulator.ipam import AddressSpace
from emulator.ipam.pools import PoolSpec
from emulator.swarm.controlplane import ControlPlane
from emulator.swarm.services import ServiceStore
from emulator.swarm.shared import SharedNetwork
from emulator.swarm.vni import FIRST_SWARM_VNI, MAX_VNI, VNI_LIST, parse_vni_list

DEFAULT_ADDR_POOL = "10.0.0.0/8"
DEFAULT_SUBNET_SIZE = 24
DEFAULT_DATA_PATH_PORT = 4789
MIN_DATA_PATH_PORT, MAX_DATA_PATH_PORT = 1024, 49151
MANAGER_PORT = 2377
GWBRIDGE = "docker_gwbridge"
GWBRIDGE_OPTIONS = {
    "com.docker.network.bridge.name": GWBRIDGE,
    "com.docker.network.bridge.enable_icc": "false",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
}
INGRESS = "ingress"
NodeAddress = IPv4Address | IPv6Address
"""A node's advertised address: its VTEP too, so overlay VXLAN runs over its family."""

NOT_IN_SWARM = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm "
                "join\" to connect this node to swarm and try again.")


@dataclass
class SwarmNode:
    host: str
    node_id: str
    role: str
    addr: NodeAddress
    created: str = field(default_factory=docker_timestamp)


@dataclass(frozen=True)
class SwarmBinding:
    """What a swarm-scoped driver is told of the swarm its host is in."""

    host: str
    vtep: NodeAddress
    data_path_port: int
    control: ControlPlane


class Swarm:
    def __init__(self, data_path_port: int = DEFAULT_DATA_PATH_PORT,
                 default_addr_pool: tuple[str, ...] = (DEFAULT_ADDR_POOL,),
                 subnet_size: int = DEFAULT_SUBNET_SIZE) -> None:
        self.id = base36_id(25)
        self.created = docker_timestamp()
        self.data_path_port = data_path_port
        self.default_addr_pool = default_addr_pool
        self.subnet_size = subnet_size
        ca_digest = base36_id(50)
        self.tokens = {role: f"SWMTKN-1-{ca_digest}-{base36_id(25)}"
                       for role in ("worker", "manager")}
        self.nodes: dict[str, SwarmNode] = {}
        self.networks: dict[str, SharedNetwork] = {}
        self.addresses = AddressSpace(
            "GlobalDefault", [PoolSpec.parse(p, subnet_size) for p in default_addr_pool],
            serial=True)
        self.control = ControlPlane()
        self.services = ServiceStore()
        self.orchestrator: Any = None
        """The services' orchestrator (emulator.cnm.services), made with the first service."""
        self.engines: dict[str, Any] = {}
        self.lock = threading.RLock()

    # -- membership ----------------------------------------------------------

    def add_node(self, host: str, role: str, addr: NodeAddress) -> SwarmNode:
        others = [n for n in self.nodes.values() if n.host != host]
        if others and others[0].addr.version != addr.version:
            first = others[0]
            raise err.InvalidParameter(
                f"advertise address {addr} is IPv{addr.version} but this swarm's nodes "
                f"advertise IPv{first.addr.version} ({first.addr} on {first.host}): the "
                "emulator's overlay runs VXLAN between nodes of one address family; "
                f"advertise an IPv{first.addr.version} address")
        node = SwarmNode(host, base36_id(25), role, addr)
        self.nodes[host] = node
        return node

    def role_of_token(self, token: str) -> str | None:
        for role, known in self.tokens.items():
            if secrets.compare_digest(known, token):
                return role
        return None

    def managers(self) -> list[SwarmNode]:
        return [n for n in self.nodes.values() if n.role == "manager"]

    # -- networks ------------------------------------------------------------

    def allocate_network(self, name: str, driver: str, options: Mapping[str, str],
                         labels: Mapping[str, str], internal: bool, attachable: bool,
                         subnet: str | None, ip_range: str | None, gateway: str | None,
                         aux: Mapping[str, str], ingress: bool = False,
                         enable_ipv6: bool = False) -> SharedNetwork:
        """Subnet and VNI for a new swarm-scoped network; nothing is made on a host yet.
        The subnet is IPv4: as in Docker 28 (libnetwork/cnmallocator allocatePools asks
        the IPAM for no IPv6 pool), IPv6 comes from each node (cnm.networks.adopt)."""
        options = dict(options)
        if options.get(VNI_LIST):
            vni = parse_vni_list(options[VNI_LIST])[0]
            if vni in self._vnis():
                raise err.DockerError(f"VXLAN ID {vni} is already in use")
        else:
            vni = next(v for v in range(FIRST_SWARM_VNI, MAX_VNI + 1) if v not in self._vnis())
            options[VNI_LIST] = str(vni)
        pool = self.addresses.request_pool(subnet=subnet, ip_range=ip_range, gateway=gateway,
                                           aux_addresses=dict(aux))
        network = SharedNetwork(base36_id(25), name, driver, options, dict(labels), internal,
                                attachable, pool.id, ingress, enable_ipv6=enable_ipv6)
        self.networks[network.id] = network
        return network

    def release_network(self, network_id: str) -> None:
        network = self.networks.pop(network_id, None)
        if network is not None:
            self.addresses.release_pool(network.pool_id)
            self.control.forget_network(network_id)

    def _vnis(self) -> set[int]:
        return {parse_vni_list(n.options[VNI_LIST])[0] for n in self.networks.values()}

    def subnet_of(self, network: SharedNetwork) -> IPv4Network:
        return self.addresses.pool(network.pool_id).subnet


def check_data_path_port(port: int) -> None:
    """dockerd's validateDataPathPort (0 means the default, 4789)."""
    if port != 0 and not MIN_DATA_PATH_PORT <= port <= MAX_DATA_PATH_PORT:
        raise err.DockerError(
            f"Datapath port number is not in valid range ({MIN_DATA_PATH_PORT}-"
            f"{MAX_DATA_PATH_PORT}) : {port}")


class SwarmDirectory:
    """Where a joining host finds a swarm: by the address of one of its managers.
    One per lab; it stands in for the managers' listening port 2377."""

    def __init__(self) -> None:
        self._by_addr: dict[NodeAddress, Swarm] = {}
        self._host_addresses: dict[NodeAddress, tuple[NodeAddress, ...]] = {}
        self.lock = threading.RLock()

    def add_host(self, *addresses: NodeAddress) -> None:
        """Addresses of one host: a manager listens on all of them (dockerd's default
        --listen-addr 0.0.0.0:2377 takes IPv4 and IPv6), so a join through any of them
        finds the swarm the host advertised another of them to."""
        for address in addresses:
            self._host_addresses[address] = addresses

    def register(self, swarm: Swarm, addr: NodeAddress) -> None:
        self._by_addr[addr] = swarm

    def unregister(self, addr: NodeAddress) -> None:
        self._by_addr.pop(addr, None)

    def find(self, addr: NodeAddress) -> Swarm | None:
        for candidate in self._host_addresses.get(addr, (addr,)):
            if candidate in self._by_addr:
                return self._by_addr[candidate]
        return None


def parse_node_address(text: str) -> NodeAddress:
    """The address in `ADDR`, `ADDR:PORT`, `[IPv6]` or `[IPv6]:PORT` (Go's SplitHostPort,
    falling back to the whole text as dockerd does); ValueError when it is none."""
    host = text
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            raise ValueError(text)
    elif text.count(":") == 1:
        host = text.split(":", 1)[0]
    address = ip_address(host)
    if address.is_unspecified:
        raise ValueError(text)
    return address


def host_port(address: NodeAddress, port: int) -> str:
    """Go's net.JoinHostPort: `[IPv6]:port` for IPv6."""
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def not_attachable(name: str) -> err.DockerError:
    """What a swarm manager answers to attaching a container to a network that is not
    manually attachable (or is the ingress network)."""
    return err.DockerError(f"Could not attach to network {name}: rpc error: code = "
                       f"PermissionDenied desc = network {name} not manually attachable")
