"""cnm-emulator: Docker's container networking, emulated on real namespaces.

    from emulator import Lab
    with Lab.default() as lab:
        h1 = lab.host("h1")
        front = h1.networks.create("front", subnet="10.10.0.0/24")
        web = h1.containers.run("web", network="front")
        print(web.exec(["ip", "-br", "addr"]).stdout)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from emulator.errdefs import DockerError

if TYPE_CHECKING:
    from emulator.lab import ContainerHandle, DockerHost, Lab, LabError, NetworkHandle

__all__ = ["ContainerHandle", "DockerHost", "DockerError", "Lab", "LabError", "NetworkHandle"]


def __getattr__(name: str) -> object:
    # The lab (and with it the engine) is loaded when first asked for, so that the
    # stdlib-only programs under emulator (mesh, the plugins) do not load it.
    if name in __all__:
        return getattr(importlib.import_module("emulator.lab"), name)
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
