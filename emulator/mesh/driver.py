"""The network driver: Docker's remote driver calls, the daemon's state, and the
forwarding database derived from it.

State of one daemon:
  networks   created here by CreateNetwork (each has a bridge and a VXLAN)
  endpoints  made here by CreateEndpoint; a joined one has a veth and is announced
  remote     endpoints of other peers, as each peer announced them; kept for networks
             not (yet) created here, applied when they are

Everything is guarded by one lock, shared with the router, so a plugin call and a
gossip message never interleave. Every change ends in `_reconcile`, which computes
the VXLAN forwarding entries the state calls for and lets the data plane apply the
difference.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address

from emulator.mesh import iproute
from emulator.mesh.dataplane import (
    ZERO_MAC,
    DataPlane,
    FdbEntry,
    bridge_name,
    veth_names,
    vni_of,
    vxlan_name,
)
from emulator.mesh.gossip import Router
from emulator.pluginhttp import CallFailed

GENERIC = "com.docker.network.generic"
MTU_OPTIONS = ("com.docker.network.driver.mtu", "mtu")
ID = re.compile(r"^[0-9A-Za-z]+$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

log = logging.getLogger("mesh.driver")


class PluginError(CallFailed):
    """Answered to the engine as {"Err": message}."""


@dataclass
class Network:
    id: str
    vni: int
    mtu: int
    pool: str = ""
    gateway: str = ""


@dataclass
class Endpoint:
    network: str
    id: str
    mac: str
    ip: str = ""
    ifname: str = ""  # the container end of the veth while joined

    @property
    def joined(self) -> bool:
        return bool(self.ifname)


@dataclass(frozen=True)
class Record:
    """An endpoint of another peer."""

    peer: str
    network: str
    endpoint: str
    mac: str
    ip: str = ""


def _id(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not ID.match(value):
        raise PluginError(f"mesh: {key} must be a non-empty alphanumeric id, not {value!r}")
    return value


def _mac(value: object) -> str:
    text = str(value or "").strip().lower()
    if text and not MAC.match(text):
        raise PluginError(f"mesh: invalid MAC address {value!r}")
    return text


def random_mac() -> str:
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02  # unicast, locally administered
    return ":".join(f"{b:02x}" for b in raw)


class MeshDriver:
    def __init__(self, address: str, dataplane: DataPlane, lock: threading.RLock,
                 mtu: int) -> None:
        self.address = address
        self.dataplane = dataplane
        self.lock = lock
        self.default_mtu = mtu
        self.networks: dict[str, Network] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.remote: dict[str, dict[tuple[str, str], Record]] = {}
        self.router: Router | None = None
        self.stopping = False

    def routes(self) -> dict[str, Callable[[dict], dict]]:
        """The plugin's calls by path. Each runs under the lock, and none once the daemon
        is stopping (a kept-alive connection could still send one)."""
        table: dict[str, Callable[[dict], dict]] = {
            "/Plugin.Activate": lambda body: {"Implements": ["NetworkDriver"]},
            "/NetworkDriver.GetCapabilities":
                lambda body: {"Scope": "global", "ConnectivityScope": "global"},
            "/NetworkDriver.CreateNetwork": self.create_network,
            "/NetworkDriver.DeleteNetwork": self.delete_network,
            "/NetworkDriver.CreateEndpoint": self.create_endpoint,
            "/NetworkDriver.EndpointOperInfo": self.endpoint_oper_info,
            "/NetworkDriver.DeleteEndpoint": self.delete_endpoint,
            "/NetworkDriver.Join": self.join,
            "/NetworkDriver.Leave": self.leave,
            "/NetworkDriver.DiscoverNew": lambda body: {},
            "/NetworkDriver.DiscoverDelete": lambda body: {},
        }
        return {path: self._guarded(call) for path, call in table.items()}

    def _guarded(self, call: Callable[[dict], dict]) -> Callable[[dict], dict]:
        def guarded(body: dict) -> dict:
            with self.lock:
                if self.stopping:
                    raise PluginError("mesh: the plugin is stopping")
                return call(body)
        return guarded

    # -- networks -------------------------------------------------------------

    def create_network(self, body: dict) -> dict:
        net_id = _id(body, "NetworkID")
        options = body.get("Options") or {}
        generic = options.get(GENERIC) if isinstance(options, dict) else None
        mtu = self.default_mtu
        for key in MTU_OPTIONS:
            if isinstance(generic, dict) and generic.get(key) not in (None, ""):
                try:
                    mtu = int(generic[key])
                except (TypeError, ValueError):
                    raise PluginError(f"mesh: invalid MTU {generic[key]!r}") from None
                if not 68 <= mtu <= self.default_mtu:
                    raise PluginError(f"mesh: MTU {mtu} out of range: 68 to {self.default_mtu} "
                                      "(the underlay's MTU less 50 bytes of VXLAN)")
        if body.get("IPv6Data"):
            raise PluginError("mesh: IPv6 networks are not supported by this plugin (its "
                              "peer records and VXLAN forwarding are IPv4 only): create the "
                              "network without --ipv6")
        pool = gateway = ""
        ipv4 = body.get("IPv4Data") or []
        if isinstance(ipv4, list) and ipv4 and isinstance(ipv4[0], dict):
            pool, gateway = str(ipv4[0].get("Pool") or ""), str(ipv4[0].get("Gateway") or "")
        with self.lock:
            for other in self.networks.values():
                if other.id == net_id:
                    continue
                if bridge_name(other.id) == bridge_name(net_id) or other.vni == vni_of(net_id):
                    raise PluginError(f"mesh: network {net_id[:12]} clashes with network "
                                      f"{other.id[:12]} (same bridge name or VNI)")
            network = Network(net_id, vni_of(net_id), mtu, pool, gateway)
            try:
                self.dataplane.create_network(net_id, mtu)
            except iproute.IprouteError as exc:
                raise PluginError(f"mesh: cannot create network {net_id[:12]}: {exc}") from None
            self.networks[net_id] = network
            log.info("network %s: bridge %s, VXLAN %s VNI %d, MTU %d", net_id[:12],
                     bridge_name(net_id), vxlan_name(net_id), network.vni, mtu)
            self._reconcile()
        return {}

    def delete_network(self, body: dict) -> dict:
        net_id = _id(body, "NetworkID")
        with self.lock:
            for ep in [e for e in self.endpoints.values() if e.network == net_id]:
                self._forget_endpoint(ep)
            self.networks.pop(net_id, None)
            self.dataplane.remove_network(net_id)
            log.info("network %s deleted", net_id[:12])
            self._reconcile()
        return {}

    # -- endpoints ------------------------------------------------------------

    def create_endpoint(self, body: dict) -> dict:
        net_id, ep_id = _id(body, "NetworkID"), _id(body, "EndpointID")
        interface = body.get("Interface") or {}
        if not isinstance(interface, dict):
            raise PluginError("mesh: Interface must be an object")
        given = _mac(interface.get("MacAddress"))
        with self.lock:
            if net_id not in self.networks:
                raise PluginError(f"mesh: network {net_id} not found")
            ep = self.endpoints.get(ep_id)
            if ep is None or ep.network != net_id:
                if ep is not None:
                    self._forget_endpoint(ep)
                ep = Endpoint(net_id, ep_id, given or random_mac(),
                              str(interface.get("Address") or ""))
                self.endpoints[ep_id] = ep
            elif given:
                ep.mac = given
            log.info("endpoint %s on %s: MAC %s, address %s", ep_id[:12], net_id[:12], ep.mac,
                     ep.ip or "none")
            return {"Interface": {} if given else {"MacAddress": ep.mac}}

    def endpoint_oper_info(self, body: dict) -> dict:
        _id(body, "EndpointID")
        return {"Value": {}}

    def delete_endpoint(self, body: dict) -> dict:
        ep_id = _id(body, "EndpointID")
        with self.lock:
            ep = self.endpoints.get(ep_id)
            if ep is not None:
                self._forget_endpoint(ep)
                self._reconcile()
        return {}

    def _forget_endpoint(self, ep: Endpoint) -> None:
        self._unjoin(ep)
        self.endpoints.pop(ep.id, None)

    def join(self, body: dict) -> dict:
        net_id, ep_id = _id(body, "NetworkID"), _id(body, "EndpointID")
        with self.lock:
            network = self.networks.get(net_id)
            if network is None:
                raise PluginError(f"mesh: network {net_id} not found")
            ep = self.endpoints.get(ep_id)
            if ep is None or ep.network != net_id:
                raise PluginError(f"mesh: endpoint {ep_id} not found")
            try:
                ep.ifname = self.dataplane.create_veth(net_id, ep_id, ep.mac, network.mtu)
            except iproute.IprouteError as exc:
                ep.ifname = ""
                raise PluginError(f"mesh: cannot make the interface of {ep_id[:12]}: {exc}") \
                    from None
            log.info("endpoint %s joined: %s (host end %s)", ep_id[:12], ep.ifname,
                     veth_names(ep_id)[0])
            self._announce({"type": "add", "endpoints": [self._record(ep)]})
            return {"InterfaceName": {"SrcName": ep.ifname, "DstPrefix": "eth"},
                    "StaticRoutes": [], "DisableGatewayService": True}

    def leave(self, body: dict) -> dict:
        _id(body, "NetworkID")
        ep_id = _id(body, "EndpointID")
        with self.lock:
            ep = self.endpoints.get(ep_id)
            if ep is not None:
                self._unjoin(ep)
                log.info("endpoint %s left", ep_id[:12])
        return {}

    def _unjoin(self, ep: Endpoint) -> None:
        self.dataplane.remove_veth(ep.id)
        if ep.joined:
            ep.ifname = ""
            self._announce({"type": "remove",
                            "endpoints": [{"network": ep.network, "endpoint": ep.id}]})

    def _record(self, ep: Endpoint) -> dict:
        return {"network": ep.network, "endpoint": ep.id, "mac": ep.mac, "ip": ep.ip,
                "peer": self.address}

    def _announce(self, message: dict) -> None:
        if self.router is not None:
            self.router.broadcast(message)

    # -- gossip (router.Handler) ------------------------------------------------

    def local_records(self) -> list[dict]:
        return [self._record(ep) for ep in self.endpoints.values() if ep.joined]

    @staticmethod
    def _parse(peer: str, raw: dict) -> Record | None:
        try:
            net, ep = str(raw["network"]), str(raw["endpoint"])
            mac = _mac(raw["mac"])
        except (KeyError, PluginError):
            log.warning("ignoring a bad endpoint record from %s: %r", peer, raw)
            return None
        if not (ID.match(net) and ID.match(ep) and mac):
            log.warning("ignoring a bad endpoint record from %s: %r", peer, raw)
            return None
        return Record(peer, net, ep, mac, str(raw.get("ip") or ""))

    def peer_state(self, peer: str, records: list[dict]) -> None:
        parsed = (self._parse(peer, raw) for raw in records)
        self.remote[peer] = {(r.network, r.endpoint): r for r in parsed if r is not None}
        log.info("%s has %d endpoints", peer, len(self.remote[peer]))
        self._reconcile()

    def peer_update(self, peer: str, added: list[dict], removed: list[dict]) -> None:
        known = self.remote.setdefault(peer, {})
        for raw in removed:
            known.pop((str(raw.get("network")), str(raw.get("endpoint"))), None)
        for raw in added:
            record = self._parse(peer, raw)
            if record is not None:
                known[(record.network, record.endpoint)] = record
        self._reconcile()

    def peer_lost(self, peer: str) -> None:
        self.remote.pop(peer, None)
        self._reconcile()

    def membership_changed(self) -> None:
        self._reconcile()

    # -- the forwarding database ------------------------------------------------

    def wanted_fdb(self) -> set[FdbEntry]:
        connected = self.router.connected() if self.router is not None else []
        wanted: set[FdbEntry] = set()
        for net_id in self.networks:
            for peer in connected:
                wanted.add(FdbEntry(vxlan_name(net_id), ZERO_MAC, peer))
        where: dict[tuple[str, str], str] = {}
        for peer in sorted(self.remote, key=IPv4Address):
            if peer not in connected:
                continue
            for record in self.remote[peer].values():
                if record.network in self.networks:
                    where[(vxlan_name(record.network), record.mac)] = peer
        wanted.update(FdbEntry(vx, mac, peer) for (vx, mac), peer in where.items())
        return wanted

    def _reconcile(self) -> None:
        with self.lock:
            try:
                self.dataplane.reconcile(self.wanted_fdb())
            except iproute.IprouteError as exc:
                log.error("programming the forwarding database: %s", exc)

    # -- the end ----------------------------------------------------------------

    def remove_everything(self) -> None:
        with self.lock:
            self.stopping = True
            for ep in list(self.endpoints.values()):
                self.dataplane.remove_veth(ep.id)
            self.endpoints.clear()
            for net_id in list(self.networks):
                self.dataplane.remove_network(net_id)
            self.networks.clear()

    def status(self) -> dict:
        with self.lock:
            records = [{**asdict(r), "local": False}
                       for peer in sorted(self.remote, key=IPv4Address)
                       for r in self.remote[peer].values()]
            records += [{**self._record(ep), "local": True, "ifname": ep.ifname}
                        for ep in self.endpoints.values()]
            return {
                "networks": [{**asdict(n), "bridge": bridge_name(n.id),
                              "vxlan": vxlan_name(n.id)} for n in self.networks.values()],
                "endpoints": records,
                "fdb": [asdict(e) for e in sorted(self.dataplane.programmed)],
            }
