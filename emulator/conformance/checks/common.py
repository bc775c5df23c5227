"""Small helpers shared by the checks."""

from __future__ import annotations

from collections.abc import Callable

from emulator.conformance.registry import CheckFailed
from emulator.conformance.targets import Target


def needs(*features: str) -> Callable[[Target], str | None]:
    """applies(): skipped with the driver's reason when it lacks one of `features`."""

    def applies(target: Target) -> str | None:
        return target.caps.missing(*features)

    return applies


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
