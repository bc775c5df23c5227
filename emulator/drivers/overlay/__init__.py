"""The overlay driver: swarm-scoped networks spanning hosts over VXLAN."""

from emulator.drivers.overlay.driver import OverlayDriver, register

__all__ = ["OverlayDriver", "register"]
