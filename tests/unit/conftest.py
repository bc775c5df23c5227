"""Shared fixtures of the unit tests: an engine over a fake fabric."""

from __future__ import annotations

import pytest

from emulator.cnm.engine import Engine
from emulator.fabric.fake import FakeFabric


@pytest.fixture
def fabric() -> FakeFabric:
    return FakeFabric("h1")


@pytest.fixture
def engine(fabric: FakeFabric) -> Engine:
    return Engine("h1", fabric)
