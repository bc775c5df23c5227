"""`cnm run differential`: the same scenarios on emulated and real Docker hosts, side by side."""
