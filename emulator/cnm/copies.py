"""Copies of networks and containers that a reader can render while writers go on.

Writers change a network's endpoints and a container's attachments, endpoints
and state under the engine's lock, which they may hold for long (a plugin's
answer, a process to start). Readers (`docker network ls`, `ps`, `inspect`)
take no lock: they copy what they read. Each copy is made by C code that runs
without releasing the GIL (a dict's copy, a `__dict__`'s update), so a writer
cannot change a dictionary while it is being copied, and the reader then
iterates its own copy. Everything else of these objects is either never changed
after they are made or replaced whole (an endpoint, an attachment, a sandbox).
"""

from __future__ import annotations

from collections.abc import Mapping

from emulator.cnm.model import Container, Network


def network_copy(network: Network) -> Network:
    copied = object.__new__(Network)
    copied.__dict__.update(network.__dict__)
    copied.endpoints = dict(network.endpoints)
    return copied


def container_copy(container: Container) -> Container:
    copied = object.__new__(Container)
    copied.__dict__.update(container.__dict__)
    copied.attachments = dict(container.attachments)
    copied.endpoints = dict(container.endpoints)
    return copied


def present(objects: Mapping[str, object]) -> list:
    """The objects of a registry at one instant (list() of a dict's values is one C call)."""
    return list(objects.values())
