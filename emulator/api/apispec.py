"""Docker's Engine API specification (Swagger 2.0, v1.45), shipped with the package.

The server checks request bodies against the spec's request schemas
(`emulator.api.bodies`); the tests check response bodies against its
response schemas. The file is `spec/docker-engine-api-v1.45.yaml` (see
`spec/NOTICE`), read once per process.
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

SPEC_NAME = "docker-engine-api-v1.45.yaml"


def spec_file() -> Traversable:
    return resources.files("emulator.api").joinpath("spec", SPEC_NAME)


@functools.cache
def load() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(spec_file().read_text(encoding="utf-8"), Loader=loader)


def definition(name: str) -> dict[str, Any]:
    return load()["definitions"][name]


def request_schema(method: str, template: str) -> dict[str, Any]:
    """The schema of the body parameter of `method template` (e.g. POST /networks/create)."""
    operation = load()["paths"][template][method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "body":
            return parameter["schema"]
    raise KeyError(f"{method} {template} takes no body in the spec")
