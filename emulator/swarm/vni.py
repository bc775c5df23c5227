"""VXLAN network identifiers: the swarm allocates them, the overlay driver uses them.

A swarm network's VNI travels in its driver options (`vxlanid_list`), as in
swarmkit's network allocator; the first automatic one is 4096.
"""

from __future__ import annotations

from emulator.errdefs import InvalidParameter

VNI_LIST = "com.docker.network.driver.overlay.vxlanid_list"
MIN_VNI, MAX_VNI = 1, (1 << 24) - 1
FIRST_SWARM_VNI = 4096


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
