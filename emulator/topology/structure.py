"""Checks raw topology data against the JSON Schema in schema.py, reporting every mismatch.

jsonschema could do this, but its messages name schema keywords; these name the field,
say what is wrong and list the valid choices. The check returns the valid part of the
data (wrong values dropped, a list with a wrong item dropped whole), so the checks that
follow can run on it and report their own problems in the same pass. Only the keywords
schema.py uses are understood; a test keeps the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import FieldPath, ProblemLog, did_you_mean
from .schema import TOPOLOGY_SCHEMA

VALIDATION_KEYWORDS = frozenset(
    [
        "$ref",
        "type",
        "oneOf",
        "not",
        "properties",
        "additionalProperties",
        "propertyNames",
        "required",
        "minProperties",
        "items",
        "minItems",
        "uniqueItems",
        "pattern",
        "minLength",
        "maxLength",
    ]
)
ANNOTATION_KEYWORDS = frozenset(
    ["$schema", "$defs", "title", "description", "default", "examples", "format"]
)

_INVALID: Any = object()

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "number": "a number",
}
_EMPTY_HINTS = {
    "object": " (write {} for an empty mapping)",
    "array": " (write [] for an empty list)",
    "string": ' (write "" for an empty string)',
}


def check_structure(data: object, log: ProblemLog) -> dict[str, Any] | None:
    """The valid part of `data`, or None when it is not even a mapping."""
    checked = _Checker(TOPOLOGY_SCHEMA, log).check(data, TOPOLOGY_SCHEMA, ())
    return None if checked is _INVALID else checked


def _matches(pattern: str, text: str) -> bool:
    """ECMA-262's `^...$`: unlike Python's `$`, no match before a final newline."""
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text) is not None


def _has_type(value: object, name: str) -> bool:
    if name == "object":
        return isinstance(value, Mapping)
    if name == "array":
        return isinstance(value, list | tuple)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _describe(value: object) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def _type_hint(value: object, wanted: Sequence[str]) -> str:
    if value is None:
        return "".join(_EMPTY_HINTS.get(name, "") for name in wanted)
    if "string" in wanted and isinstance(value, bool | int | float):
        return " (quote it to make it a string)"
    return ""


class _Checker:
    def __init__(self, root: Mapping[str, Any], log: ProblemLog) -> None:
        self.root = root
        self.log = log

    def check(self, value: object, schema: Mapping[str, Any], path: FieldPath) -> Any:
        schema = self._deref(schema)
        if "oneOf" in schema:
            return self._one_of(value, schema, path)
        if "type" not in schema:
            return value
        wanted = _types(schema)
        if not any(_has_type(value, name) for name in wanted):
            self._wrong_type(value, wanted, path)
            return _INVALID
        if isinstance(value, Mapping):
            return self._mapping(value, schema, path)
        if isinstance(value, list | tuple):
            return self._list(value, schema, path)
        if isinstance(value, str):
            return self._string(value, schema, path)
        return value

    def _deref(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self.root["$defs"][schema["$ref"].removeprefix("#/$defs/")]
        return schema

    def _wrong_type(self, value: object, wanted: Sequence[str], path: FieldPath) -> None:
        words = [_TYPE_WORDS[name] for name in wanted]
        expected = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
        got = f"{_describe(value)}{_type_hint(value, wanted)}"
        self.log.report(path, f"must be {expected}; got {got}")

    def _one_of(self, value: object, schema: Mapping[str, Any], path: FieldPath) -> Any:
        branches = [self._deref(branch) for branch in schema["oneOf"]]
        for branch in branches:
            if any(_has_type(value, name) for name in _types(branch)):
                return self.check(value, branch, path)
        self._wrong_type(value, [name for branch in branches for name in _types(branch)], path)
        return _INVALID

    def _mapping(self, value: Mapping[Any, Any], schema: Mapping[str, Any], path: FieldPath) -> Any:
        properties: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        names = schema.get("propertyNames")
        checked: dict[str, Any] = {}
        for key, item in value.items():
            here = (*path, str(key))
            if not isinstance(key, str):
                self.log.report(here, f"must be written as text; got {_describe(key)}")
            elif names is not None and not self._name_ok(key, names, here):
                continue
            elif key not in properties and extra is False:
                self.log.report(
                    here, f"unknown field{did_you_mean(key, properties)}", allowed=list(properties)
                )
            else:
                sub = properties.get(key, extra if isinstance(extra, Mapping) else {})
                result = self.check(item, sub, here)
                if result is not _INVALID:
                    checked[key] = result
        for name in schema.get("required", ()):
            if name not in value:
                self.log.report(path, f"missing required field {name!r}")
        if len(value) < schema.get("minProperties", 0):
            self.log.report(path, "must not be empty")
        excluded = schema.get("not", {}).get("required")
        if excluded and all(name in value for name in excluded):
            fields = " and ".join(repr(name) for name in excluded)
            self.log.report(path, f"give only one of {fields}")
        return checked

    def _name_ok(self, key: str, schema: Mapping[str, Any], path: FieldPath) -> bool:
        schema = self._deref(schema)
        if _matches(schema["pattern"], key):
            return True
        self.log.report(path, f"invalid name {key!r}", allowed=[schema["description"]])
        return False

    def _list(self, value: Sequence[Any], schema: Mapping[str, Any], path: FieldPath) -> Any:
        items = schema.get("items", {})
        checked = [self.check(item, items, (*path, index)) for index, item in enumerate(value)]
        valid = all(item is not _INVALID for item in checked)
        if len(value) < schema.get("minItems", 0):
            self.log.report(path, "must not be empty")
            valid = False
        if schema.get("uniqueItems"):
            for index, item in enumerate(value):
                if item in value[:index]:
                    self.log.report((*path, index), f"{item!r} is listed more than once")
                    valid = False
        return checked if valid else _INVALID

    def _string(self, value: str, schema: Mapping[str, Any], path: FieldPath) -> Any:
        pattern = schema.get("pattern")
        if pattern is not None and not _matches(pattern, value):
            self.log.report(path, f"invalid value {value!r}", allowed=[schema["description"]])
            return _INVALID
        if len(value) < schema.get("minLength", 0):
            self.log.report(path, "must not be empty")
            return _INVALID
        if len(value) > schema.get("maxLength", len(value)):
            limit = schema["maxLength"]
            self.log.report(
                path, f"is {len(value)} characters long", allowed=[f"at most {limit} characters"]
            )
            return _INVALID
        return value


def _types(schema: Mapping[str, Any]) -> list[str]:
    wanted = schema["type"]
    return [wanted] if isinstance(wanted, str) else list(wanted)
