"""The conformance checks as pytest items: one per check, named by id and statement.

Collected by itself when pytest runs with `--cnm-driver NAME` (see pytest_plugin.py); it is
not a test module of this repository (its name does not start with test_).
"""

from __future__ import annotations

import pytest

from emulator.conformance.registry import all_checks


@pytest.mark.parametrize("check", all_checks(), ids=lambda c: c.label)
def test_cnm_conformance(check, cnm_kit):
    cnm_kit.run_item(check)
