"""A fabric that records instead of acting: for unit tests and dry runs.

It keeps the same bookkeeping a kernel would (which links exist, which sandbox
holds which interface) so that drivers' CHECK and the engine's rollbacks can be
tested without root. The lab also dry-runs a topology through it, so that bad
input is reported before any kernel object exists.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emulator.fabric.base import (
    ExecResult,
    IngressRules,
    MacvlanPlug,
    Plug,
    SandboxHandle,
    TaskIngress,
    VirtualServer,
)
from emulator.fabric.containerroot import RootSpec
from emulator.fabric.fakenft import FakeTable
from emulator.fabric.identity import Identity
from emulator.fabric.loadbalancer import ruleset as load_balancer_ruleset
from emulator.fabric.processes import ProcessId


@dataclass
class FakeLink:
    name: str
    master: str | None = None
    up: bool = True
    mtu: int = 1500
    address: object = None
    address6: object = None


@dataclass
class FakeFabric:
    host: str = "fake"
    links: dict[str, FakeLink] = field(default_factory=dict)
    sandboxes: dict[str, SandboxHandle] = field(default_factory=dict)
    sandbox_ifaces: dict[str, dict[str, Plug]] = field(default_factory=dict)
    firewall: FakeTable = field(default_factory=FakeTable)
    firewall_transactions: list[str] = field(default_factory=list)
    """Every transaction given to update_firewall, in order."""
    abandoned: bool = False
    bridge_netfilter: bool = True
    default_routes: dict[str, object] = field(default_factory=dict)
    default_routes6: dict[str, object] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    nics: tuple[str, ...] = ("eth0",)
    peers: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    vxlan_ipv6: dict[str, bool] = field(default_factory=dict)
    """Per "sandbox/vxlan": whether the device was made for IPv6 VTEPs."""
    host_links: set[str] = field(default_factory=set)  # made by plugins, for adopt_link
    macvlans: dict[str, list[str]] = field(default_factory=dict)
    mounted: dict[str, dict[str, Path]] = field(default_factory=dict)
    """Per sandbox key, the files start_process bind-mounted (path -> source)."""
    roots: dict[str, RootSpec | None] = field(default_factory=dict)
    """Per sandbox key, the root start_process was given (None: the machine's view)."""
    exec_identities: list[Identity | None] = field(default_factory=list)
    """The identity of each exec, in order."""
    sysctls: dict[str, str] = field(
        default_factory=lambda: {"net.ipv4.ip_local_port_range": "32768\t60999"})
    load_balancers: dict[str, tuple[tuple[VirtualServer, ...], IngressRules | None]] = field(
        default_factory=dict)
    """Per sandbox key, the last load-balancer program (servers, ingress); none once
    withdrawn (empty) or the sandbox destroyed."""
    task_ingress: dict[str, TaskIngress] = field(default_factory=dict)
    """Per task sandbox key, its routing-mesh redirect rules."""
    _pids: itertools.count = field(default_factory=lambda: itertools.count(100000))

    def create_bridge(self, name: str, address, mtu: int, address6=None) -> None:
        if name in self.links:
            raise FileExistsError(f"link {name} exists")
        self.links[name] = FakeLink(name, mtu=mtu, address=address, address6=address6)
        self.log.append(("create_bridge", name))

    @property
    def ruleset(self) -> str:
        """The firewall the kernel would hold now, as the host firewall renders a whole one."""
        return self.firewall.render()

    def delete_link(self, name: str) -> None:
        if self.abandoned:
            return
        if self.links.pop(name, None) is not None:
            self.log.append(("delete_link", name))
        for ifaces in self.sandbox_ifaces.values():
            for ifname, plug in list(ifaces.items()):
                if plug.host_ifname == name:
                    del ifaces[ifname]

    def link_info(self, name: str) -> dict[str, object] | None:
        if name in self.nics or name == "lo":
            return {"index": 1 + (self.nics.index(name) if name in self.nics else -1) + 100,
                    "master": None, "up": True, "mtu": 1500 if name in self.nics else 65536,
                    "mac": None}
        link = self.links.get(name)
        if link is None:
            return None
        index = list(self.links).index(name) + 1
        master = self.links.get(link.master) if link.master else None
        return {
            "index": index,
            "master": list(self.links).index(master.name) + 1 if master else None,
            "up": link.up,
            "mtu": link.mtu,
            "mac": None,
        }

    def create_sandbox(self, key: str, hostname: str, shares_host: bool) -> SandboxHandle:
        handle = SandboxHandle(key, None, shares_host)
        self.sandboxes[key] = handle
        self.sandbox_ifaces[key] = {}
        self.log.append(("create_sandbox", key))
        return handle

    def start_process(self, sandbox: SandboxHandle, command: list[str], hostname: str,
                      env: dict[str, str] | None = None,
                      files: Mapping[str, Path] | None = None,
                      root: RootSpec | None = None, open_stdin: bool = False) -> None:
        sandbox.process = ProcessId(next(self._pids), 0)
        self.log.append(("start_process", command[0]))
        self.roots[sandbox.key] = root
        sandbox.rooted = root is not None
        if files:
            self.mounted[sandbox.key] = dict(files)
            sandbox.private_mounts = True

    def destroy_sandbox(self, sandbox: SandboxHandle, graceful: bool = True) -> None:
        """Like the kernel: the sandbox's veths die with it, host ends included."""
        for plug in self.sandbox_ifaces.pop(sandbox.key, {}).values():
            if isinstance(plug, Plug):
                self.links.pop(plug.host_ifname, None)
            else:
                self.macvlans[plug.parent].remove(f"{sandbox.key}/{plug.ifname}")
        self.sandboxes.pop(sandbox.key, None)
        self.load_balancers.pop(sandbox.key, None)
        self.task_ingress.pop(sandbox.key, None)
        self.log.append(("destroy_sandbox", sandbox.key))

    def forget_link(self, name: str) -> None:
        self.links.pop(name, None)

    def settle(self, timeout: float = 10.0) -> None:
        return None

    def sandbox_alive(self, sandbox: SandboxHandle) -> bool:
        return sandbox.key in self.sandboxes

    def sandbox_exit_code(self, sandbox: SandboxHandle) -> int | None:
        return self.exited.get(sandbox.key)

    def sandbox_ended(self, sandbox: SandboxHandle) -> bool:
        return sandbox.key in self.exited

    def plug(self, sandbox: SandboxHandle, plug: Plug) -> None:
        if plug.bridge not in self.links:
            raise LookupError(f"no interface {plug.bridge}")
        self.links[plug.host_ifname] = FakeLink(plug.host_ifname, master=plug.bridge, mtu=plug.mtu)
        self.sandbox_ifaces[sandbox.key][plug.ifname] = plug
        if plug.gateway is not None:
            self.default_routes[sandbox.key] = plug.gateway
        if plug.gateway6 is not None:
            self.default_routes6[sandbox.key] = plug.gateway6
        self.log.append(("plug", plug.host_ifname))

    def plug_macvlan(self, sandbox: SandboxHandle, plug: MacvlanPlug) -> None:
        if plug.parent not in self.nics:
            raise LookupError(f"no interface {plug.parent}")
        children = self.macvlans.setdefault(plug.parent, [])
        if plug.mode == "passthru" and children:
            raise OSError(16, "Device or resource busy")
        children.append(f"{sandbox.key}/{plug.ifname}")
        self.sandbox_ifaces[sandbox.key][plug.ifname] = plug  # type: ignore[assignment]
        if plug.gateway is not None:
            self.default_routes[sandbox.key] = plug.gateway
        if plug.gateway6 is not None:
            self.default_routes6[sandbox.key] = plug.gateway6
        self.log.append(("plug_macvlan", f"{plug.parent}>{sandbox.key}/{plug.ifname}"))

    def unplug(self, sandbox: SandboxHandle, ifname: str) -> None:
        plug = self.sandbox_ifaces.get(sandbox.key, {}).pop(ifname, None)
        if isinstance(plug, MacvlanPlug):
            self.macvlans[plug.parent].remove(f"{sandbox.key}/{ifname}")
        self.log.append(("unplug", f"{sandbox.key}/{ifname}"))

    def create_overlay_sandbox(self, key: str, bridge: str, address, mtu: int) -> SandboxHandle:
        handle = self.create_sandbox(key, key, False)
        self.sandbox_ifaces[key][bridge] = Plug("", "", bridge, address, "", mtu)
        return handle

    def add_vxlan(self, sandbox: SandboxHandle, name: str, vni: int, port: int, mtu: int,
                  bridge: str, ipv6: bool = False) -> None:
        self.sandbox_ifaces[sandbox.key][name] = Plug("", bridge, name, None, "", mtu)
        self.log.append(("add_vxlan", f"{name} vni {vni} port {port}" + (" ipv6" if ipv6 else "")))
        self.vxlan_ipv6[f"{sandbox.key}/{name}"] = ipv6

    def program_peer(self, sandbox: SandboxHandle, vxlan: str, address, mac: str, vtep,
                     add: bool) -> None:
        if self.vxlan_ipv6.get(f"{sandbox.key}/{vxlan}", False) != (vtep.version == 6):
            raise OSError(97, f"VTEP {vtep} is not of {vxlan}'s address family")
        self.peers.setdefault(sandbox.key, {})
        if add:
            self.peers[sandbox.key][str(address)] = (mac, str(vtep))
        else:
            self.peers[sandbox.key].pop(str(address), None)

    def plug_from(self, outer: SandboxHandle, sandbox: SandboxHandle, plug: Plug) -> None:
        self.sandbox_ifaces[outer.key][plug.host_ifname] = Plug("", plug.bridge,
                                                                 plug.host_ifname, None, "", 0)
        self.sandbox_ifaces[sandbox.key][plug.ifname] = plug
        if plug.gateway is not None:
            self.default_routes[sandbox.key] = plug.gateway
        self.log.append(("plug_from", f"{outer.key}/{plug.host_ifname}"))

    def adopt_link(self, sandbox: SandboxHandle, adoption) -> str:
        if adoption.src_name not in self.host_links:
            raise LookupError(f"interface {adoption.src_name} does not exist on the host")
        self.host_links.discard(adoption.src_name)
        self.sandbox_ifaces[sandbox.key][adoption.ifname] = Plug(
            "", "", adoption.ifname, adoption.address, adoption.mac or "", 1500,
            adoption.gateway, address6=adoption.address6, gateway6=adoption.gateway6)
        if adoption.gateway is not None:
            self.default_routes[sandbox.key] = adoption.gateway
        if adoption.gateway6 is not None:
            self.default_routes6[sandbox.key] = adoption.gateway6
        return adoption.mac or "02:00:00:00:00:01"

    def sandbox_key(self, sandbox: SandboxHandle) -> str:
        return f"/run/cnm/fake/netns/{sandbox.key[:12]}"

    def release_link(self, sandbox: SandboxHandle, ifname: str, host_name: str) -> bool:
        plug = self.sandbox_ifaces.get(sandbox.key, {}).pop(ifname, None)
        if plug is None:
            return False
        self.host_links.add(host_name)
        self.log.append(("release_link", f"{sandbox.key}/{ifname} -> {host_name}"))
        return True

    def delete_host_link(self, name: str) -> None:
        self.host_links.discard(name)

    def set_default_route(self, sandbox: SandboxHandle, gateway) -> None:
        self.default_routes[sandbox.key] = gateway
        self.log.append(("set_default_route", str(gateway)))

    def sandbox_links(self, sandbox: SandboxHandle) -> list[str]:
        return ["lo", *self.sandbox_ifaces.get(sandbox.key, {})]

    def set_firewall(self, ruleset: str) -> None:
        if self.abandoned:
            return
        self.firewall.load(ruleset)
        self.log.append(("set_firewall", ""))

    def update_firewall(self, transaction: str) -> None:
        if self.abandoned:
            return
        self.firewall.apply(transaction)
        self.firewall_transactions.append(transaction)
        self.log.append(("update_firewall", ""))

    def set_hairpin(self, ifname: str, on: bool) -> None:
        self.log.append(("set_hairpin", f"{ifname}={int(on)}"))

    def read_sysctl(self, name: str) -> str:
        return self.sysctls[name]

    def write_sysctl(self, name: str, value: str) -> None:
        self.sysctls[name] = value
        self.log.append(("write_sysctl", f"{name}={value}"))

    def abandon(self) -> None:
        """Links and rules stay, as in a namespace about to end; nothing is deleted."""
        self.abandoned = True

    def exec(self, sandbox: SandboxHandle | None, argv: list[str],
             timeout: float = 30.0, env=None, identity: Identity | None = None) -> ExecResult:
        self.log.append(("exec", " ".join(argv)))
        self.exec_identities.append(identity)
        return ExecResult(0, "")

    def program_task_ingress(self, sandbox: SandboxHandle, rules: TaskIngress) -> None:
        self.task_ingress[sandbox.key] = rules
        self.log.append(("program_task_ingress", sandbox.key))

    def open_resolver(self, sandbox: SandboxHandle) -> None:
        """No kernel, no sockets: the resolver serves nothing here."""
        self.log.append(("open_resolver", sandbox.key))
        return None

    def upstream_socket(self, sandbox: SandboxHandle | None, server: str, port: int,
                        tcp: bool):
        raise OSError(f"the fake fabric reaches no DNS server ({server})")

    def program_load_balancer(self, sandbox: SandboxHandle,
                              servers: tuple[VirtualServer, ...],
                              ingress: IngressRules | None = None) -> None:
        """Recorded as given; refused as the kernel's would be (the ruleset is rendered,
        which validates it, and costs microseconds)."""
        if sandbox.shares_host:
            raise ValueError("a container in the host's network namespace has no load "
                             "balancer of its own")
        if not self.sandbox_alive(sandbox):
            return
        load_balancer_ruleset(servers, ingress)
        if servers or ingress is not None:
            self.load_balancers[sandbox.key] = (tuple(servers), ingress)
        else:
            self.load_balancers.pop(sandbox.key, None)
        self.log.append(("program_load_balancer", sandbox.key))

    def kernel_objects(self) -> int:
        """How many links, MACVLANs and sandboxes exist: zero after a full teardown."""
        return (len(self.links) + len(self.sandboxes)
                + sum(len(children) for children in self.macvlans.values()))
