"""Check recorded Engine API exchanges against Docker's Swagger 2.0 spec (v1.45).

The emulator's server appends one JSON line per exchange when $CNM_API_RECORD is
set (see emulator/api/server.py). `check_exchange` validates one such entry:

* the operation (method + path template) must exist in the spec;
* a success status must be documented for it (or a `default` response);
* an error status (>= 400) must carry Docker's ErrorResponse `{"message": ...}`;
* a JSON body is validated with jsonschema's Draft4Validator against the response
  schema, `$ref`s resolved against the spec's `definitions`, and Swagger's
  `x-nullable: true` turned into "null is also allowed";
* a missing body where the spec defines a JSON schema is an error, unless the
  endpoint streams (exec start, attach, logs, image pull), the exchange is the
  header half of a delayed answer (`later`), or the request was a HEAD.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from emulator.api import apispec

VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")
STREAMING = frozenset({
    "/exec/{id}/start", "/containers/{id}/attach", "/containers/{id}/logs", "/images/create",
})
HIJACKABLE = frozenset({"/exec/{id}/start", "/containers/{id}/attach"})
"""dockerd answers these with `101 UPGRADED` when the client asks `Upgrade: tcp`
(the docker CLI and docker-py always do); the spec lists 101 for attach only."""

DOCKERD_NULLS: dict[tuple[str | int, ...], str] = {
    ("definitions", "IPAM", "properties", "Options"):
        "predefined networks' IPAM options are a nil map: dockerd sends null",
    ("definitions", "EndpointSettings", "properties", "Links"):
        "a nil slice unless --link was used",
    ("definitions", "EndpointSettings", "properties", "Aliases"):
        "a nil slice unless aliases were given",
    ("definitions", "EndpointSettings", "properties", "DNSNames"):
        "nil on networks that are not user-defined (bridge, host, none)",
    ("definitions", "HostConfig", "allOf", 1, "properties", "ExtraHosts"):
        "the client's nil slice kept as sent (docker-py sends none without extra hosts)",
    ("definitions", "HostConfig", "allOf", 1, "properties", "Links"):
        "a nil slice without legacy links (daemon/inspect.go rebuilds it from its link index)",
    ("definitions", "HostConfig", "allOf", 1, "properties", "Binds"):
        "a nil slice without -v (the client's value kept as sent)",
    ("definitions", "HostConfig", "allOf", 1, "properties", "CapAdd"):
        "strslice.StrSlice: a nil slice without --cap-add",
    ("definitions", "HostConfig", "allOf", 1, "properties", "CapDrop"):
        "strslice.StrSlice: a nil slice without --cap-drop",
    ("definitions", "ContainerConfig", "properties", "Entrypoint"):
        "a nil slice for images without an ENTRYPOINT",
    ("definitions", "ContainerConfig", "properties", "Volumes"):
        "a nil map for images without VOLUME",
    ("definitions", "SystemInfo", "properties", "GenericResources"):
        "a nil slice unless the daemon advertises resources",
    ("definitions", "PluginsInfo", "properties", "Authorization"):
        "a nil slice without authorization plugins",
    ("definitions", "ServiceUpdateResponse", "properties", "Warnings"):
        "swarm.ServiceUpdateResponse.Warnings has no omitempty: a nil slice without warnings",
    ("paths", "/exec/{id}/json", "get", "responses", 200, "schema", "properties", "ExitCode"):
        "backend.ExecInspect.ExitCode is *int: null while the process runs",
    ("paths", "/containers/prune", "post", "responses", 200, "schema", "properties",
     "ContainersDeleted"):
        "container.PruneReport.ContainersDeleted is a nil slice when nothing was removed",
}
"""Where dockerd's Go encoding sends `null` though the spec has no `x-nullable`
(nil slices, maps and pointers). The default check accepts null there, as a client
of the real daemon must; `strict=True` checks the spec's letter."""


def load_spec() -> dict[str, Any]:
    """The spec shipped with the emulator (emulator/api/spec/)."""
    return apispec.load()


def nullable(schema: Any) -> Any:
    """A copy of `schema` in which every `x-nullable: true` schema also accepts null.

    Draft 4 ignores the siblings of `$ref`, so a nullable schema becomes
    `{"anyOf": [{"type": "null"}, <schema without the flag>]}`.
    """
    if isinstance(schema, list):
        return [nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: nullable(value) for key, value in schema.items()}
    if converted.pop("x-nullable", False) is True:
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


@functools.cache
def prepared_spec(strict: bool = False) -> dict[str, Any]:
    """The spec with x-nullable applied; unless `strict`, DOCKERD_NULLS are nullable too."""
    spec = copy.deepcopy(load_spec())
    if not strict:
        for location in DOCKERD_NULLS:
            node: Any = spec
            for key in location:
                node = node[key]
            node["x-nullable"] = True
    return nullable(spec)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p)
                                    for p in parts if p) + "$")


@functools.cache
def _templates() -> list[tuple[int, str, re.Pattern[str]]]:
    """Every spec path, literal ones first (so /networks/create beats /networks/{id})."""
    rows = [(template.count("{"), template, _template_regex(template))
            for template in load_spec()["paths"]]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def strip_version(path: str) -> str:
    return VERSION_PREFIX.sub("", path.partition("?")[0], count=1)


def find_operation(method: str, path: str,
                   strict: bool = False) -> tuple[str, dict[str, Any]] | None:
    """(template, operation) of the spec for this request, or None."""
    path = strip_version(path)
    method = method.lower()
    for _, template, regex in _templates():
        if regex.match(path):
            operation = prepared_spec(strict)["paths"][template].get(method)
            if isinstance(operation, dict):
                return template, operation
    return None


def response_spec(operation: dict[str, Any], status: int) -> dict[str, Any] | None:
    responses = {str(code): value for code, value in operation.get("responses", {}).items()}
    return responses.get(str(status), responses.get("default"))


def _produces_json(operation: dict[str, Any]) -> bool:
    produces = operation.get("produces", load_spec().get("produces", []))
    return "application/json" in produces


_validators: dict[tuple[int, bool], tuple[dict[str, Any], Draft4Validator]] = {}


def _validator(schema: dict[str, Any], strict: bool) -> Draft4Validator:
    """One validator per prepared schema (they live as long as the cached spec)."""
    key = (id(schema), strict)
    cached = _validators.get(key)
    if cached is None or cached[0] is not schema:
        root = {**schema, "definitions": prepared_spec(strict)["definitions"]}
        cached = _validators[key] = (schema, Draft4Validator(root))
    return cached[1]


def validate(body: Any, schema: dict[str, Any], strict: bool = False) -> list[str]:
    """Draft 4 validation of `body` against a schema of the prepared spec; `$ref`s
    (`#/definitions/...`) resolve against the spec's definitions."""
    validator = _validator(schema, strict)
    problems = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "<body>"
        problems.append(f"{where}: {error.message}")
    return problems


ERROR_SCHEMA: dict[str, Any] = {"$ref": "#/definitions/ErrorResponse"}


def check_exchange(entry: dict[str, Any], strict: bool = False) -> list[str]:
    """Every way this recorded exchange departs from the spec (empty: it conforms)."""
    method = str(entry.get("method", "")).upper()
    raw_path = str(entry.get("path", ""))
    status = entry.get("status")
    body = entry.get("body")
    label = f"{method} {raw_path} -> {status}"
    if not isinstance(status, int) or isinstance(status, bool):
        return [f"{label}: no integer status"]
    found = find_operation(method, raw_path, strict)
    if found is None:
        return [f"{label}: no such operation in the v1.45 spec"]
    template, operation = found

    if status >= 400:
        if body is None:
            return [f"{label}: an error without a JSON body (Docker sends ErrorResponse)"]
        return [f"{label}: {p}" for p in validate(body, ERROR_SCHEMA, strict)]

    if status == 101 and template in HIJACKABLE:
        response: dict[str, Any] | None = {}
    else:
        response = response_spec(operation, status)
    if response is None:
        documented = ", ".join(str(c) for c in operation.get("responses", {}))
        return [f"{label}: status {status} is not documented for {method} {template} "
                f"(documented: {documented})"]
    schema = response.get("schema")
    if entry.get("later") or method == "HEAD":
        return []
    if body is None:
        if schema is not None and _produces_json(operation) and template not in STREAMING:
            return [f"{label}: no JSON body, but the spec defines one for {method} {template}"]
        return []
    if schema is None:
        return [f"{label}: a JSON body where the spec defines none: {json.dumps(body)[:200]}"]
    return [f"{label}: {p}" for p in validate(body, schema, strict)]


def read_entries(path: str | Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                entries.append({"method": "?", "path": f"<line {number}: {exc}>",
                                "status": None})
    return entries


def check_all(path: str | Path, strict: bool = False) -> list[str]:
    """The problems of every exchange recorded in the JSON-lines file `path`."""
    problems: list[str] = []
    for entry in read_entries(path):
        problems.extend(check_exchange(entry, strict))
    return problems


def operations_of(path: str | Path) -> set[tuple[str, str]]:
    """(METHOD, template) of every recorded exchange that matches the spec."""
    covered = set()
    for entry in read_entries(path):
        found = find_operation(str(entry.get("method", "")), str(entry.get("path", "")))
        if found is not None:
            covered.add((str(entry["method"]).upper(), found[0]))
    return covered
