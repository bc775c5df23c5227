"""Docker's wire JSON (Engine API v1.45), built from the engine's state.

One module per kind: containers, networks, swarm. Nothing else in the project
writes these dicts; the engine keeps plain data and the API shows it.
"""
