"""Waiting for a condition in an experiment, without a fixed sleep.

A real dockerd does some things a moment after it answers (gossip between swarm
nodes, deferred cleanup); the emulated engine does them at once. Experiments poll
for the outcome instead of sleeping for a guess: quickly at first, then less often.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], object], timeout: float, why: Callable[[], str]) -> None:
    """Poll `condition` until it is truthy; past `timeout` seconds, fail with `why()`."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout:.0f} s: {why()}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
