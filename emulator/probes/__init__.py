"""Probes: crafted packets sent from inside lab namespaces, replies classified.

Every probe of a run is sent first, then one shared window collects replies, so
a matrix of blocked pairs costs one timeout, not one per pair.
"""

from emulator.probes.engine import ProbeEngine, refuse_machine_namespace
from emulator.probes.model import ALL_PROTOCOLS, ARP, PROTOCOLS, ProbeResult, ProbeTarget, Verdict

__all__ = ["ALL_PROTOCOLS", "ARP", "PROTOCOLS", "ProbeEngine", "ProbeResult", "ProbeTarget",
           "Verdict", "refuse_machine_namespace"]
