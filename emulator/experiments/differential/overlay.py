"""A two-host swarm's overlay as the wire sees it, measured the same way on any engine.

Through the Engine API only (so a real dockerd and an emulated host are driven
alike): h1 initialises a swarm advertising its underlay address, h2 joins, h1 creates
an attachable overlay, one container runs on each host, and the one on h1 pings the
one on h2 with payloads up to and past the overlay's MTU. A capture on h1's underlay
NIC (inside h1's namespace) gives the VXLAN frames on the wire (UDP 4789); the
container's namespace gives the overlay interface's MTU. Per payload: frames per
ping, their bytes on the wire and inside, and the difference, the per-packet
overhead. Then everything is undone: containers, network, swarm.

No services: the kernel here has no IPVS, so real Docker's VIPs do not work.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from emulator.experiments import overlay_wire as wire
from emulator.experiments.differential.facts import (
    IMAGE,
    SLEEP,
    engine_client,
    mac_kind,
    read_kernel,
)
from emulator.probes.capture import Capture

IPV4, UDP = 20, 8
OUTER = wire.ETH + IPV4 + UDP + wire.VXLAN  # what VXLAN over IPv4 adds to a frame: 50
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8
PING_HEADERS = IPV4 + 8  # IPv4 + ICMP echo, around a ping's -s payload
GWBRIDGE = "docker_gwbridge"
GATEWAY_OF_ID = re.compile(r"^gateway_[0-9a-f]{12}$")
FIRST_REPLY_WITHIN = 30.0  # real swarm peers can take seconds to learn each other


# -- frames ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WireFrame:
    """One VXLAN frame on the underlay, and what it carries."""

    length: int  # bytes on the wire, outer Ethernet header on, no FCS
    inner_length: int  # the encapsulated Ethernet frame
    vni: int
    outgoing: bool
    icmp_type: int | None  # None for an IPv4 fragment after the first, or not ICMP
    fragment: bool

    @property
    def overhead(self) -> int:
        return self.length - self.inner_length


def parse_vxlan(data: bytes, outgoing: bool = True) -> WireFrame | None:
    """A VXLAN-in-UDP-in-IPv4 Ethernet frame (to port 4789), else None."""
    if wire.udp_dport(data) != wire.VXLAN_PORT:
        return None
    ihl = (data[wire.ETH] & 0x0F) * 4
    start = wire.ETH + ihl + UDP + wire.VXLAN
    inner = data[start:]
    if len(inner) < wire.ETH + IPV4:
        return None
    icmp_type, fragment = None, False
    if inner[12:14] == b"\x08\x00":
        inner_ihl = (inner[wire.ETH] & 0x0F) * 4
        flags = struct.unpack_from("!H", inner, wire.ETH + 6)[0]
        fragment = bool(flags & 0x3FFF)
        if inner[wire.ETH + 9] == socket.IPPROTO_ICMP and not flags & 0x1FFF:
            icmp_type = inner[wire.ETH + inner_ihl]
    vni = int.from_bytes(data[wire.ETH + ihl + UDP + 4:wire.ETH + ihl + UDP + 7], "big")
    return WireFrame(len(data), len(inner), vni, outgoing, icmp_type, fragment)


def ping_frames(frames: list[WireFrame]) -> tuple[list[WireFrame], list[WireFrame]]:
    """The frames of one echo request (first fragment on), and of its reply.

    Fragments after the first carry no ICMP header: each belongs to the last echo
    message seen in its direction."""
    request: list[WireFrame] = []
    reply: list[WireFrame] = []
    current = {True: None, False: None}  # per direction: the list the fragments join
    for frame in frames:
        if frame.icmp_type == ICMP_ECHO_REQUEST:
            current[frame.outgoing] = request
        elif frame.icmp_type == ICMP_ECHO_REPLY:
            current[frame.outgoing] = reply
        elif frame.icmp_type is not None or not frame.fragment:
            current[frame.outgoing] = None
            continue
        target = current[frame.outgoing]
        if target is not None:
            target.append(frame)
    return request, reply


# -- the measurement --------------------------------------------------------------


@dataclass(frozen=True)
class SwarmHosts:
    """Two Docker hosts of one lab: their Engine APIs, underlay addresses, and a
    process in the manager's namespace (where its underlay NIC is captured)."""

    manager_url: str
    worker_url: str
    manager_address: str
    worker_address: str
    manager_pid: int
    underlay_mtu: int
    nic: str = "eth0"

    @classmethod
    def of(cls, lab, manager: str = "h1", worker: str = "h2") -> SwarmHosts:
        address = {h.name: str(h.address) for h in lab.topology.hosts}
        return cls(lab.docker_host_url(manager), lab.docker_host_url(worker),
                   address[manager], address[worker], lab.node_pid(manager),
                   lab.topology.underlay.mtu)


def ping_sizes(underlay_mtu: int) -> tuple[int, ...]:
    """Payloads from the default 56 to the largest that fits an overlay of the MTU Docker
    gives it (underlay - 50), one byte more, and one that takes three fragments."""
    fits = underlay_mtu - OUTER - PING_HEADERS
    return tuple(sorted({56, 512, 1000, min(1400, fits), fits, fits + 1, 2 * fits + 16}))


@contextmanager
def swarm_of(hosts: SwarmHosts, manager: docker.DockerClient,
             worker: docker.DockerClient) -> Iterator[None]:
    """The manager inits, the worker joins; both leave afterwards, worker first."""
    try:
        manager.swarm.init(advertise_addr=hosts.manager_address)
        manager.swarm.reload()
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        worker.swarm.join([f"{hosts.manager_address}:2377"], token,
                          advertise_addr=hosts.worker_address)
        yield
    finally:
        for client in (worker, manager):
            try:
                client.swarm.leave(force=True)
            except docker.errors.APIError as exc:
                if "not part of a swarm" not in str(exc):
                    raise


@contextmanager
def removed_after(client: docker.DockerClient, kind: str, name: str) -> Iterator[None]:
    try:
        yield
    finally:
        try:
            if kind == "container":
                client.api.remove_container(name, force=True)
            else:
                client.api.remove_network(name)
        except docker.errors.NotFound:
            pass


def _ping(container, address: str, size: int) -> bool:
    argv = ["ping", "-c", "1", "-s", str(size), "-W", "2", address]
    return container.exec_run(argv).exit_code == 0


def _first_reply(container, address: str) -> float:
    """Ping until the first answer (the overlay's peers are known); seconds it took."""
    start = time.monotonic()
    while not _ping(container, address, 56):
        if time.monotonic() - start > FIRST_REPLY_WITHIN:
            raise RuntimeError(f"no ping reply over the overlay from {address} "
                               f"within {FIRST_REPLY_WITHIN:.0f} s")
    return time.monotonic() - start


def _interfaces(pid: int, where: str) -> dict[str, str]:
    interfaces, _ = read_kernel(pid)
    out = {f"container on {where}: interfaces": " ".join(i.name for i in interfaces)}
    for iface in interfaces:
        if iface.name == "lo":
            continue
        out[f"container on {where}: {iface.name} mtu"] = str(iface.mtu)
        out[f"container on {where}: {iface.name} ipv4"] = " ".join(map(str, iface.ipv4))
        out[f"container on {where}: {iface.name} mac kind"] = mac_kind(iface.mac, iface.ipv4)
    return out


def _sizes_text(frames: list[WireFrame], length: Callable[[WireFrame], int]) -> str:
    return "+".join(str(length(f)) for f in frames) if frames else "none"


def measure(hosts: SwarmHosts, prefix: str = "fx",
            progress: Callable[[str], None] = lambda _: None) -> dict[str, str]:
    """Metric name -> value, for one pair of hosts; everything made is undone."""
    network, name_a, name_b = f"{prefix}ov", f"{prefix}ova", f"{prefix}ovb"
    metrics: dict[str, str] = {}
    with ExitStack() as stack:
        manager = stack.enter_context(engine_client(hosts.manager_url))
        worker = stack.enter_context(engine_client(hosts.worker_url))
        progress("overlay: swarm init and join")
        stack.enter_context(swarm_of(hosts, manager, worker))
        stack.enter_context(removed_after(manager, "network", network))
        manager.networks.create(network, driver="overlay", attachable=True)
        stack.enter_context(removed_after(manager, "container", name_a))
        a = manager.containers.run(IMAGE, SLEEP, name=name_a, network=network, detach=True)
        stack.enter_context(removed_after(worker, "container", name_b))
        b = worker.containers.run(IMAGE, SLEEP, name=name_b, network=network, detach=True)
        metrics.update(_network_metrics(manager.api.inspect_network(network)))
        a.reload()
        b.reload()
        target = b.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        progress("overlay: waiting for the first reply")
        _first_reply(a, target)
        metrics.update(_interfaces(a.attrs["State"]["Pid"], "h1"))
        metrics.update(_interfaces(b.attrs["State"]["Pid"], "h2"))
        for client, where in ((manager, "h1"), (worker, "h2")):
            for name in (network, GWBRIDGE):
                label = "overlay" if name == network else name
                metrics[f"{label} endpoints on {where}"] = endpoints_text(
                    client.api.inspect_network(name))
        metrics.update(_wire_metrics(hosts, a, target))
    return metrics


def endpoints_text(inspect: Mapping[str, Any]) -> str:
    """A network's endpoints on this host as `name address`, sorted by address; the
    container id in a gateway endpoint's name (docker_gwbridge) is left out."""
    found = []
    for endpoint in (inspect.get("Containers") or {}).values():
        name = GATEWAY_OF_ID.sub("gateway_<id>", endpoint.get("Name", ""))
        address = endpoint.get("IPv4Address", "")
        found.append((tuple(int(part) for part in address.split("/")[0].split(".")
                            if part.isdigit()), f"{name} {address}"))
    return ", ".join(text for _, text in sorted(found)) or "none"


def _network_metrics(inspect: Mapping[str, Any]) -> dict[str, str]:
    config = (inspect.get("IPAM") or {}).get("Config") or [{}]
    return {"overlay subnet": str(config[0].get("Subnet")),
            "overlay gateway": str(config[0].get("Gateway")),
            "VXLAN ID (network option)": str((inspect.get("Options") or {}).get(VNI_OPTION))}


def _wire_metrics(hosts: SwarmHosts, container, target: str) -> dict[str, str]:
    out: dict[str, str] = {}
    overheads: set[int] = set()
    vnis: set[int] = set()
    with Capture(hosts.manager_pid, hosts.nic) as capture:
        for size in ping_sizes(hosts.underlay_mtu):
            capture.clear()
            answered = _ping(container, target, size)
            frames = [f for raw in wire.frames_after(capture, settle=0.1)
                      if (f := parse_vxlan(raw.data, raw.outgoing)) is not None]
            request, reply = ping_frames(frames)
            overheads |= {f.overhead for f in request + reply}
            vnis |= {f.vni for f in frames}
            key = f"ping -s {size}"
            out[f"{key}: answered"] = str(answered)
            out[f"{key}: request frames on the wire"] = str(len(request))
            out[f"{key}: request bytes on the wire"] = _sizes_text(request, lambda f: f.length)
            out[f"{key}: request bytes inside"] = _sizes_text(request, lambda f: f.inner_length)
            out[f"{key}: reply bytes on the wire"] = _sizes_text(reply, lambda f: f.length)
    out["overhead per packet (bytes)"] = " ".join(map(str, sorted(overheads))) or "none"
    out["VXLAN ID on the wire"] = " ".join(map(str, sorted(vnis))) or "none"
    return out


# -- rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRow:
    metric: str
    emulated: str | None
    real: str | None

    @property
    def agree(self) -> bool:
        return self.emulated == self.real

    def as_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "emulated": self.emulated, "real": self.real,
                "agree": self.agree}


def compare(emulated: Mapping[str, str], real: Mapping[str, str]) -> list[MetricRow]:
    return [MetricRow(m, emulated.get(m), real.get(m))
            for m in dict.fromkeys([*emulated, *real])]
