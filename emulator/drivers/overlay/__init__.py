"""The overlay driver: swarm-scoped networks spanning hosts over VXLAN."""

from emulator.drivers.overlay.driver import OverlayDriver

__all__ = ["OverlayDriver"]
