"""Docker CLI output made comparable between two Docker hosts.

Two hosts never print the same ids, creation times, MAC addresses or ages, even
when they behave alike. `Normaliser` replaces each of these with a placeholder;
ids and MACs get numbered placeholders in order of first appearance, so an id
printed twice reads the same twice (`<ID1>` ... `<ID1>`), a 12-character id
reads as the short form of the full id it abbreviates (`<ID1:12>`), and two
different ids stay different. One normaliser is used per section of a
transcript, so a difference early in one section cannot renumber the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

FULL_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
SHORT_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])")
MAC = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:])")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
GO_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? [+-]\d{4} [A-Z]{2,5}"
                     r"(?: m=[+-][\d.]+)?")
"""Go's time.Time.String(), as `{{.CreatedAt}}` prints it."""
HUMAN_DURATION = re.compile(
    r"\b(?:Less than a second|About a minute|About an hour|"
    r"\d+ (?:second|minute|hour|day|week|month|year)s?)\b")
"""go-units HumanDuration: `docker ps`' CREATED and STATUS columns."""
MILLISECONDS = re.compile(r"\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)* ?ms\b")
"""Round-trip times (ping)."""
VETH = re.compile(r"\bveth[0-9a-f]{7}\b")
"""The host end of a container's veth pair, named at random by Docker."""
PEER_INDEX = re.compile(r"@if\d+\b")
"""A veth's peer interface index (`eth0@if7`), which follows the host's history."""
COUNTER = re.compile(r"\b(packets|bytes|errors|dropped|overruns|frame|carrier|collisions)([: ])\d+")
BYTE_SIZE = re.compile(r"\(\d+(?:\.\d+)? [KMGTP]?i?B\)")
"""Interface counters (ifconfig), which count whatever else the host has sent."""
PADDING = re.compile(r"(?<=\S) {2,}")
"""Column padding of the CLI's tables, which follows the width of what it pads."""


class Normaliser:
    """Placeholders for what differs between any two Docker hosts. Stateful: ids
    and MACs keep their numbers for the normaliser's life."""

    def __init__(self, literals: Mapping[str, str] | None = None) -> None:
        self._ids: dict[str, int] = {}
        self._macs: dict[str, int] = {}
        self._veths: dict[str, int] = {}
        self._literals = sorted((literals or {}).items(), key=lambda kv: -len(kv[0]))
        """What a host prints of itself (its address): text -> placeholder."""

    def text(self, raw: str) -> str:
        out = raw
        for literal, placeholder in self._literals:
            out = re.sub(rf"(?<![\w.]){re.escape(literal)}(?![\w.])", placeholder, out)
        out = FULL_ID.sub(lambda m: f"<ID{self._id_number(m.group())}>", out)
        out = SHORT_ID.sub(lambda m: f"<ID{self._id_number(m.group())}:12>", out)
        out = MAC.sub(lambda m: f"<MAC{self._number(self._macs, m.group().lower())}>", out)
        out = VETH.sub(lambda m: f"<VETH{self._number(self._veths, m.group())}>", out)
        out = RFC3339.sub("<TIME>", out)
        out = GO_TIME.sub("<TIME>", out)
        out = HUMAN_DURATION.sub("<DURATION>", out)
        out = MILLISECONDS.sub("<MS>", out)
        out = PEER_INDEX.sub("@if<N>", out)
        out = COUNTER.sub(r"\1\2<N>", out)
        out = BYTE_SIZE.sub("(<SIZE>)", out)
        return "\n".join(PADDING.sub("   ", line).rstrip() for line in out.split("\n"))

    def _id_number(self, hex_id: str) -> int:
        """A full id and its 12-character prefix share a number."""
        return self._number(self._ids, hex_id[:12])

    @staticmethod
    def _number(seen: dict[str, int], key: str) -> int:
        return seen.setdefault(key, len(seen) + 1)


def normalise_all(texts: list[str], literals: Mapping[str, str] | None = None) -> list[str]:
    """`texts` through one normaliser, in order."""
    normaliser = Normaliser(literals)
    return [normaliser.text(t) for t in texts]

