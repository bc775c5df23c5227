"""Overlay network options: the VNI the swarm allocated, the MTU, encryption."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from emulator.drivers.base import GENERIC_OPTION_NAMES, refuse_unknown_options
from emulator.errdefs import DockerError, InvalidParameter

VNI_LIST = "com.docker.network.driver.overlay.vxlanid_list"
MTU = "com.docker.network.driver.mtu"
ENCRYPTED = "encrypted"
ALLOWED = (VNI_LIST, MTU, ENCRYPTED, *GENERIC_OPTION_NAMES)
DEFAULT_MTU = 1450
MIN_VNI, MAX_VNI = 1, (1 << 24) - 1
FIRST_SWARM_VNI = 4096


@dataclass(frozen=True)
class OverlayOptions:
    vni: int | None
    mtu: int
    encrypted: bool = False


def parse_vni_list(raw: str) -> list[int]:
    """vxlanid_list: comma-separated VNIs (one per subnet; the emulator has one subnet)."""
    vnis = []
    for item in raw.split(","):
        try:
            vni = int(item.strip())
        except ValueError:
            raise InvalidParameter(f"invalid VXLAN ID value: {item.strip()}") from None
        if not MIN_VNI <= vni <= MAX_VNI:
            raise InvalidParameter(f"VXLAN ID {vni} is out of range (1-16777215)")
        vnis.append(vni)
    return vnis


def parse_options(options: Mapping[str, str]) -> OverlayOptions:
    refuse_unknown_options(options, ALLOWED, "overlay")
    mtu = DEFAULT_MTU
    if options.get(MTU):
        try:
            mtu = int(options[MTU])
        except ValueError:
            raise DockerError(f'strconv.Atoi: parsing "{options[MTU]}": invalid syntax') from None
    vnis = parse_vni_list(options[VNI_LIST]) if options.get(VNI_LIST) else []
    return OverlayOptions(vnis[0] if vnis else None, mtu, ENCRYPTED in options)
