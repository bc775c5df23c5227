"""The experiments `cnm run` knows, by name.

An experiment is a function that takes a `RunContext` and returns an
`Outcome`. Kind `experiment` runs with a bare `cnm run`; kind `benchmark` only
when named (it measures speed and needs the machine to itself). An experiment names
the parameters it reads (`topology`, `lab`, ...): `cnm run` refuses one that none of
the experiments it runs takes, rather than run them as if it had not been given.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from emulator.experiments.results import Outcome, RunContext

Kind = Literal["experiment", "benchmark"]
ExperimentFn = Callable[[RunContext], Outcome]


@dataclass(frozen=True)
class Experiment:
    name: str
    kind: Kind
    summary: str
    run: ExperimentFn
    params: tuple[str, ...] = ()


# Read by RunContext for every experiment.
COMMON_PARAMS = ("seed",)

_REGISTRY: dict[str, Experiment] = {}


def register(name: str, summary: str, kind: Kind = "experiment",
             params: tuple[str, ...] = ()):
    def wrap(fn: ExperimentFn) -> ExperimentFn:
        _REGISTRY[name] = Experiment(name, kind, summary, fn, params)
        return fn

    return wrap


def _load_builtin() -> None:
    """Import every module of this package: the experiments among them register."""
    import emulator.experiments as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def experiments() -> dict[str, Experiment]:
    _load_builtin()
    return dict(_REGISTRY)
