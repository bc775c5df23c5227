"""`cnm run differential`: the same scenarios on an emulated Docker host and a real
dockerd, every difference listed and classified (version, kernel, emulator defect)."""

from emulator.experiments.differential import experiment  # noqa: F401  (registers it)
