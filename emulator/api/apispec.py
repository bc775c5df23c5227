"""Docker's Engine API specification (Swagger 2.0, v1.45), shipped with the package.

The server checks request bodies against the spec's request schemas
(`emulator.api.bodies`); the tests check response bodies against its
response schemas. The file is `spec/docker-engine-api-v1.45.yaml` (see
`spec/NOTICE`), read once per process. A few request fields of later API versions,
which the Docker 28 CLI sends whatever version it negotiated, are added to their
request schemas (LATER_REQUEST_FIELDS).
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

SPEC_NAME = "docker-engine-api-v1.45.yaml"

LATER_REQUEST_FIELDS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/networks/create"): {
        "EnableIPv4": {"type": "boolean", "description": "API 1.48 (Docker 28): --ipv4"},
    },
}
"""(method, path) -> properties added to the body's schema."""


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
            return _with_later_fields(parameter["schema"], method, template)
    raise KeyError(f"{method} {template} takes no body in the spec")


def _with_later_fields(schema: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    later = LATER_REQUEST_FIELDS.get((method.upper(), template))
    if not later or "properties" not in schema:
        return schema
    return {**schema, "properties": {**schema["properties"], **later}}
