"""Macvlan network options and the checks dockerd's macvlan driver makes (Docker 28).

Docker ignores keys it does not know; like the bridge driver here, unknown keys are
refused. `com.docker.network.driver.mtu` is accepted and, as in Docker, not honoured:
a macvlan takes its parent's MTU.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from emulator.drivers.base import GENERIC_OPTION_NAMES, refuse_unknown_options
from emulator.errdefs import DockerError

PARENT = "parent"
MODE = "macvlan_mode"
MTU = "com.docker.network.driver.mtu"
ALLOWED = (PARENT, MODE, MTU, *GENERIC_OPTION_NAMES)
MODES = ("bridge", "private", "vepa", "passthru")
DEFAULT_MODE = "bridge"
MIN_VLAN, MAX_VLAN = 1, 4094


@dataclass(frozen=True)
class MacvlanOptions:
    parent: str
    mode: str


def parse_options(options: Mapping[str, str]) -> MacvlanOptions:
    """Docker's parseNetworkOptions: the mode first, then the loopback parent."""
    refuse_unknown_options(options, ALLOWED, "macvlan")
    mode = options.get(MODE) or DEFAULT_MODE
    if mode not in MODES:
        raise DockerError(
            f"requested macvlan mode '{mode}' is not valid, 'bridge' mode is the macvlan "
            "driver default")
    parent = options.get(PARENT, "")
    if parent == "lo":
        raise DockerError("loopback interface is not a valid macvlan parent link")
    return MacvlanOptions(parent, mode)


def parse_vlan(parent: str) -> tuple[str, int]:
    """Docker's parseVlan for a parent named like eth0.10: (base interface, VLAN id)."""
    parts = parent.split(".")
    if len(parts) != 2:
        raise DockerError("required interface name format is: name.vlan_id, ex. eth0.10 for "
                          f"vlan 10, instead received {parent}")
    base, vlan = parts
    if not re.fullmatch(r"[+-]?[0-9]+", vlan) or not -(2**63) <= int(vlan) < 2**63:
        raise DockerError(f"unable to parse a valid vlan id from: {vlan} (ex. eth0.10 for "
                          "vlan 10)")
    return base, int(vlan)
