"""Swarm mode of one engine: init, join, leave, and swarm-scoped networks on this node.

Texts and HTTP statuses are dockerd's (daemon/cluster). A node that joins gets a
`docker_gwbridge` bridge (ICC off, masquerading) and the `ingress` overlay; managers
also see every swarm network, workers only those a container of theirs is attached to.
A swarm network has the same ID on every node and takes its addresses from the
swarm's address space, so two containers of the swarm never share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, ip_network

from emulator import errdefs as err
from emulator.cnm.lookup import find
from emulator.cnm.model import Attachment, Container, Network
from emulator.cnm.networks import NetworkRequest, refuse_if_in_use
from emulator.drivers.overlay.driver import NOT_IN_SWARM
from emulator.drivers.overlay.options import parse_options
from emulator.ipam import check_ipam_config
from emulator.swarm.cluster import (
    DEFAULT_ADDR_POOL,
    DEFAULT_DATA_PATH_PORT,
    MANAGER_PORT,
    Swarm,
    SwarmDirectory,
    SwarmNetwork,
    SwarmNode,
    check_data_path_port,
)
from emulator.swarm.controlplane import ControlPlane

WORKER_NOT_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a "
    "manager.")
ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave '
                    "this swarm and join another one.")
NOT_PART_OF_SWARM = "This node is not part of a swarm"
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
    "this message. ")
GWBRIDGE = "docker_gwbridge"
GWBRIDGE_OPTIONS = {
    "com.docker.network.bridge.name": GWBRIDGE,
    "com.docker.network.bridge.enable_icc": "false",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
}
INGRESS = "ingress"
MAX_SUBNET_SIZE = 29


@dataclass(frozen=True)
class _Binding:
    host: str
    vtep: IPv4Address
    data_path_port: int
    control: ControlPlane


def _check_pools(pools: list[str], subnet_size: int) -> tuple[str, ...]:
    """dockerd's validateDefaultAddrPool."""
    if subnet_size > MAX_SUBNET_SIZE:
        raise err.DockerError(f"subnet size is out of range: {subnet_size}")
    for pool in pools:
        try:
            network = ip_network(pool)
        except ValueError as exc:
            raise err.DockerError(f"invalid base pool {pool}: {exc}") from None
        if network.prefixlen > subnet_size:
            raise err.DockerError(
                f'invalid CIDR: "{pool}". Subnet size is too small for pool: {subnet_size}')
    return tuple(pools)


def _not_attachable(name: str) -> err.DockerError:
    return err.DockerError(f"Could not attach to network {name}: rpc error: code = "
                           f"PermissionDenied desc = network {name} not manually attachable")


class SwarmOps:
    """Mixed into Engine: swarm membership and swarm-scoped networks."""

    advertise: IPv4Address | None
    swarm_directory: SwarmDirectory | None
    swarm: Swarm | None
    swarm_node: SwarmNode | None

    # -- membership ----------------------------------------------------------

    def swarm_init(self, advertise_addr: str | None = None, data_path_port: int = 0,
                   default_addr_pool: list[str] | None = None,
                   subnet_size: int = 24) -> str:
        """`docker swarm init`: this node becomes the swarm's first manager; its node ID."""
        with self._lock:
            if self.swarm is not None:
                raise err.Unavailable(ALREADY_IN_SWARM)
            check_data_path_port(data_path_port)
            pools = _check_pools(default_addr_pool or [DEFAULT_ADDR_POOL], subnet_size)
            addr = self._advertise_address(advertise_addr)
            swarm = Swarm(data_path_port or DEFAULT_DATA_PATH_PORT, pools, subnet_size)
            node = swarm.add_node(self.host, "manager", addr)
            self._directory().register(swarm, addr)
            with swarm.lock:
                self._enter_swarm(swarm, node)
                ingress = swarm.allocate_network(INGRESS, {}, {}, False, False, None, None,
                                                 None, {}, ingress=True)
                self._instantiate(ingress)
            return node.node_id

    def swarm_join(self, remote_addrs: list[str], join_token: str,
                   advertise_addr: str | None = None) -> SwarmNode:
        """`docker swarm join --token T MANAGER:2377`."""
        with self._lock:
            if self.swarm is not None:
                raise err.Unavailable(ALREADY_IN_SWARM)
            if not join_token.startswith("SWMTKN-1-"):
                raise err.InvalidParameter("invalid join token")
            swarm = self._find_swarm(remote_addrs)
            role = swarm.role_of_token(join_token)
            if role is None:
                raise err.DockerError("rpc error: code = InvalidArgument desc = A valid join "
                                      "token is necessary to join this cluster")
            addr = self._advertise_address(advertise_addr)
            with swarm.lock:
                node = swarm.add_node(self.host, role, addr)
                if role == "manager":
                    self._directory().register(swarm, addr)
                self._enter_swarm(swarm, node)
                for network in list(swarm.networks.values()):
                    if role == "manager" or network.ingress:
                        self._instantiate(network)
            return node

    def swarm_leave(self, force: bool = False) -> None:
        with self._lock:
            swarm, node = self.swarm, self.swarm_node
            if swarm is None or node is None:
                raise err.Unavailable(NOT_PART_OF_SWARM)
            if node.role == "manager" and not force and len(swarm.managers()) == 1:
                raise err.Unavailable(LAST_MANAGER)
            with swarm.lock:
                for network in [n for n in self.networks.values() if n.scope == "swarm"]:
                    self._drop_local(network)
                del swarm.nodes[self.host]
                swarm.engines.pop(self.host, None)
                self._directory().unregister(node.addr)
                self.swarm = self.swarm_node = None
                self.driver("overlay").bind(None)  # type: ignore[attr-defined]

    def _find_swarm(self, remote_addrs: list[str]) -> Swarm:
        for remote in remote_addrs:
            host, _, _ = remote.rpartition(":") if ":" in remote else (remote, "", "")
            try:
                swarm = self._directory().find(IPv4Address(host))
            except ValueError:
                raise err.InvalidParameter(f"invalid remote address {remote}") from None
            if swarm is not None:
                return swarm
        raise err.DockerError(
            "Timeout was reached before node joined. The attempt to join the swarm will "
            'continue in the background. Use the "docker info" command to see the current '
            "swarm status of your node.")

    def _directory(self) -> SwarmDirectory:
        if self.swarm_directory is None:
            self.swarm_directory = SwarmDirectory()
        return self.swarm_directory

    def _advertise_address(self, text: str | None) -> IPv4Address:
        if text:
            host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
            try:
                return IPv4Address(host)
            except ValueError:
                raise err.InvalidParameter("advertise address must be a non-zero IP address "
                                           "or network interface (with optional port number)"
                                           ) from None
        if self.advertise is None:
            raise err.InvalidParameter("could not choose an IP address to advertise since this "
                                       "system has multiple addresses")
        return self.advertise

    def _enter_swarm(self, swarm: Swarm, node: SwarmNode) -> None:
        self.swarm, self.swarm_node = swarm, node
        swarm.engines[self.host] = self
        self.driver("overlay").bind(  # type: ignore[attr-defined]
            _Binding(self.host, node.addr, swarm.data_path_port, swarm.control))
        if not any(n.name == GWBRIDGE for n in self.networks.values()):
            self._create(NetworkRequest(GWBRIDGE, "bridge", options=GWBRIDGE_OPTIONS),
                         predefined=False)

    # -- swarm-scoped networks -----------------------------------------------

    def _create_swarm_network(self, request: NetworkRequest) -> Network:
        """`docker network create -d overlay` on a manager: allocated swarm-wide, then
        made on every manager (workers make it when a container of theirs needs it)."""
        if self.swarm is None or self.swarm_node is None or self.swarm_node.role != "manager":
            raise err.Forbidden(NOT_IN_SWARM)
        if request.subnet is not None or request.ip_range or request.gateway:
            check_ipam_config(request.subnet, request.ip_range, request.gateway,
                              dict(request.aux_addresses or {}))
        if not request.name:
            raise err.InvalidParameter("invalid name: name is empty")
        swarm = self.swarm
        with swarm.lock:
            taken = [*self.networks.values(), *swarm.networks.values()]
            if any(n.name == request.name for n in taken):
                raise err.Conflict(f"network with name {request.name} already exists")
            parse_options(request.options or {})
            network = swarm.allocate_network(
                request.name, request.options or {}, request.labels or {}, request.internal,
                request.attachable, request.subnet, request.ip_range, request.gateway,
                request.aux_addresses or {})
            try:
                for engine in swarm.engines.values():
                    if engine.swarm_node.role == "manager":
                        engine._instantiate(network)
            except Exception:
                for engine in swarm.engines.values():
                    engine._drop_local_by_id(network.id)
                swarm.release_network(network.id)
                raise
            return self.networks[network.id]

    def _instantiate(self, swarm_net: SwarmNetwork) -> Network:
        """This node's copy of a swarm network (same ID), and its driver's state."""
        assert self.swarm is not None
        return self._copy_shared_network(swarm_net, "overlay", "swarm", self.swarm.addresses,
                                         ingress=swarm_net.ingress)

    def _remove_swarm_network(self, network: Network) -> None:
        """`docker network rm` of a swarm network: from every node, if none uses it."""
        if self.swarm_node is None or self.swarm_node.role != "manager":
            raise err.Unavailable(WORKER_NOT_MANAGER if self.swarm_node else NOT_IN_SWARM)
        if network.ingress:
            raise err.InvalidParameter(
                "rpc error: code = FailedPrecondition desc = ingress network cannot be removed: "
                "this emulator cannot create another one (network create --ingress is not "
                "supported)")
        swarm = self.swarm
        assert swarm is not None
        with swarm.lock:
            for engine in swarm.engines.values():
                if network.id in engine.networks:
                    refuse_if_in_use(engine.networks[network.id])
            for engine in swarm.engines.values():
                engine._drop_local_by_id(network.id)
            swarm.release_network(network.id)

    def _drop_local_by_id(self, network_id: str) -> None:
        network = self.networks.get(network_id)
        if network is not None:
            self._drop_local(network)

    def _drop_local(self, network: Network) -> None:
        for ep in list(network.endpoints.values()):
            container = self.containers.get(ep.container_id)
            if container is not None:
                self._leave(container, network)
                container.attachments.pop(network.id, None)
        self.driver_of(network).delete_network(network.id)
        del self.networks[network.id]

    def _network_for_attach(self, ref: str) -> Network:
        """A network to attach a container to; on a worker, a swarm network it does not
        have yet is made here on first use."""
        try:
            return self.get_network(ref)
        except err.NotFound:
            found = self._global_for_attach(ref)
            if found is not None:
                return found
            swarm = self.swarm
            if swarm is None:
                raise
            with swarm.lock:
                candidates = [n for n in swarm.networks.values() if not n.ingress]
                try:
                    found = find(candidates, ref, lambda n: n.id, lambda n: n.name,
                                 f"network {ref} not found", "network")
                except err.NotFound:
                    raise err.NotFound(f"network {ref} not found") from None
                if not found.attachable:
                    raise _not_attachable(found.name) from None
                return self._instantiate(found)

    def _check_swarm_attach(self, network: Network) -> None:
        if network.scope == "swarm" and (network.ingress or not network.attachable):
            raise _not_attachable(network.name)

    # -- the docker_gwbridge endpoint -------------------------------------------

    def _gateway_bridge_for(self, container: Container) -> None:
        """A container on a non-internal overlay, with no other network offering a
        gateway, reaches the outside through docker_gwbridge (endpoint gateway_<id>)."""
        if not any(self.networks[n].driver == "overlay" and not self.networks[n].internal
                   for n in container.endpoints):
            return
        if any(self._offers_gateway(self.networks[n]) for n in container.endpoints):
            return
        gw = next((n for n in self.networks.values() if n.name == GWBRIDGE), None)
        if gw is None:
            return
        self._join(container, gw, Attachment(gw.id), name=f"gateway_{container.id[:12]}")

    def _drop_gateway_bridge(self, container: Container, offered: bool = False) -> None:
        """Leave docker_gwbridge once the container is on no non-internal overlay, or
        once another network offers it a gateway (`offered`), as libnetwork does."""
        gw = next((n for n in self.networks.values() if n.name == GWBRIDGE), None)
        if gw is None or gw.id not in container.endpoints or gw.id in container.attachments:
            return
        if not offered and any(self.networks[n].driver == "overlay"
                               and not self.networks[n].internal for n in container.endpoints):
            return
        self._leave(container, gw)

    # -- what the Engine API shows ---------------------------------------------

    def swarm_info(self) -> dict[str, object]:
        """The Swarm section of GET /info."""
        swarm, node = self.swarm, self.swarm_node
        if swarm is None or node is None:
            return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                    "ControlAvailable": False, "Error": "", "RemoteManagers": None}
        info: dict[str, object] = {
            "NodeID": node.node_id, "NodeAddr": str(node.addr), "LocalNodeState": "active",
            "ControlAvailable": node.role == "manager", "Error": "",
            "RemoteManagers": [{"NodeID": m.node_id, "Addr": f"{m.addr}:{MANAGER_PORT}"}
                               for m in swarm.managers()],
        }
        if node.role == "manager":
            cluster = {k: v for k, v in self.swarm_inspect().items() if k != "JoinTokens"}
            info.update({"Nodes": len(swarm.nodes), "Managers": len(swarm.managers()),
                         "Cluster": cluster})
        return info

    def _require_manager(self) -> Swarm:
        if self.swarm is None or self.swarm_node is None:
            raise err.Unavailable(NOT_IN_SWARM)
        if self.swarm_node.role != "manager":
            raise err.Unavailable(WORKER_NOT_MANAGER)
        return self.swarm

    def swarm_inspect(self) -> dict[str, object]:
        """GET /swarm."""
        swarm = self._require_manager()
        return {
            "ID": swarm.id, "Version": {"Index": 10}, "CreatedAt": swarm.created,
            "UpdatedAt": swarm.created,
            "Spec": {"Name": "default", "Labels": {}, "Orchestration": {},
                     "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0,
                              "LogEntriesForSlowFollowers": 500, "ElectionTick": 10,
                              "HeartbeatTick": 1},
                     "Dispatcher": {"HeartbeatPeriod": 5000000000},
                     "CAConfig": {"NodeCertExpiry": 7776000000000000},
                     "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": False}},
            "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
            "RootRotationInProgress": False, "DataPathPort": swarm.data_path_port,
            "DefaultAddrPool": list(swarm.default_addr_pool), "SubnetSize": swarm.subnet_size,
            "JoinTokens": {"Worker": swarm.tokens["worker"], "Manager": swarm.tokens["manager"]},
        }

    def swarm_nodes(self) -> list[dict[str, object]]:
        """GET /nodes."""
        swarm = self._require_manager()
        leader = swarm.managers()[0].node_id if swarm.managers() else ""
        nodes = []
        for node in swarm.nodes.values():
            entry: dict[str, object] = {
                "ID": node.node_id, "Version": {"Index": 10}, "CreatedAt": node.created,
                "UpdatedAt": node.created,
                "Spec": {"Labels": {}, "Role": node.role, "Availability": "active"},
                "Description": {"Hostname": node.host, "Platform": {"Architecture": "x86_64",
                                                                    "OS": "linux"},
                                "Engine": {"EngineVersion": "28.2.2"}},
                "Status": {"State": "ready", "Addr": str(node.addr)},
            }
            if node.role == "manager":
                entry["ManagerStatus"] = {"Leader": node.node_id == leader,
                                          "Reachability": "reachable",
                                          "Addr": f"{node.addr}:{MANAGER_PORT}"}
            nodes.append(entry)
        return nodes

