"""Topology files: JSON Schema, loading with all errors at once, the resolved model.

A file (or a dict) is checked in full before a lab creates anything; the result is
plain frozen data with every default resolved.
"""

from .errors import Problem, TopologyError
from .frozenmap import FrozenMap
from .loader import (
    SourcedTopology,
    default_topology,
    load_topology,
    load_topology_text,
    read_topology,
    read_topology_text,
)
from .model import (
    BUILTIN_DRIVERS,
    OUTSIDE_HOST_NAME,
    PREDEFINED_NETWORKS,
    Attachment,
    ContainerSpec,
    HostSpec,
    LanHostSpec,
    LanSpec,
    NetworkSpec,
    OutsideSpec,
    Topology,
    UnderlaySpec,
)
from .render import topology_to_data
from .resolve import topology_from_data
from .schema import TOPOLOGY_SCHEMA, export_json_schema

__all__ = [
    "BUILTIN_DRIVERS",
    "OUTSIDE_HOST_NAME",
    "PREDEFINED_NETWORKS",
    "TOPOLOGY_SCHEMA",
    "Attachment",
    "ContainerSpec",
    "FrozenMap",
    "HostSpec",
    "LanHostSpec",
    "LanSpec",
    "NetworkSpec",
    "OutsideSpec",
    "Problem",
    "SourcedTopology",
    "Topology",
    "TopologyError",
    "UnderlaySpec",
    "default_topology",
    "export_json_schema",
    "load_topology",
    "load_topology_text",
    "read_topology",
    "read_topology_text",
    "topology_from_data",
    "topology_to_data",
]
