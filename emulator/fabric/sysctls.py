"""Per-namespace kernel settings every lab namespace gets.

- No IPv6: the emulator's networks are IPv4 (Docker's default), and no tentative
  addresses are left to wait for.
- No ICMP error rate limit: a probe matrix sends many UDP probes to one address at
  once, and the kernel's default (one error a second per peer after a burst)
  would turn most port-unreachable answers into silence, a false "blocked".
  The limits are per namespace; the machine's own are never touched.
"""

from __future__ import annotations

from pathlib import Path

LAB_NAMESPACE_SYSCTLS = {
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv4.icmp_msgs_per_sec": "1000000",
    "net.ipv4.icmp_msgs_burst": "1000000",
}


def write_sysctl(name: str, value: str) -> None:
    """Set a sysctl of the calling thread's network namespace."""
    Path("/proc/sys", *name.split(".")).write_text(value)


def apply_lab_defaults() -> None:
    for name, value in LAB_NAMESPACE_SYSCTLS.items():
        write_sysctl(name, value)
