"""The lab's world: its own network namespace, with Mininet built inside it.

Mininet is used only here: for the few Docker hosts, the outside host and the
underlay switch. The thread that builds or stops Mininet steps into the world
first, so every `ip`, `brctl` and shell Mininet starts lives there, never in the
machine's own namespace. Nothing outside the world holds a reference to it
except this object's file descriptor and the processes of the lab.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from emulator.fabric.linkwait import wait_links_up
from emulator.fabric.netns import Namespace, new_namespace
from emulator.fabric.processes import LAB_ENV
from emulator.fabric.sysctls import apply_lab_defaults
from emulator.topology import Topology

SWITCH = "ul"


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
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.nodelib import LinuxBridge

        setLogLevel("error")
        Mininet.inited = True  # skip Mininet's fixLimits: it changes machine-wide sysctls
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
            net.build()
            net.start()
            for host in self.topology.hosts:
                node = net.get(host.name)
                node.cmd(f"ip route add default via {self.topology.outside.address}")
            wait_links_up([SWITCH, *(f"{SWITCH}-{name}" for name, _ in nodes)])
        for name, _ in nodes:
            node_ns = Namespace.of_pid(net.get(name).pid)
            try:
                with node_ns.entered():
                    wait_links_up(["eth0"])
            finally:
                node_ns.close()

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
