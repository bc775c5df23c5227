"""Reads topology YAML strictly: duplicate keys rejected, every value's line remembered.

PyYAML's constructed objects carry no position, so the reader walks the composed node
tree itself and records the line of each path for the error messages. Keys are taken
as written (`on:` is the name "on", not a boolean), because every key in a topology is
a name or a field; dates are not recognised, so a date-like value stays a string.

Input is bounded: at most MAX_VALUES values, nested at most MAX_DEPTH deep (also through
aliases), so that no text can exhaust memory or the interpreter's stack; text holding
characters YAML does not allow (a binary file) is refused before it is parsed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from .errors import FieldPath, ProblemLog, TopologyError

MERGE_TAG = "tag:yaml.org,2002:merge"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
MAX_VALUES = 100_000
MAX_DEPTH = 32

_UNREADABLE: Any = object()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one mapping."""

    mapping: yaml.MappingNode
    key_node: yaml.ScalarNode
    first_line: int

    @property
    def message(self) -> str:
        return f"duplicate key {self.key_node.value!r} (first at line {self.first_line})"


class TooLarge(yaml.YAMLError):
    """The document is nested deeper or holds more values than a topology may."""

    def __init__(self, message: str, mark: yaml.Mark) -> None:
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate mapping keys, leaves dates as strings and stops
    at MAX_DEPTH levels of nesting or MAX_VALUES values."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[DuplicateKey] = []
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        # The composer recurses once per level: stop before the interpreter's stack does.
        mark = self.peek_event().start_mark
        self._depth += 1
        self._values += 1
        if self._depth > MAX_DEPTH:
            raise TooLarge(f"nested more than {MAX_DEPTH} levels deep", mark)
        if self._values > MAX_VALUES:
            raise TooLarge(f"more than {MAX_VALUES} values", mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Merge keys copy whole mappings, recursively: bound how deep and how much.
        merged = [item for key, value in node.value if key.tag == MERGE_TAG
                  for item in (value.value if isinstance(value, yaml.SequenceNode) else [value])
                  if isinstance(item, yaml.MappingNode)]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise TooLarge(f"merge keys nested more than {MAX_DEPTH} levels deep",
                               node.start_mark)
            for item in merged:
                self.flatten_mapping(item)
        finally:
            self._depth -= 1
        self._values += sum(len(item.value) for item in merged)
        if self._values > MAX_VALUES:
            raise TooLarge(f"more than {MAX_VALUES} values (counting what merge keys copy)",
                           node.start_mark)
        super().flatten_mapping(node)

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        first_seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE_TAG:
                first = first_seen.setdefault(key_node.value, key_node)
                if first is not key_node:
                    self.duplicate_keys.append(DuplicateKey(node, key_node, _line(first)))
        return node

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if self.duplicate_keys:
            duplicate = self.duplicate_keys[0]
            raise yaml.constructor.ConstructorError(
                None, None, duplicate.message, duplicate.key_node.start_mark
            )
        return None if node is None else self.construct_document(node)


def read_yaml(text: str, log: ProblemLog) -> Any:
    """The document's data, with `log.lines` filled in and unreadable parts reported.

    Raises TopologyError at once when the text is not YAML at all.
    """
    _refuse_binary(text, log)
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        log.lines[()] = _line(node)
        walker = _Walker(loader, log)
        data = walker.value(node, ())
        for duplicate in loader.duplicate_keys:
            mapping_path = walker.paths.get(id(duplicate.mapping))
            path = None if mapping_path is None else (*mapping_path, duplicate.key_node.value)
            log.report(path, duplicate.message, line=_line(duplicate.key_node))
        return None if data is _UNREADABLE else data
    except TooLarge as error:
        log.report(None, error.message, line=error.line)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        log.report(None, _syntax_message(error), line=None if mark is None else mark.line + 1)
    except yaml.YAMLError as error:
        log.report(None, f"invalid YAML: {error}")
    finally:
        loader.dispose()
    raise TopologyError(log.problems)


def _refuse_binary(text: str, log: ProblemLog) -> None:
    """YAML allows no control characters but tab and newlines: such text is not a topology
    (a NUL byte usually means a binary file)."""
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    kind = "control character" if unicodedata.category(found.group()) == "Cc" else "character"
    hint = " (a binary file?)" if found.group() == "\0" else ""
    log.report(None, f"not YAML text: {kind} U+{ord(found.group()):04X} at column {column}"
               f"{hint}", line=line)
    raise TopologyError(log.problems)


def _syntax_message(error: yaml.MarkedYAMLError) -> str:
    context = error.context
    if context and error.context_mark is not None:
        context = f"{context} (line {error.context_mark.line + 1})"
    return "invalid YAML: " + ", ".join(part for part in (context, error.problem) if part)


class _Walker:
    def __init__(self, loader: StrictLoader, log: ProblemLog) -> None:
        self.loader = loader
        self.log = log
        self.paths: dict[int, FieldPath] = {}
        self._repeated = {id(duplicate.key_node) for duplicate in loader.duplicate_keys}
        self._open: set[int] = set()
        self._budget = MAX_VALUES

    def value(self, node: yaml.Node, path: FieldPath) -> Any:
        self._budget -= 1
        if self._budget < 0:
            self.log.report(path, f"more than {MAX_VALUES} values: are aliases nested too deep?")
            raise TopologyError(self.log.problems)
        if len(path) >= MAX_DEPTH:
            self.log.report(None, f"nested more than {MAX_DEPTH} levels deep through aliases",
                            line=_line(node))
            raise TopologyError(self.log.problems)
        if id(node) in self._open:
            self.log.report(path, "an alias refers to a value that contains it")
            return _UNREADABLE
        self.paths.setdefault(id(node), path)
        if node.tag not in self.loader.yaml_constructors:
            self.log.report(path, f"unknown tag {node.tag!r}", line=_line(node))
            return _UNREADABLE
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return self._sequence(node, path)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.constructor.ConstructorError, ValueError):
            self.log.report(path, f"cannot read {node.value!r} as {node.tag}", line=_line(node))
            return _UNREADABLE

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        self.loader.flatten_mapping(node)
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.log.report(
                    path, "a key must be a plain name, not a list or mapping", line=_line(key_node)
                )
                continue
            if id(key_node) in self._repeated:
                continue
            here = (*path, key_node.value)
            self.log.lines[here] = _line(key_node)
            item = self.value(value_node, here)
            if item is not _UNREADABLE:
                data[key_node.value] = item
        return data

    def _sequence(self, node: yaml.SequenceNode, path: FieldPath) -> list[Any]:
        items = []
        for index, item_node in enumerate(node.value):
            here = (*path, index)
            self.log.lines[here] = _line(item_node)
            items.append(self.value(item_node, here))
        return [item for item in items if item is not _UNREADABLE]
