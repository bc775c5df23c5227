"""Probes: crafted packets sent from inside lab namespaces, replies classified.

Every probe of a run is sent first, then one shared window collects replies, so
a matrix of blocked pairs costs one timeout, not one per pair. Targets may be
IPv4 or IPv6 addresses; each result notes its family (docs/ipv6-probes.md).
"""

from emulator.probes.engine import ProbeEngine, refuse_machine_namespace
from emulator.probes.model import (
    ALL_PROTOCOLS,
    ALL_PROTOCOLS6,
    ARP,
    IPV4,
    IPV6,
    NDP,
    PROTOCOLS,
    ProbeResult,
    ProbeTarget,
    Verdict,
)

__all__ = ["ALL_PROTOCOLS", "ALL_PROTOCOLS6", "ARP", "IPV4", "IPV6", "NDP", "PROTOCOLS",
           "ProbeEngine", "ProbeResult", "ProbeTarget", "Verdict", "refuse_machine_namespace"]
