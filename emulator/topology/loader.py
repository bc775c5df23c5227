"""Topology files: read, checked in full, resolved; and the embedded default topology."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from .errors import FieldPath, Problem, ProblemLog
from .model import Topology
from .resolve import resolve
from .textfile import read_topology_file
from .yaml_source import read_yaml

DEFAULT_FILE = "default.yaml"


@dataclass(frozen=True)
class SourcedTopology:
    """A loaded topology and where each field was written, so later checks can point there."""

    topology: Topology
    source: str
    lines: Mapping[FieldPath, int]

    def problem(self, path: FieldPath, message: str, allowed: Sequence[str] = ()) -> Problem:
        """A Problem at `path`, e.g. ("hosts", "h1", "networks", "front"), with its line."""
        return ProblemLog(self.source, dict(self.lines)).problem(path, message, allowed)


def read_topology(path: str | os.PathLike[str]) -> SourcedTopology:
    """Loads a topology file, keeping its line numbers; raises TopologyError, also for a
    path that is not a regular file of at most 1 MiB of UTF-8 text."""
    return read_topology_text(read_topology_file(path), source=os.fspath(path))


def read_topology_text(text: str, source: str = "<string>") -> SourcedTopology:
    """Loads topology YAML given as text, keeping its line numbers; raises TopologyError."""
    log = ProblemLog(source)
    topology = resolve(read_yaml(text, log), log)
    return SourcedTopology(topology, source, log.lines)


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Loads a topology file; raises TopologyError listing every problem in it."""
    return read_topology(path).topology


def load_topology_text(text: str, source: str = "<string>") -> Topology:
    """Loads topology YAML given as text; `source` names it in error messages."""
    return read_topology_text(text, source).topology


@functools.cache
def default_topology() -> Topology:
    """The embedded default: two Docker hosts and the outside host on 192.0.2.0/24."""
    resource = resources.files(__package__).joinpath(DEFAULT_FILE)
    text = resource.read_text(encoding="utf-8")
    return load_topology_text(text, source=f"emulator/topology/{DEFAULT_FILE}")
