"""Assertions the engine's unit tests share."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from emulator import errdefs as err
from emulator.cnm.engine import Engine


@contextmanager
def docker_error(cls: type[err.DockerError], status: int, message: str):
    """Expect exactly `cls` (not a subclass) with Docker's status and message."""
    with pytest.raises(err.DockerError) as info:
        yield info
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value.message}"
    assert info.value.status == status
    assert info.value.message == message


def engine_state(engine: Engine) -> tuple:
    """Everything a refused request must leave as it was: kernel, IPAM, CNM state."""
    fabric = engine.fabric
    pools = engine.addresses.pools()
    return (
        sorted(fabric.links),
        sorted(fabric.sandboxes),
        fabric.ruleset,
        [p.id for p in pools],
        {p.id: engine.addresses.allocated_addresses(p.id) for p in pools},
        sorted(n.name for n in engine.networks.values()),
    )
