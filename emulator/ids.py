"""Identifiers and timestamps shaped as Docker's: ids, RFC 3339 times, MAC addresses.

Ground floor: no import of the project, so every package may use it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from ipaddress import IPv4Address

BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    """A 64-hex-digit identifier, the shape Docker gives networks, endpoints, containers."""
    return secrets.token_hex(32)


def base36_id(length: int) -> str:
    """A random lowercase base-36 string, the shape of swarmkit's ids and token parts."""
    return "".join(secrets.choice(BASE36) for _ in range(length))


def docker_timestamp() -> str:
    """RFC 3339 with nanoseconds, as dockerd writes `Created`."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond * 1000:09d}Z"


def docker_time_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of a UTC time as dockerd writes it (RFC 3339, up to
    nine fraction digits); None for no time (empty, or Go's zero time 0001-01-01)."""
    if not text or text.startswith("0001-"):
        return None
    main, _, fraction = text.rstrip("Z").partition(".")
    seconds = int(datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])


def random_mac() -> str:
    """A random unicast, locally administered MAC, as Docker 28 gives container interfaces."""
    raw = bytearray(secrets.token_bytes(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def mac_from_ip(address: IPv4Address) -> str:
    """Docker's GenerateMACFromIP, still used for overlay endpoints in Docker 28."""
    return ":".join(f"{b:02x}" for b in (0x02, 0x42, *address.packed))
