"""What a probe is sent from and to, and what came of it.

A probe has a protocol and an address family: ICMP, TCP and UDP exist in both
(ICMP over IPv6 is ICMPv6 echo), while asking who is on the link does not: ARP
for IPv4, neighbour solicitation (NDP) for IPv6. A result notes its family, so
the same record and the same evidence words serve both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address

PROTOCOLS = ("icmp", "tcp", "udp")
ARP = "arp"
NDP = "ndp"
ALL_PROTOCOLS = (*PROTOCOLS, ARP)
ALL_PROTOCOLS6 = (*PROTOCOLS, NDP)
IPV4, IPV6 = "ipv4", "ipv6"
LINK_PROTOCOL = {IPV4: ARP, IPV6: NDP}  # who-is-on-the-link, per family
FAMILY_OF_LINK_PROTOCOL = {ARP: IPV4, NDP: IPV6}


def parse_address(text: str | IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """An address or its text: IPv6 where the text has a colon, else IPv4 (text that
    names neither is refused with an AddressValueError naming it)."""
    if isinstance(text, IPv4Address | IPv6Address):
        return text
    return IPv6Address(text) if ":" in text else IPv4Address(text)


def family_of(address: IPv4Address | IPv6Address | None) -> str:
    """"ipv6" for an IPv6 address, else "ipv4" (a source without address probes as one)."""
    return IPV6 if address is not None and address.version == 6 else IPV4


def applies(protocol: str, family: str) -> bool:
    """Whether `protocol` can be sent to an address of `family` (ARP has no IPv6
    form and NDP no IPv4 one)."""
    return FAMILY_OF_LINK_PROTOCOL.get(protocol, family) == family


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
    given as text ("10.0.0.5", "fd00:1::5") is taken as the address it names.
    """

    name: str
    pid: int
    address: IPv4Address | IPv6Address | None

    def __post_init__(self) -> None:
        if isinstance(self.address, str):
            object.__setattr__(self, "address", parse_address(self.address))

    @property
    def family(self) -> str:
        return family_of(self.address)


@dataclass(frozen=True)
class ProbeResult:
    source: str
    target: str
    protocol: str
    verdict: Verdict
    rtt_ms: float | None
    evidence: str
    family: str = IPV4
