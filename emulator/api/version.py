"""The API versions the emulated hosts serve, and dockerd's check of a client's one.

A path may start with the client's version (`/v1.45/networks`); dockerd takes any
`[0-9.]+` there and refuses, with 400, one outside [MIN_API_VERSION, API_VERSION]
(api/server/middleware/version.go). Versions compare as dockerd's
api/types/versions does: dot-separated numbers, a missing or empty part (or one
too large for an int) counting as 0.
"""

from __future__ import annotations

import re

from emulator.errdefs import InvalidParameter

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "28.2.2-cnm"
VERSION_PREFIX = re.compile(r"^/v([0-9.]+)(/.*)$")


def _part(text: str) -> int:
    """Go's strconv.Atoi, its error ignored: 0 for "" and for what overflows an int."""
    value = int(text) if text.isdigit() else 0
    return value if value < 2 ** 63 else 0


def compare(left: str, right: str) -> int:
    """-1, 0 or 1 as `left` is older than, the same as or newer than `right`."""
    lefts, rights = left.split("."), right.split(".")
    for i in range(max(len(lefts), len(rights))):
        a = _part(lefts[i]) if i < len(lefts) else 0
        b = _part(rights[i]) if i < len(rights) else 0
        if a != b:
            return 1 if a > b else -1
    return 0


def check_client_version(version: str | None) -> None:
    """dockerd's answer to a client asking for an API version it does not serve."""
    if version is None:
        return
    if compare(version, MIN_API_VERSION) < 0:
        raise InvalidParameter(f"client version {version} is too old. Minimum supported API "
                               f"version is {MIN_API_VERSION}, please upgrade your client to "
                               "a newer version")
    if compare(version, API_VERSION) > 0:
        raise InvalidParameter(f"client version {version} is too new. Maximum supported API "
                               f"version is {API_VERSION}")
