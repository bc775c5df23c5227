"""Topology files: read, checked in full, resolved; and the embedded default topology."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

from .errors import Problem, ProblemLog, TopologyError
from .model import Topology
from .resolve import resolve
from .yaml_source import read_yaml

DEFAULT_FILE = "default.yaml"


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Loads a topology file; raises TopologyError listing every problem in it."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text (byte {error.start}: {error.reason})"
        raise TopologyError([Problem(str(path), None, None, problem)]) from None
    return load_topology_text(text, source=str(path))


def load_topology_text(text: str, source: str = "<string>") -> Topology:
    """Loads topology YAML given as text; `source` names it in error messages."""
    log = ProblemLog(source)
    return resolve(read_yaml(text, log), log)


@functools.cache
def default_topology() -> Topology:
    """The embedded default: two Docker hosts and the outside host on 192.0.2.0/24."""
    resource = resources.files(__package__).joinpath(DEFAULT_FILE)
    return load_topology_text(
        resource.read_text(encoding="utf-8"), source=f"emulator/topology/{DEFAULT_FILE}"
    )
