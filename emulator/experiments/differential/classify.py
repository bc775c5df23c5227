"""Every difference between an emulated and a real Docker host, classified.

The differential compares many kinds of thing (CLI transcripts, isolation cells,
per-container facts, overlay bytes on the wire); each hands its differences here
as `Difference(section, key, field, expected, emulated, real)`. A difference is
explained by the first entry of `known_differences.yaml` that matches it, with
one of three classes:

- `version`: Docker 20.10 (the real dockerd here) and Docker 28 (which the
  emulator follows) differ; the entry cites the Docker 28 change (a release
  note, or a moby/moby or docker/cli commit or pull request).
- `kernel`: this machine's kernel lacks what one side needs.
- `defect`: an emulator defect knowingly left (the rest get fixed).

Anything no entry matches is `unclassified`, and fails the run.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

VERSION, KERNEL, DEFECT, UNCLASSIFIED = "version", "kernel", "defect", "unclassified"
CLASSES = (VERSION, KERNEL, DEFECT)
CITATION = re.compile(
    r"https://github\.com/(?:moby/moby|docker/cli|moby/libnetwork)/(?:commit/[0-9a-f]{7,40}|pull/\d+)"
    r"|https://docs\.docker\.com/\S*release-notes\S*")
"""What a `version` entry must cite: where Docker changed between 20.10 and 28."""
KNOWN_DIFFERENCES = "known_differences.yaml"
FIELDS = ("section", "key", "field", "expected", "emulated", "real")


@dataclass(frozen=True)
class Difference:
    """One item on which the emulated and the real host disagree. `key` names the
    item within its section (a command, a cell, a container); `field` the part of
    it (exit_code, stdout, an address); `expected` is what the emulator's model
    predicts, where there is one."""

    section: str
    key: str
    field: str
    emulated: Any
    real: Any
    expected: Any = None


@dataclass(frozen=True)
class Verdict:
    cls: str
    reason: str = ""
    source: str = ""
    entry: str = ""

    @property
    def classified(self) -> bool:
        return self.cls != UNCLASSIFIED


UNEXPLAINED = Verdict(UNCLASSIFIED, "no entry of known_differences.yaml matches")


@dataclass(frozen=True)
class KnownDifference:
    """An entry: which differences it explains, by glob on the section and field and
    by regular expression (searched, DOTALL) on the key and the values; absent
    criteria match anything."""

    id: str
    cls: str
    reason: str
    source: str = ""
    section: str = "*"
    field: str = "*"
    patterns: dict[str, re.Pattern[str]] = dataclasses.field(default_factory=dict)

    def matches(self, diff: Difference) -> bool:
        if not fnmatch.fnmatchcase(diff.section, self.section):
            return False
        if not fnmatch.fnmatchcase(diff.field, self.field):
            return False
        return all(pattern.search(_text(getattr(diff, name)))
                   for name, pattern in self.patterns.items())

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.cls, self.reason, self.source, self.id)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class KnownDifferencesError(ValueError):
    """known_differences.yaml is malformed: every problem, one a line."""


def parse_entries(data: Any, where: str = KNOWN_DIFFERENCES) -> list[KnownDifference]:
    if not isinstance(data, list):
        raise KnownDifferencesError(f"{where}: a list of entries expected")
    entries, problems, ids = [], [], set()
    for index, raw in enumerate(data):
        label = f"{where}: entry {index + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{label}: a mapping expected")
            continue
        entry_id = str(raw.get("id") or "")
        label = f"{where}: {entry_id or f'entry {index + 1}'}"
        problems += _entry_problems(raw, label, ids)
        ids.add(entry_id)
        patterns = {}
        for name in ("key", "expected", "emulated", "real"):
            if raw.get(name) is not None:
                try:
                    patterns[name] = re.compile(str(raw[name]), re.DOTALL)
                except re.error as exc:
                    problems.append(f"{label}: {name}: bad regular expression: {exc}")
        entries.append(KnownDifference(
            entry_id, str(raw.get("class")), str(raw.get("reason") or "").strip(),
            str(raw.get("source") or "").strip(), str(raw.get("section") or "*"),
            str(raw.get("field") or "*"), patterns))
    if problems:
        raise KnownDifferencesError("\n".join(problems))
    return entries


ALLOWED_KEYS = {"id", "class", "reason", "source", "section", "field", "key", "expected",
                "emulated", "real", "note"}


def _entry_problems(raw: dict, label: str, ids: set[str]) -> list[str]:
    problems = [f"{label}: unknown key {k!r}" for k in raw if k not in ALLOWED_KEYS]
    entry_id = raw.get("id")
    if not entry_id:
        problems.append(f"{label}: id missing")
    elif entry_id in ids:
        problems.append(f"{label}: id used twice")
    cls = raw.get("class")
    if cls not in CLASSES:
        problems.append(f"{label}: class must be one of {', '.join(CLASSES)}, not {cls!r}")
    if not str(raw.get("reason") or "").strip():
        problems.append(f"{label}: reason missing")
    if cls == VERSION and not CITATION.search(str(raw.get("source") or "")):
        problems.append(f"{label}: a version difference cites the Docker change in source "
                        "(a docs.docker.com release note, or a moby/moby or docker/cli "
                        "commit or pull request URL)")
    if not any(raw.get(k) is not None for k in ("section", "field", "key", "expected",
                                                 "emulated", "real")):
        problems.append(f"{label}: matches every difference (give a section, key or pattern)")
    return problems


class Classifier:
    """Classifies differences by the known-difference entries, first match wins;
    remembers which entries matched so stale ones can be reported."""

    def __init__(self, entries: list[KnownDifference]) -> None:
        self.entries = entries
        self._used: set[str] = set()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Classifier:
        if path is None:
            text = resources.files(__package__).joinpath(KNOWN_DIFFERENCES).read_text()
            where = KNOWN_DIFFERENCES
        else:
            text, where = Path(path).read_text(), str(path)
        return cls(parse_entries(yaml.safe_load(text) or [], where))

    def classify(self, diff: Difference) -> Verdict:
        for entry in self.entries:
            if entry.matches(diff):
                self._used.add(entry.id)
                return entry.verdict
        return UNEXPLAINED

    def __call__(self, section: str, key: str, field: str, emulated: Any, real: Any,
                 expected: Any = None) -> Verdict:
        return self.classify(Difference(section, key, field, emulated, real, expected))

    def unused(self, sections: set[str] | None = None) -> list[KnownDifference]:
        """Entries that explained nothing (of `sections`, where given): stale, or for
        a part of the differential that did not run."""
        return [e for e in self.entries if e.id not in self._used
                and (sections is None
                     or any(fnmatch.fnmatchcase(s, e.section) for s in sections))]
