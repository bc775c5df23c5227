"""Per-namespace kernel settings every lab namespace gets.

- No IPv6 unless asked for: interfaces are born with IPv6 disabled, as Docker
  (since 26.0.2, CVE-2024-32473) disables it on the interfaces of IPv4-only
  networks, and no tentative addresses are left to wait for; the fabric turns it
  on for the interfaces of a network with IPv6 (and for the host's forwarding).
- No ICMP error rate limit (IPv4's and ICMPv6's): a probe matrix sends many UDP
  probes to one address at once, and the kernel's default (one error a second per
  peer after a burst) would turn most port-unreachable answers into silence, a
  false "blocked".
  The limits are per namespace; the machine's own are never touched.
"""

from __future__ import annotations

import os

LAB_NAMESPACE_SYSCTLS = {
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv6.icmp.ratelimit": "0",
    "net.ipv4.icmp_msgs_per_sec": "1000000",
    "net.ipv4.icmp_msgs_burst": "1000000",
}
"""Containers are made by the hundred: the least that keeps them IPv4-only and
answering every probe (their `all` IPv6 switch only matters for `lo`). Each interface
announces its address with a gratuitous ARP when it comes up (arp_notify), as dockerd
28 does on endpoint setup: neighbours holding an address's old MAC (a container that
reconnected, whose endpoint got a new random MAC) learn the new one at once."""
CONTAINER_SYSCTLS = {
    "net.ipv6.conf.default.disable_ipv6": "1",
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv6.icmp.ratelimit": "0",
    "net.ipv4.icmp_msgs_burst": "1000000",
    "net.ipv4.conf.default.arp_notify": "1",
}


def write_sysctl(name: str, value: str) -> None:
    """Set a sysctl of the calling thread's network namespace."""
    fd = os.open(os.path.join("/proc/sys", *name.split(".")), os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write_interface_sysctl(family: str, ifname: str, knob: str, value: str) -> None:
    """Set net.<family>.conf.<ifname>.<knob> of the calling thread's namespace (an
    interface name may hold a dot, so the path is built, not parsed)."""
    fd = os.open(os.path.join("/proc/sys/net", family, "conf", ifname, knob), os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def enable_ipv6(ifname: str) -> None:
    """Turn IPv6 on for one interface (lab namespaces are born with it off, so that an
    interface of an IPv4-only network has none, as Docker >= 26.0.2 does)."""
    write_interface_sysctl("ipv6", ifname, "disable_ipv6", "0")


def apply_lab_defaults(settings: dict[str, str] = LAB_NAMESPACE_SYSCTLS) -> None:
    for name, value in settings.items():
        write_sysctl(name, value)
