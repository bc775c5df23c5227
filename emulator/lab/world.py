"""The lab's world: its own network namespace, with Mininet built inside it.

Mininet is used only here: for the few Docker hosts, the outside host and the
underlay switch. The thread that builds or stops Mininet steps into the world
first, so every `ip`, `brctl` and shell Mininet starts lives there, never in the
machine's own namespace. Nothing outside the world holds a reference to it
except this object's file descriptor and the processes of the lab.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from emulator.fabric import firewall
from emulator.fabric.linkwait import wait_links_up
from emulator.fabric.netns import Namespace, new_namespace
from emulator.fabric.processes import LAB_ENV
from emulator.fabric.sysctls import apply_lab_defaults, write_sysctl
from emulator.lab import portsecurity
from emulator.topology import Topology
from emulator.topology.model import LAN_ROUTER_NAME

SWITCH = "ul"
LAN_SWITCH = "lan"
LAN_NIC = "eth1"


def nic_mac(node: str, nic: str) -> str:
    """A fixed, locally administered MAC per node and NIC: DHCP leases and port-security
    rules come out the same in every run."""
    digest = hashlib.sha256(f"{node}/{nic}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, 0x4c, *digest[:4]))


def prepare_mininet() -> None:
    """Mininet at error level, without its machine-wide sysctl changes, and without
    making every logger created after its import a Mininet logger (with a level and a
    console handler of its own): the emulator's loggers stay plain."""
    from mininet.log import setLogLevel
    from mininet.net import Mininet

    setLogLevel("error")
    Mininet.inited = True  # skip Mininet's fixLimits: it changes machine-wide sysctls
    if logging.getLoggerClass().__module__ == "mininet.log":
        logging.setLoggerClass(logging.Logger)


@contextmanager
def _lab_environment(marker: str) -> Iterator[None]:
    """Mininet starts its shells with os.environ: mark them as this lab's."""
    before = os.environ.get(LAB_ENV)
    os.environ[LAB_ENV] = marker
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LAB_ENV, None)
        else:
            os.environ[LAB_ENV] = before




def _checked(node, command: str) -> None:
    """Run `command` in a Mininet node's shell; raise with its output when it fails."""
    output = node.cmd(f"{command} 2>&1; echo rc=$?").strip()
    if not output.endswith("rc=0"):
        raise RuntimeError(f"{node.name}: {command}: {output}")


class World:
    def __init__(self, topology: Topology, marker: str) -> None:
        self.topology = topology
        self.marker = marker
        self.ns: Namespace | None = None
        self.net = None

    def create(self) -> None:
        with new_namespace() as ns:
            self.ns = ns
            apply_lab_defaults()

    def build(self) -> None:
        """Build the underlay, Docker hosts and outside host with Mininet."""
        from mininet.net import Mininet
        from mininet.nodelib import LinuxBridge

        prepare_mininet()
        assert self.ns is not None
        with self.ns.entered(), _lab_environment(self.marker):
            net = Mininet(topo=None, switch=LinuxBridge, controller=None, build=False,
                          autoSetMacs=False, autoStaticArp=False, waitConnected=False)
            self.net = net
            switch = net.addSwitch(SWITCH, dpid="1")
            underlay = self.topology.underlay.subnet
            nodes = [(h.name, h.address) for h in self.topology.hosts]
            nodes.append(("outside", self.topology.outside.address))
            for name, address in nodes:
                node = net.addHost(name, ip=f"{address}/{underlay.prefixlen}")
                node_ns = Namespace.of_pid(node.pid)
                try:
                    with node_ns.entered():
                        apply_lab_defaults()
                finally:
                    node_ns.close()
                net.addLink(node, switch, intfName1="eth0", intfName2=f"{SWITCH}-{name}")
            waits = {name: ["eth0"] for name, _ in nodes}
            switch_ports = [SWITCH, *(f"{SWITCH}-{name}" for name, _ in nodes)]
            if self.topology.lan is not None:
                switch_ports += self._add_lan(net, waits)
            net.build()
            net.start()
            for host in self.topology.hosts:
                node = net.get(host.name)
                node.cmd(f"ip route add default via {self.topology.outside.address}")
            wait_links_up(switch_ports)
            if self.topology.underlay.mtu != 1500:
                self._set_underlay_mtu(net, [name for name, _ in nodes])
            if self.topology.lan is not None and self.topology.lan.mode == "port-security":
                firewall.load(portsecurity.ruleset(self.lan_port_macs()))
        for name, ifnames in waits.items():
            node_ns = Namespace.of_pid(net.get(name).pid)
            try:
                with node_ns.entered():
                    wait_links_up(ifnames)
            finally:
                node_ns.close()

    def _set_underlay_mtu(self, net, nodes: list[str]) -> None:
        """Jumbo (or small) frames on every underlay link: switch ports and node NICs."""
        mtu = str(self.topology.underlay.mtu)
        for name in nodes:
            net.get(name).cmd(f"ip link set dev eth0 mtu {mtu}")
            net.get(SWITCH).cmd(f"ip link set dev {SWITCH}-{name} mtu {mtu}")

    def underlay_addresses6(self) -> dict[str, object]:
        """Each underlay node's IPv6 address (none without underlay.subnet6)."""
        found: dict[str, object] = {h.name: h.address6 for h in self.topology.hosts
                                    if h.address6 is not None}
        if self.topology.outside.address6 is not None:
            found["outside"] = self.topology.outside.address6
        return found

    def number_ipv6(self) -> None:
        """IPv6 on eth0 of every underlay node, with underlay.subnet6 (lab namespaces
        start with IPv6 off, and a host's fabric turns it off again when it starts: call
        this after the hosts' engines are up). The address is added without duplicate
        address detection, as Docker adds its own, so nothing waits on a tentative
        address; hosts route IPv6 through the outside host as they do IPv4."""
        subnet6 = self.topology.underlay.subnet6
        if subnet6 is None:
            return
        net = self.net
        assert net is not None and self.ns is not None
        outside6 = self.topology.outside.address6
        for name, address in self.underlay_addresses6().items():
            node = net.get(name)
            node_ns = Namespace.of_pid(node.pid)
            try:
                with node_ns.entered():
                    write_sysctl("net.ipv6.conf.eth0.accept_dad", "0")
                    write_sysctl("net.ipv6.conf.eth0.accept_ra", "0")
                    write_sysctl("net.ipv6.conf.eth0.disable_ipv6", "0")
            finally:
                node_ns.close()
            _checked(node, f"ip -6 addr add {address}/{subnet6.prefixlen} dev eth0 nodad")
            if name != "outside" and outside6 is not None:
                _checked(node, f"ip -6 route add default via {outside6} dev eth0")

    def _add_lan(self, net, waits: dict[str, list[str]]) -> list[str]:
        """The LAN switch, its router and LAN hosts, and eth1 of every Docker host."""
        lan = self.topology.lan
        assert lan is not None
        prefix = lan.subnet.prefixlen
        switch = net.addSwitch(LAN_SWITCH, dpid="2")
        ports = [LAN_SWITCH]

        def plug(name: str, nic: str, address) -> None:
            ip = None if address is None else f"{address}/{prefix}"
            net.addLink(net.get(name), switch, intfName1=nic, intfName2=f"{LAN_SWITCH}-{name}",
                        addr1=nic_mac(name, nic), params1={"ip": ip})
            ports.append(f"{LAN_SWITCH}-{name}")

        self._add_node(net, LAN_ROUTER_NAME)
        plug(LAN_ROUTER_NAME, "eth0", lan.router)
        waits[LAN_ROUTER_NAME] = ["eth0"]
        for name, address in lan.docker_hosts.items():
            plug(name, LAN_NIC, address)
            waits[name].append(LAN_NIC)
        for host in lan.hosts:
            self._add_node(net, host.name)
            plug(host.name, "eth0", host.address)
            waits[host.name] = ["eth0"]
        return ports

    @staticmethod
    def _add_node(net, name: str) -> None:
        node = net.addHost(name, ip=None)
        node_ns = Namespace.of_pid(node.pid)
        try:
            with node_ns.entered():
                apply_lab_defaults()
                if name == LAN_ROUTER_NAME:
                    write_sysctl("net.ipv4.ip_forward", "1")
        finally:
            node_ns.close()

    def lan_port_macs(self) -> dict[str, str]:
        """Each LAN switch port and the MAC of the NIC plugged into it."""
        lan = self.topology.lan
        if lan is None:
            return {}
        macs = {f"{LAN_SWITCH}-{LAN_ROUTER_NAME}": nic_mac(LAN_ROUTER_NAME, "eth0")}
        macs.update({f"{LAN_SWITCH}-{name}": nic_mac(name, LAN_NIC) for name in lan.docker_hosts})
        macs.update({f"{LAN_SWITCH}-{h.name}": nic_mac(h.name, "eth0") for h in lan.hosts})
        return macs

    def pid_of(self, node: str) -> int:
        return self.net.get(node).pid

    def exec(self, node: str, argv: list[str]) -> tuple[int, str]:
        """Run a command in a Mininet node's namespace (used for the outside host)."""
        import subprocess

        pid = self.pid_of(node)
        ns = Namespace.of_pid(pid)
        try:
            with ns.entered():
                done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        finally:
            ns.close()
        return done.returncode, done.stdout + done.stderr

    def stop(self) -> None:
        if self.net is not None and self.ns is not None:
            with self.ns.entered():
                self.net.stop()
            self.net = None
        if self.ns is not None:
            self.ns.close()
            self.ns = None
