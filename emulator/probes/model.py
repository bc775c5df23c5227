"""What a probe is sent from and to, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address

PROTOCOLS = ("icmp", "tcp", "udp")
ARP = "arp"
ALL_PROTOCOLS = (*PROTOCOLS, ARP)


class Verdict(StrEnum):
    REACHED = "reached"
    BLOCKED = "blocked"
    ERROR = "error"

    @property
    def symbol(self) -> str:
        return {"reached": ".", "blocked": "X", "error": "?"}[self.value]


@dataclass(frozen=True)
class ProbeTarget:
    """An address inside a lab namespace; `pid` is any process in that namespace.

    As a source only the namespace matters, and `address` may be None. An address
    given as text ("10.0.0.5") is taken as the IPv4Address it names.
    """

    name: str
    pid: int
    address: IPv4Address | None

    def __post_init__(self) -> None:
        if isinstance(self.address, str):
            object.__setattr__(self, "address", IPv4Address(self.address))


@dataclass(frozen=True)
class ProbeResult:
    source: str
    target: str
    protocol: str
    verdict: Verdict
    rtt_ms: float | None
    evidence: str
