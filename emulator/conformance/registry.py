"""The registry of conformance checks: an id, the rule in one line, when it applies.

A check is a function of a `CheckContext` that raises `CheckFailed` (an
AssertionError, so pytest reports it as a failure) with what the packets or the
error text showed. `applies(target)` returns the reason the check does not apply
to a driver (it is then skipped with that reason), or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.conformance.context import CheckContext
    from emulator.conformance.targets import Target

CHECK_ID = re.compile(r"^CNM-[A-Z]+-\d{2}$")
# Report order: the life of a network first, then its traffic, then what it leaves.
AREAS = ("NET", "EP", "IPAM", "REACH", "ISO", "INT", "MTU", "SCOPE", "KERN", "RB")

Applies = Callable[["Target"], "str | None"]
CheckFn = Callable[["CheckContext"], None]


class CheckFailed(AssertionError):
    """The driver broke the rule; the message says what was observed."""


@dataclass(frozen=True)
class Check:
    id: str
    statement: str
    applies: Applies
    run: CheckFn

    @property
    def label(self) -> str:
        """The test name: id and statement."""
        return f"{self.id} {self.statement}"

    @property
    def area(self) -> str:
        return self.id.split("-")[1]


_CHECKS: dict[str, Check] = {}


def always(target: Target) -> str | None:
    return None


def check(check_id: str, statement: str, applies: Applies = always) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under `check_id` with its one-line `statement`."""
    if not CHECK_ID.match(check_id):
        raise ValueError(f"check id {check_id!r} is not of the form CNM-AREA-NN")
    if not statement or "\n" in statement:
        raise ValueError(f"{check_id}: the statement must be one non-empty line")

    def wrap(fn: CheckFn) -> CheckFn:
        if check_id in _CHECKS and _CHECKS[check_id].run is not fn:
            raise ValueError(f"check {check_id} is registered twice")
        _CHECKS[check_id] = Check(check_id, statement, applies, fn)
        return fn

    return wrap


def order(item: Check) -> tuple[int, str]:
    return (AREAS.index(item.area) if item.area in AREAS else len(AREAS), item.id)


def all_checks() -> list[Check]:
    """Every registered check (the shipped ones included), in report order."""
    from emulator.conformance import checks  # noqa: F401  (registers the shipped checks)

    return sorted(_CHECKS.values(), key=order)


def get(check_id: str) -> Check:
    for item in all_checks():
        if item.id == check_id:
            return item
    raise KeyError(f"no check {check_id}; known: {', '.join(c.id for c in all_checks())}")
