"""The driver conformance kit: checks that a network driver behaves as Docker's CNM says.

Each check has an id (CNM-AREA-NN), a one-line statement of its rule, the features it
needs (a check a driver cannot apply is skipped with the reason) and a verdict taken
from packets and error text. Run it as `cnm conformance --driver NAME`, as
`pytest --cnm-driver NAME` (plugin `emulator.conformance.pytest_plugin`), or from Python:

    from emulator.conformance import DriverRun, run_kit
"""

from emulator.conformance.registry import Check, CheckFailed, all_checks, check
from emulator.conformance.runner import DriverRun, run_kit
from emulator.conformance.targets import Target, resolve

__all__ = ["Check", "CheckFailed", "DriverRun", "Target", "all_checks", "check", "resolve",
           "run_kit"]
