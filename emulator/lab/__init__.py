"""Labs: the world namespace, its Mininet hosts, their engines, and cleanup."""

from emulator.lab.dockerhost import ContainerHandle, DockerHost, NetworkHandle
from emulator.lab.lab import Lab, LabError

__all__ = ["ContainerHandle", "DockerHost", "Lab", "LabError", "NetworkHandle"]
