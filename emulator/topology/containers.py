"""A host's containers and the networks they attach to.

`network: x` and `networks: [x, y]` are shorthands for the mapping form; a container
with neither is on Docker's default `bridge`. Every attachment must name a network
the host declares or one Docker predefines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .addresses import check_address_syntax
from .errors import FieldPath, ProblemLog, did_you_mean
from .model import PREDEFINED_NETWORKS, Attachment, ContainerSpec

_DEFAULT_NETWORK = "bridge"


def build_containers(
    raw: Mapping[str, Mapping[str, Any]],
    declared: Sequence[str],
    path: FieldPath,
    log: ProblemLog,
) -> tuple[ContainerSpec, ...]:
    known = [*declared, *(name for name in PREDEFINED_NETWORKS if name not in declared)]
    return tuple(
        build_container(name, spec, known, (*path, name), log) for name, spec in raw.items()
    )


def build_container(
    name: str, raw: Mapping[str, Any], known: Sequence[str], path: FieldPath, log: ProblemLog
) -> ContainerSpec:
    attachments = []
    for network, settings, where in _requested(raw, path):
        if network not in known:
            log.report(
                where, f"unknown network {network!r}{did_you_mean(network, known)}", allowed=known
            )
        ip = settings.get("ip")
        if ip is not None:
            check_address_syntax(ip, (*where, "ip"), log)
        attachments.append(Attachment(network, ip, tuple(settings.get("aliases", ()))))
    command = raw.get("command")
    return ContainerSpec(
        name,
        tuple(attachments),
        hostname=raw.get("hostname"),
        command=None if command is None else tuple(command),
    )


def _requested(
    raw: Mapping[str, Any], path: FieldPath
) -> list[tuple[str, Mapping[str, Any], FieldPath]]:
    if "network" in raw:
        return [(raw["network"], {}, (*path, "network"))]
    networks = raw.get("networks")
    if isinstance(networks, Mapping):
        return [(name, settings, (*path, "networks", name)) for name, settings in networks.items()]
    if networks is not None:
        return [(name, {}, (*path, "networks", index)) for index, name in enumerate(networks)]
    return [(_DEFAULT_NETWORK, {}, path)]
