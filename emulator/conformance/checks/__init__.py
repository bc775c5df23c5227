"""The shipped checks; importing this package registers them."""

from emulator.conformance.checks import (  # noqa: F401
    addressing,
    leftovers,
    lifecycle,
    scope,
    traffic,
)
