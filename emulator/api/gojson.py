"""Decoding a JSON body as Go's encoding/json decodes it into a struct.

dockerd (built with Go 1.21) decodes request bodies with Go's json.Decoder, so
what it accepts and the texts of what it refuses are Go's:

- a syntax error is the Go scanner's (`invalid character 'x' looking for
  beginning of value`, `unexpected EOF`);
- object keys match struct fields exactly or else case-insensitively; other keys
  are ignored; `null` is accepted everywhere and leaves the zero value;
- a value of the wrong type is refused with `json: cannot unmarshal number into
  Go struct field NetworkCreateRequest.Name of type string`: the struct whose
  field it is, the path of JSON field names from the top (array indexes and map
  keys left out) and the field's Go type. Go reports the first such error in the
  document, unless a strslice.StrSlice (which decodes itself) fails, which ends
  decoding at once; an integer that does not fit says its literal
  (`number 1.5`, `number -1`).

The types come from `emulator.api.goschema`; the type check is a jsonschema
validation of the body against that schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft4Validator, ValidationError, validators

from emulator.api.goschema import Node

WHITESPACE = " \t\n\r"


class GoSyntaxError(ValueError):
    """Go's json.SyntaxError (or io.ErrUnexpectedEOF): its text is Go's."""


class NoValue(ValueError):
    """Nothing but whitespace: Go's decoder meets io.EOF."""


class Number(float):
    """A JSON number with a fraction or an exponent, keeping its literal for Go's
    texts (`cannot unmarshal number 1.0 into ... of type int`)."""

    literal: str

    def __new__(cls, literal: str) -> Number:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


class _Constant(ValueError):
    """NaN and Infinity, which Python's json reads and Go's refuses."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


_DECODER = json.JSONDecoder(parse_float=Number, parse_constant=_refuse_constant)


def read_value(text: str) -> tuple[Any, str]:
    """The first JSON value of `text` and what follows it, as json.Decoder.Decode reads."""
    start = len(text) - len(text.lstrip(WHITESPACE))
    if start == len(text):
        raise NoValue("EOF")
    try:
        value, end = _DECODER.raw_decode(text, start)
    except _Constant as constant:
        raise GoSyntaxError(_constant_error(constant.name)) from None
    except json.JSONDecodeError as error:
        raise GoSyntaxError(syntax_error(text, error)) from None
    return value, text[end:]


def _constant_error(name: str) -> str:
    if name.startswith("-"):
        return f"invalid character {quote_char(name[1])} in numeric literal"
    return f"invalid character {quote_char(name[0])} looking for beginning of value"


def quote_char(char: str) -> str:
    """Go's quoteChar: the offending byte (the first of the character's UTF-8, or the
    invalid byte itself), quoted as Go quotes it."""
    try:
        byte = char.encode("utf-8", "surrogateescape")[0]
    except UnicodeEncodeError:
        byte = char.encode("utf-8", "surrogatepass")[0]
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    escapes = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r",
               92: "\\\\"}
    if byte in escapes:
        return f"'{escapes[byte]}'"
    shown = chr(byte)
    if shown.isprintable():
        return f"'{shown}'"
    return f"'\\x{byte:02x}'" if byte < 0x80 else f"'\\u{byte:04x}'"


def syntax_error(text: str, error: json.JSONDecodeError) -> str:
    """Go's scanner text for the error Python's json found at `error.pos`."""
    pos, message = error.pos, error.msg
    if message.startswith("Unterminated string") or not text[pos:].strip(WHITESPACE):
        return "unexpected EOF"
    char = text[pos]
    if message.startswith("Invalid \\escape"):
        return _at(text, pos + 1, "in string escape code")
    if message.startswith("Invalid \\uXXXX"):
        digits = text[pos + 1:pos + 5]
        bad = next((i for i, c in enumerate(digits) if c not in "0123456789abcdefABCDEF"),
                   len(digits))
        return _at(text, pos + 1 + bad, "in \\u hexadecimal character escape")
    if message.startswith("Invalid control character"):
        return _at(text, pos, "in string literal")
    if message.startswith("Expecting ':'"):
        return _at(text, pos, "after object key")
    if message.startswith("Expecting property name"):
        return _at(text, pos, "looking for beginning of object key string")
    if message.startswith("Expecting ','"):
        return _after_value(text, pos)
    if char == "-":
        return _at(text, pos + 1, "in numeric literal")
    for literal in ("true", "false", "null"):
        if char == literal[0]:
            wrong = next(i for i in range(1, len(literal) + 1)
                         if i == len(literal) or text[pos + i:pos + i + 1] != literal[i])
            return _at(text, pos + wrong, f"in literal {literal} (expecting "
                                          f"{quote_char(literal[wrong])})")
    return _at(text, pos, "looking for beginning of value")


def _at(text: str, pos: int, context: str) -> str:
    if pos >= len(text):
        return "unexpected EOF"
    return f"invalid character {quote_char(text[pos])} {context}"


def _after_value(text: str, pos: int) -> str:
    """Where Python wanted a ',': inside a number (`1.}`, `1e}`) or after a value."""
    char, before = text[pos], text[pos - 1] if pos else ""
    if before.isdigit() and char == ".":
        return _at(text, pos + 1, "after decimal point in numeric literal")
    if before.isdigit() and char in "eE":
        sign = 1 if text[pos + 1:pos + 2] in ("+", "-") else 0
        return _at(text, pos + 1 + sign, "in exponent of numeric literal")
    inside = "object key:value pair" if _enclosing(text, pos) == "{" else "array element"
    return _at(text, pos, f"after {inside}")


def _enclosing(text: str, pos: int) -> str | None:
    """The innermost '{' or '[' open at `pos`."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else None


# -- types -------------------------------------------------------------------------


def canonical(value: Any, node: Node) -> Any:
    """`value` with struct keys spelled as Go matched them (exactly, else ignoring
    case) and the keys Go ignores left out."""
    if isinstance(value, dict):
        fields = node.get("properties")
        if fields is not None:
            folded = node["x-go-folded"]
            kept = {}
            for key, item in value.items():
                name = key if key in fields else folded.get(key.casefold())
                if name is not None:
                    kept[name] = canonical(item, fields[name])
            return kept
        values = node.get("additionalProperties")
        if values is not None:
            return {key: canonical(item, values) for key, item in value.items()}
    elif isinstance(value, list):
        items = node.get("items")
        if isinstance(items, list):
            return [canonical(v, items[i]) if i < len(items) else v for i, v in enumerate(value)]
        if items is not None:
            return [canonical(v, items) for v in value]
    return value


def _type(validator: Any, types: Any, instance: Any, schema: Node) -> Iterator[ValidationError]:
    if instance is not None:
        yield from Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)


def _range(validator: Any, bounds: list[int], instance: Any,
           schema: Node) -> Iterator[ValidationError]:
    if isinstance(instance, int) and not isinstance(instance, bool):
        if not bounds[0] <= instance <= bounds[1]:
            yield ValidationError(f"{instance} overflows {schema['x-go']}")


def _strslice(validator: Any, flag: bool, instance: Any,
              schema: Node) -> Iterator[ValidationError]:
    if instance is None or isinstance(instance, str):
        return
    if isinstance(instance, list) and all(v is None or isinstance(v, str) for v in instance):
        return
    yield ValidationError(f"{instance!r} is neither a string nor a list of strings")


GoValidator = validators.create(
    meta_schema=Draft4Validator.META_SCHEMA,
    validators={
        "type": _type,
        "properties": Draft4Validator.VALIDATORS["properties"],
        "additionalProperties": Draft4Validator.VALIDATORS["additionalProperties"],
        "items": Draft4Validator.VALIDATORS["items"],
        "x-go-range": _range,
        "x-go-strslice": _strslice,
    },
    type_checker=Draft4Validator.TYPE_CHECKER,
)


def type_error(value: Any, node: Node) -> str | None:
    """Go's text for the error Go reports decoding `value` (canonical) as `node`, or None."""
    errors = list(GoValidator(node).iter_errors(value))
    if not errors:
        return None
    aborting = [e for e in errors if e.validator == "x-go-strslice"]
    first = min(aborting or errors, key=lambda e: _document_order(value, e.absolute_path))
    return _text(first, node)


def _document_order(value: Any, path: Any) -> tuple[int, ...]:
    order = []
    for step in path:
        order.append(list(value).index(step) if isinstance(value, dict) else step)
        value = value[step]
    return tuple(order)


def _text(error: ValidationError, root: Node) -> str:
    node, struct, fields = root, None, []
    for step in error.absolute_path:
        if "properties" in node:
            struct = node["x-go-struct"]
            fields.append(step)
            node = node["properties"][step]
        elif "additionalProperties" in node:
            node = node["additionalProperties"]
        else:
            items = node["items"]
            node = items[step] if isinstance(items, list) else items
    what = _json_kind(error.instance, node)
    if struct is None:
        return f"json: cannot unmarshal {what} into Go value of type {node['x-go']}"
    return (f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(fields)} "
            f"of type {node['x-go']}")


def _json_kind(value: Any, node: Node) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if node.get("type") == "integer":
        return "number " + (value.literal if isinstance(value, Number) else str(value))
    return "number"


# -- values ------------------------------------------------------------------------

ZERO = {"string": "", "boolean": False, "integer": 0, "number": 0.0}


def settle(value: Any, node: Node) -> Any:
    """A checked `value` as Go holds it once decoded: nulls are zero values (struct
    fields left unset), a StrSlice is a list, a fixed-size array has its size,
    lone UTF-16 surrogates are U+FFFD."""
    if value is None:
        return ZERO.get(node.get("type", ""))
    if node.get("x-go-strslice"):
        return [_text_of(value)] if isinstance(value, str) else [_text_of(v or "") for v in value]
    if isinstance(value, dict):
        fields = node.get("properties")
        if fields is not None:
            return {key: settle(item, fields[key]) for key, item in value.items()
                    if item is not None}
        values = node.get("additionalProperties")
        if values is None:
            return {}
        return {_text_of(key): settle(item, values) for key, item in value.items()}
    if isinstance(value, list):
        items = node["items"]
        if isinstance(items, list):
            kept = [settle(v, items[i]) for i, v in enumerate(value[:len(items)])]
            return kept + [settle(None, item) for item in items[len(kept):]]
        return [settle(v, items) for v in value]
    if isinstance(value, str):
        return _text_of(value)
    if isinstance(value, Number):
        return float(value)
    return value


def _text_of(text: str) -> str:
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
