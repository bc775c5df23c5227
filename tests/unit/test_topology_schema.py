"""The schema dict, the loader's checker that interprets it, and jsonschema agree."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emulator.topology import (
    TOPOLOGY_SCHEMA,
    NetworkSpec,
    TopologyError,
    export_json_schema,
    load_topology_text,
    topology_from_data,
    topology_to_data,
)
from emulator.topology.errors import ProblemLog
from emulator.topology.structure import (
    ANNOTATION_KEYWORDS,
    VALIDATION_KEYWORDS,
    check_structure,
)

EXAMPLE = {
    "name": "lab",
    "underlay": {"subnet": "192.0.2.0/24"},
    "outside": {"address": "192.0.2.254"},
    "hosts": {
        "h1": {
            "address": "192.0.2.11",
            "networks": {
                "front": {
                    "driver": "bridge",
                    "subnet": "10.10.0.0/24",
                    "aux_addresses": {"router": "10.10.0.2"},
                    "internal": False,
                    "options": {"com.docker.network.bridge.enable_icc": "false"},
                    "labels": {"team": "a"},
                },
                "back": {},
            },
            "containers": {
                "web": {
                    "networks": {"front": {"ip": "10.10.0.5", "aliases": ["www"]}, "back": {}},
                    "hostname": "web",
                    "command": ["sleep", "infinity"],
                },
                "db": {"networks": ["back", "front"]},
                "cache": {"network": "back"},
            },
        },
        "h2": {},
    },
}
VALIDATOR = jsonschema.Draft202012Validator(json.loads(export_json_schema()))


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        yield schema
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    yield from subschemas(sub)
            elif key in ("items", "additionalProperties", "propertyNames", "not"):
                yield from subschemas(value)
            elif key == "oneOf":
                for sub in value:
                    yield from subschemas(sub)


def test_schema_uses_only_keywords_the_checker_understands() -> None:
    for schema in subschemas(TOPOLOGY_SCHEMA):
        assert set(schema) <= VALIDATION_KEYWORDS | ANNOTATION_KEYWORDS, schema
        if "$ref" in schema:
            assert set(schema) - {"$ref"} <= ANNOTATION_KEYWORDS, schema
        if "not" in schema:
            assert set(schema["not"]) == {"required"}, schema
        if "oneOf" in schema:
            types = [branch["type"] for branch in schema["oneOf"]]
            assert len(set(types)) == len(types), schema


def test_every_mapping_closes_its_fields_and_every_pattern_explains_itself() -> None:
    for schema in subschemas(TOPOLOGY_SCHEMA):
        if schema.get("type") == "object":
            assert "additionalProperties" in schema, schema
        if "properties" in schema:
            assert schema["additionalProperties"] is False, schema
        if "pattern" in schema:
            assert schema["pattern"].startswith("^") and schema["pattern"].endswith("$")
            assert schema["description"], schema


def test_schema_defaults_are_the_model_defaults() -> None:
    properties = TOPOLOGY_SCHEMA["$defs"]["network"]["properties"]
    for field in dataclasses.fields(NetworkSpec):
        if "default" in properties.get(field.name, {}):
            assert properties[field.name]["default"] == field.default, field.name


KEYS = st.sampled_from(
    [
        "name",
        "underlay",
        "subnet",
        "hosts",
        "h1",
        "address",
        "networks",
        "front",
        "driver",
        "containers",
        "web",
        "network",
        "ip",
        "aliases",
        "command",
        "options",
        "internal",
        "x",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["", "h1", "front", "Bad", "bridge", "192.0.2.0/24", "x.y", "a" * 70])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        parent = document
        while True:
            children = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
            if not children:
                break
            key = draw(st.sampled_from(children))
            if not isinstance(parent[key], dict | list) or draw(st.booleans()):
                break
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if isinstance(parent, dict) and action == "add":
            parent[draw(KEYS)] = draw(VALUES)
        elif children and action == "delete":
            del parent[key]
        elif children:
            parent[key] = draw(VALUES)
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_checker_agrees_with_jsonschema(document: Any) -> None:
    log = ProblemLog("t")
    check_structure(document, log)
    assert (not log.problems) == VALIDATOR.is_valid(document), log.problems


HOST_NAMES = st.from_regex(r"\A[a-z][a-z0-9]{0,7}\Z")
NET_NAMES = st.from_regex(r"\A[a-z][a-z0-9_.-]{0,6}\Z")
CONTAINER_NAMES = st.from_regex(r"\A[a-z][a-z0-9_.-]{1,6}\Z")
STRINGISH = st.text("abc019", max_size=4) | st.integers(0, 9000) | st.booleans()


@st.composite
def network_data(draw: st.DrawFn) -> dict[str, Any]:
    optional = {
        "driver": st.sampled_from(["bridge", "macvlan", "overlay", "weave"]),
        "subnet": st.just("10.10.0.0/24"),
        "gateway": st.just("10.10.0.1"),
        "ip_range": st.just("10.10.0.128/25"),
        "aux_addresses": st.dictionaries(NET_NAMES, st.just("10.10.0.2"), max_size=2),
        "internal": st.booleans(),
        "attachable": st.booleans(),
        "options": st.dictionaries(NET_NAMES, STRINGISH, max_size=2),
        "labels": st.dictionaries(NET_NAMES, STRINGISH, max_size=2),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(optional)), unique=True))
    return {key: draw(optional[key]) for key in chosen}


@st.composite
def container_data(draw: st.DrawFn, networks: list[str]) -> dict[str, Any]:
    known = [*networks, "bridge", "host", "none"]
    data: dict[str, Any] = {}
    form = draw(st.sampled_from(["none", "one", "list", "mapping"]))
    if form == "one":
        data["network"] = draw(st.sampled_from(known))
    elif form == "list":
        data["networks"] = draw(st.lists(st.sampled_from(known), min_size=1, unique=True))
    elif form == "mapping":
        names = draw(st.lists(st.sampled_from(known), min_size=1, unique=True))
        settings_ = st.fixed_dictionaries(
            {}, optional={"ip": st.just("10.10.0.5"), "aliases": st.lists(NET_NAMES, max_size=2)}
        )
        data["networks"] = {name: draw(settings_) for name in names}
    if draw(st.booleans()):
        data["hostname"] = draw(NET_NAMES)
    if draw(st.booleans()):
        data["command"] = draw(st.lists(st.text("ab -", max_size=3), min_size=1, max_size=3))
    return data


@st.composite
def topology_data(draw: st.DrawFn) -> dict[str, Any]:
    hosts: dict[str, Any] = {}
    for index, name in enumerate(draw(st.lists(HOST_NAMES, min_size=1, max_size=4, unique=True))):
        host: dict[str, Any] = {}
        if draw(st.booleans()):
            host["address"] = f"198.51.100.{100 + index}"
        networks = draw(st.dictionaries(NET_NAMES, network_data(), max_size=2))
        if networks:
            host["networks"] = networks
        containers = draw(
            st.dictionaries(CONTAINER_NAMES, container_data(list(networks)), max_size=2)
        )
        if containers:
            host["containers"] = containers
        hosts[name] = host
    data = {"name": draw(HOST_NAMES), "underlay": {"subnet": "198.51.100.0/24"}, "hosts": hosts}
    if draw(st.booleans()):
        data["outside"] = {"address": "198.51.100.1"}
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topology_data())
def test_valid_data_loads_and_writes_back_unchanged(data: dict[str, Any]) -> None:
    assert VALIDATOR.is_valid(data)
    try:
        topology = topology_from_data(data)
    except TopologyError as error:
        assume("is the outside host's address" not in str(error))
        raise
    written = topology_to_data(topology)
    assert VALIDATOR.is_valid(written)
    assert topology_from_data(written) == topology
    assert load_topology_text(yaml.safe_dump(written, sort_keys=False)) == topology
    assert hash(topology_from_data(written)) == hash(topology)
