"""A request body's schema as dockerd's Go decoder sees it.

The spec's request schema of an endpoint, with every `$ref` and `allOf`
expanded (Go embeds structs: their fields sit beside the outer struct's),
each node carrying its Go type (`emulator.api.gotypes`). A node is a Draft 4
JSON Schema holding only what Go's decoder checks:

- `type`; `properties` (a struct's fields, matched case-insensitively by Go),
  `additionalProperties` (a map's values), `items` (a slice's elements, or a
  list of them for a fixed-size array, whose extra elements Go skips);
- `x-go`: the Go type as Go's errors spell it (pointers dereferenced);
- `x-go-struct`: a struct's name (`IPAM` for `network.IPAM`), and `x-go-folded`
  its fields by case-folded name;
- `x-go-range`: an integer kind's bounds;
- `x-go-strslice`: a `strslice.StrSlice`, which takes a string or a list of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from emulator.api import apispec
from emulator.api.gotypes import (
    EXTRA_FIELDS,
    FIELDS,
    INTEGERS,
    NAMED,
    ROOTS,
    STRSLICE,
    STRUCTS,
    TITLED,
)

Node = dict[str, Any]
Spec = dict[str, Any]

PRIMITIVES = {"string": "string", "bool": "boolean", "float64": "number"}
FORMATS = {"int64": "int64", "uint64": "uint64", "uint32": "uint32"}
ARRAY = re.compile(r"\[(\d+)\](.+)")


@functools.cache
def request_node(method: str, template: str) -> Node:
    """The Go-shaped schema of `method template`'s body (a struct at the top)."""
    return build(ROOTS[(method, template)], apispec.request_schema(method, template))


def resolve(spec: Spec | None) -> tuple[str | None, Spec]:
    """Follow a `$ref` (or a one-part `allOf`): (definition name or None, schema)."""
    name = None
    while spec is not None:
        if "$ref" in spec:
            name = spec["$ref"].rsplit("/", 1)[-1]
            spec = apispec.definition(name)
        elif "allOf" in spec and len(spec["allOf"]) == 1:
            spec = spec["allOf"][0]
        else:
            return name, spec
    return name, {}


def derive(spec: Spec) -> str:
    """The Go type a spec schema implies, where gotypes.FIELDS says nothing."""
    name, spec = resolve(spec)
    if name in STRUCTS:
        return STRUCTS[name]
    if spec.get("title") in TITLED:
        return TITLED[spec["title"]]
    kind = spec.get("type")
    if kind == "string":
        return "string"
    if kind == "boolean":
        return "bool"
    if kind == "integer":
        return FORMATS.get(spec.get("format", ""), "int")
    if kind == "number":
        return "float64"
    if kind == "array":
        return "[]" + derive(spec.get("items") or {})
    values = spec.get("additionalProperties")
    if kind == "object" and isinstance(values, dict) and not spec.get("properties"):
        return "map[string]" + derive(values)
    raise ValueError(f"no Go type for the schema {name or spec.get('title') or sorted(spec)}: "
                     "name it in emulator/api/gotypes.py")


def build(go_type: str, spec: Spec | None) -> Node:
    """The node of a value of `go_type`; `spec` (the spec's schema of it, if any)
    gives a struct's fields."""
    shown = go_type.lstrip("*")
    if shown == STRSLICE:
        return {"x-go": "string", "x-go-strslice": True}
    if shown.startswith("[]"):
        return {"type": "array", "x-go": shown, "items": build(shown[2:], _part(spec, "items"))}
    fixed = ARRAY.fullmatch(shown)
    if fixed:
        item = build(fixed.group(2), _part(spec, "items"))
        return {"type": "array", "x-go": shown, "items": [item] * int(fixed.group(1))}
    if shown.startswith("map["):
        values = shown.partition("]")[2]
        return {"type": "object", "x-go": shown,
                "additionalProperties": build(values, _part(spec, "additionalProperties"))}
    if shown == "struct {}":
        return {"type": "object", "x-go": shown}
    if shown in NAMED:
        return {**build(NAMED[shown], spec), "x-go": shown}
    if shown in PRIMITIVES:
        return {"type": PRIMITIVES[shown], "x-go": shown}
    if shown in INTEGERS:
        return {"type": "integer", "x-go": shown, "x-go-range": list(INTEGERS[shown])}
    return _struct(shown, spec)


def _part(spec: Spec | None, key: str) -> Spec | None:
    part = resolve(spec)[1].get(key) if spec is not None else None
    return part if isinstance(part, dict) else None


def _struct(go_type: str, spec: Spec | None) -> Node:
    if spec is None:
        raise ValueError(f"the struct {go_type} has no schema in the spec")
    properties: dict[str, Node] = {}
    for owner, part in _parts(go_type, spec):
        for field, field_spec in (part.get("properties") or {}).items():
            field_type = FIELDS.get((owner, field)) or derive(field_spec)
            properties[field] = build(field_type, field_spec)
    for field, field_type in EXTRA_FIELDS.get(go_type, {}).items():
        properties[field] = build(field_type, None)
    return {"type": "object", "x-go": go_type, "x-go-struct": go_type.rpartition(".")[2],
            "properties": properties,
            "x-go-folded": {field.casefold(): field for field in properties}}


def _parts(go_type: str, spec: Spec) -> Iterator[tuple[str, Spec]]:
    """(Go struct that declares them, schema) of a struct's fields: an `allOf`
    part is an embedded struct, whose fields Go decodes as the outer one's."""
    name, spec = resolve(spec)
    owner = STRUCTS.get(name or "", go_type)
    for part in spec.get("allOf", []):
        yield from _parts(owner, part)
    if "properties" in spec:
        yield owner, spec
