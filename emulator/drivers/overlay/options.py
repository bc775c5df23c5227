"""Overlay network options: the VNI the swarm allocated, the MTU, encryption."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from emulator.drivers.base import GENERIC_OPTION_NAMES, refuse_unknown_options
from emulator.errdefs import DockerError
from emulator.swarm.vni import VNI_LIST, parse_vni_list

MTU = "com.docker.network.driver.mtu"
ENCRYPTED = "encrypted"
ALLOWED = (VNI_LIST, MTU, ENCRYPTED, *GENERIC_OPTION_NAMES)
DEFAULT_MTU = 1450


@dataclass(frozen=True)
class OverlayOptions:
    vni: int | None
    mtu: int
    encrypted: bool = False


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
