"""`cnm run differential`: the same scenarios on an emulated Docker host and a real
dockerd, every difference listed and classified (version, kernel, emulator defect)."""
