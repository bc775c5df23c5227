"""The LAN's DHCP service: Debian's dnsmasq on the router, busybox udhcpc on LAN hosts.

The server hands leases from the topology's pool and records them in a lease file in
the lab's run directory. Clients run udhcpc with a hook script of ours that only sets
the address and default route on their interface (udhcpc's default script would
rewrite the machine's /etc/resolv.conf: containers and LAN hosts share its files).
dnsmasq's ping check before an offer is switched off: leases are taken before any
container starts, and the check would cost seconds per lease.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from emulator.fabric import readiness
from emulator.fabric.processes import ProcessId, exit_status
from emulator.lab.nodeprocess import spawn_in, start_udp_server
from emulator.topology.model import DhcpSpec

DHCP_SERVER_PORT = 67

CLIENT_HOOK = """#!/bin/sh
# udhcpc hook of cnm-emulator: configure the lease on the interface, nothing else.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    if [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    ;;
esac
exit 0
"""


class DhcpError(RuntimeError):
    pass


@dataclass(frozen=True)
class Lease:
    """One line of dnsmasq's lease file."""

    expiry: int
    mac: str
    address: IPv4Address
    hostname: str


class DhcpServer:
    """dnsmasq, DHCP only (no DNS), on the router's LAN interface."""

    def __init__(self, directory: Path, pool: DhcpSpec, subnet: IPv4Network,
                 router: IPv4Address) -> None:
        self.directory = directory
        self.pool = pool
        self.subnet = subnet
        self.router = router
        self.lease_file = directory / "dnsmasq.leases"
        self.log_file = directory / "dnsmasq.log"
        self.process: ProcessId | None = None

    def argv(self, interface: str) -> list[str]:
        return [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            f"--interface={interface}", "--bind-interfaces", "--dhcp-authoritative",
            f"--dhcp-range={self.pool.first},{self.pool.last},{self.subnet.netmask},"
            f"{self.pool.lease}",
            f"--dhcp-option=option:router,{self.router}",
            f"--dhcp-leasefile={self.lease_file}", "--no-ping", "--log-dhcp",
            f"--log-facility={self.log_file}", "--pid-file=", "--user=root", "--group=root",
        ]

    def start(self, router_pid: int, env: dict[str, str], interface: str = "eth0",
              timeout: float = 10.0) -> ProcessId:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.lease_file.touch(mode=0o600)
        self.process = start_udp_server(router_pid, self.argv(interface), env, self.log_file,
                                        DHCP_SERVER_PORT, "dnsmasq", DhcpError, timeout)
        return self.process

    def leases(self) -> list[Lease]:
        leases = []
        for line in self.lease_file.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 4:
                leases.append(Lease(int(fields[0]), fields[1].lower(), IPv4Address(fields[2]),
                                    fields[3]))
        return leases


def take_leases(clients: dict[str, int], directory: Path, env: dict[str, str],
                interface: str = "eth0", timeout: float = 10.0) -> None:
    """Run udhcpc in each client's namespace, one client after the other.

    In order, because dnsmasq (without its ping check) may offer one address to two
    clients asking at once; the loser's NAK costs it udhcpc's 3 s back-off, and the
    order of the race would make the leases differ between runs.
    """
    hook = directory / "udhcpc.hook"
    hook.write_text(CLIENT_HOOK)
    os.chmod(hook, 0o700)
    failed: list[str] = []
    for name, pid in clients.items():
        argv = ["udhcpc", "-i", interface, "-f", "-q", "-n", "-t", "10", "-T", "1",
                "-s", str(hook), "-x", f"hostname:{name}"]
        proc = spawn_in(pid, argv, env, directory / f"udhcpc-{name}.log")
        status = _wait_exit(proc, timeout)
        if status is None:
            failed.append(f"{name} (no lease within {timeout:.0f} s)")
        elif status != 0:
            failed.append(f"{name} (udhcpc exit status {status})")
    if failed:
        raise DhcpError("LAN hosts without a DHCP lease: " + ", ".join(failed)
                        + f"; see {directory}/udhcpc-*.log")


def _wait_exit(proc: ProcessId, timeout: float) -> int | None:
    """The exit status of a child once it ends; None (and the child killed) on timeout."""
    pidfd = os.pidfd_open(proc.pid)
    try:
        ready = readiness.ready([pidfd], timeout=timeout)[0]
    finally:
        os.close(pidfd)
    if not ready:
        os.kill(proc.pid, signal.SIGKILL)
        os.waitpid(proc.pid, 0)
        return None
    return exit_status(proc.pid)
