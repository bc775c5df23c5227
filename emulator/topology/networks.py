"""A host's user-defined networks, as `docker network create` would receive them.

Only syntax is checked here: the engine applies Docker's IPAM rules with Docker's own
messages, in a dry run. Option and label values become the strings Docker stores, and
options that name a kernel interface are held to the kernel's limit on names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .addresses import check_address_syntax, check_cidr_syntax
from .errors import FieldPath, ProblemLog
from .model import NetworkSpec

INTERFACE_NAME_OPTIONS = ("com.docker.network.bridge.name", "parent")
IFNAMSIZ = 16


def docker_string(value: str | float) -> str:
    """How Docker stores an option given as a YAML scalar: true -> "true", 1500 -> "1500"."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def build_networks(
    raw: Mapping[str, Mapping[str, Any]], path: FieldPath, log: ProblemLog
) -> tuple[NetworkSpec, ...]:
    return tuple(build_network(name, spec, (*path, name), log) for name, spec in raw.items())


def build_network(
    name: str, raw: Mapping[str, Any], path: FieldPath, log: ProblemLog
) -> NetworkSpec:
    for field in ("subnet", "ip_range"):
        if field in raw:
            check_cidr_syntax(raw[field], (*path, field), log)
    if "gateway" in raw:
        check_address_syntax(raw["gateway"], (*path, "gateway"), log)
    for aux_name, address in raw.get("aux_addresses", {}).items():
        check_address_syntax(address, (*path, "aux_addresses", aux_name), log)
    options = {key: docker_string(value) for key, value in raw.get("options", {}).items()}
    for option in INTERFACE_NAME_OPTIONS:
        if option in options:
            check_interface_name(options[option], (*path, "options", option), log)
    labels = {key: docker_string(value) for key, value in raw.get("labels", {}).items()}
    fields = {key: raw[key] for key in ("driver", "subnet", "gateway", "ip_range", "subnet6",
                                        "gateway6") if key in raw}
    flags = {key: raw[key] for key in ("internal", "attachable", "ipv6", "ipv4") if key in raw}
    return NetworkSpec(
        name,
        **fields,
        **flags,
        aux_addresses=raw.get("aux_addresses", {}),
        options=options,
        labels=labels,
    )


def check_interface_name(name: str, path: FieldPath, log: ProblemLog) -> bool:
    """The kernel's rule (dev_valid_name): 1 to 15 bytes, not . or .., no '/', ':' or space."""
    allowed = [f"1 to {IFNAMSIZ - 1} bytes (kernel IFNAMSIZ), without '/', ':' or whitespace"]
    size = len(name.encode())
    if size >= IFNAMSIZ:
        log.report(path, f"interface name {name!r} is {size} bytes long", allowed=allowed)
    elif not name or name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        log.report(path, f"invalid interface name {name!r}", allowed=allowed)
    else:
        return True
    return False
