"""The internet's DNS, as the lab has it: Debian's dnsmasq on the outside host.

Every emulated Docker host's resolvers (what dockerd would read from the host's
resolv.conf, and forwards names it does not know to) are this server. It holds a
few internet-like names, whose addresses are the outside host's own (so that
they can be reached as well as resolved), and it is the last word on every
name: what it does not hold is NXDOMAIN (`--local=/#/`: answer from its own
records, never forward), as an internet resolver answers a name that does not
exist. It reads no file of the machine's (no /etc/hosts, no resolv.conf).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

from emulator.fabric.processes import ProcessId
from emulator.lab.nodeprocess import start_udp_server

DNS_PORT = 53
EXAMPLE_AAAA = "2001:db8::10"


def internet_names(outside: IPv4Address) -> dict[str, list[str]]:
    """The names the outside server holds: name -> its addresses."""
    return {
        "example.com": [str(outside), EXAMPLE_AAAA],
        "www.example.org": [str(outside)],
        "mirror.example.net": [str(outside)],
    }


INTERNET_ALIASES = {"www.example.com": "example.com"}
"""CNAMEs the outside server holds: alias -> target."""


class DnsServerError(RuntimeError):
    pass


class OutsideDns:
    """dnsmasq, DNS only (no DHCP), on the outside host's underlay address."""

    def __init__(self, directory: Path, address: IPv4Address) -> None:
        self.directory = directory
        self.address = address
        self.log_file = directory / "dnsmasq.log"
        self.process: ProcessId | None = None

    def argv(self) -> list[str]:
        records = [f"--host-record={name},{','.join(addresses)}"
                   for name, addresses in internet_names(self.address).items()]
        aliases = [f"--cname={alias},{target}" for alias, target in INTERNET_ALIASES.items()]
        return [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--no-poll", f"--listen-address={self.address}",
            "--bind-interfaces", f"--port={DNS_PORT}", "--local=/#/", *records, *aliases,
            "--local-ttl=300", "--log-queries", f"--log-facility={self.log_file}", "--pid-file=",
            "--user=root", "--group=root",
        ]

    def start(self, outside_pid: int, env: dict[str, str], timeout: float = 10.0) -> ProcessId:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.process = start_udp_server(outside_pid, self.argv(), env, self.log_file,
                                        DNS_PORT, "dnsmasq (DNS)", DnsServerError, timeout)
        return self.process
