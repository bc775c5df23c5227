"""cnm-emulator: Docker's container networking, emulated on real namespaces.

    from emulator import Lab
    with Lab.default() as lab:
        h1 = lab.host("h1")
        front = h1.networks.create("front", subnet="10.10.0.0/24")
        web = h1.containers.run("web", network="front")
        print(web.exec(["ip", "-br", "addr"]).stdout)
"""

from emulator.errdefs import DockerError
from emulator.lab import ContainerHandle, DockerHost, Lab, LabError, NetworkHandle

__all__ = ["ContainerHandle", "DockerHost", "DockerError", "Lab", "LabError", "NetworkHandle"]
