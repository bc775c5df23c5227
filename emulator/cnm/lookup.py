"""Finding a network or container by reference, in Docker's order.

dockerd resolves a reference as a full ID, then an exact name, then an ID
prefix, and says so when a prefix or name is ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from emulator.errdefs import InvalidParameter, NotFound

T = TypeVar("T")


def find(
    items: Iterable[T],
    ref: str,
    id_of: Callable[[T], str],
    name_of: Callable[[T], str],
    not_found: str,
    kind: str,
) -> T:
    candidates = list(items)
    for item in candidates:
        if id_of(item) == ref:
            return item
    named = [item for item in candidates if name_of(item) == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise InvalidParameter(
            f"{kind} {ref} is ambiguous ({len(named)} matches found based on name)"
        )
    if ref:
        prefixed = [item for item in candidates if id_of(item).startswith(ref)]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            if kind == "container":
                raise InvalidParameter(f"Multiple IDs found with provided prefix: {ref}")
            raise InvalidParameter(
                f"{kind} {ref} is ambiguous ({len(prefixed)} matches found based on ID prefix)"
            )
    raise NotFound(not_found)
