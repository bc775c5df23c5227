"""The strict YAML reader: duplicates, lines, aliases, tags and what counts as a string."""

from __future__ import annotations

import pytest
import yaml

from emulator.topology import TopologyError, load_topology_text
from emulator.topology.errors import ProblemLog
from emulator.topology.yaml_source import StrictLoader, read_yaml

HEAD = "name: lab\nunderlay: {subnet: 192.0.2.0/24}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load_topology_text(text, source="t.yaml")
    return str(caught.value).splitlines()


def test_strict_loader_rejects_duplicates_on_its_own() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'a'") as caught:
        yaml.load("a: 1\nb: {c: 2}\na: 3\n", Loader=StrictLoader)  # noqa: S506
    assert caught.value.problem_mark.line + 1 == 3
    assert yaml.load("a: 1\nb: 2\n", Loader=StrictLoader) == {"a": 1, "b": 2}  # noqa: S506


def test_every_duplicate_is_reported_and_the_first_value_kept() -> None:
    text = HEAD + "hosts:\n  h1: {address: 192.0.2.5, address: 192.0.2.6}\n  h2: {}\n  h2: {}\n"
    assert problems(text) == [
        "t.yaml:4: hosts.h1.address: duplicate key 'address' (first at line 4)",
        "t.yaml:6: hosts.h2: duplicate key 'h2' (first at line 5)",
    ]


def test_lines_are_recorded_for_every_path() -> None:
    log = ProblemLog("t")
    data = read_yaml(
        HEAD + "hosts:\n  h1:\n    containers:\n      web:\n        command:\n"
        "          - sleep\n          - infinity\n",
        log,
    )
    assert data["hosts"]["h1"]["containers"]["web"]["command"] == ["sleep", "infinity"]
    assert log.lines[("underlay", "subnet")] == 2
    assert log.lines[("hosts", "h1", "containers", "web")] == 6
    assert log.lines[("hosts", "h1", "containers", "web", "command", 1)] == 9


def test_keys_are_names_as_written_and_dates_stay_strings() -> None:
    log = ProblemLog("t")
    assert read_yaml("on: 1\n2024-01-01: 2\nx: 2024-01-01\n", log) == {
        "on": 1,
        "2024-01-01": 2,
        "x": "2024-01-01",
    }


def test_anchors_and_merge_keys_work() -> None:
    text = HEAD + (
        "hosts:\n"
        "  h1: &base\n"
        "    networks: {front: {driver: bridge, internal: true}}\n"
        "  h2:\n"
        "    <<: *base\n"
        "    address: 192.0.2.50\n"
    )
    h1, h2 = load_topology_text(text).hosts
    assert h1.networks == h2.networks
    assert h1.networks[0].internal
    assert str(h2.address) == "192.0.2.50"


def test_merged_keys_may_be_overridden_without_a_duplicate_error() -> None:
    text = HEAD + "hosts:\n  h1: &h {address: 192.0.2.5}\n  h2: {<<: *h, address: 192.0.2.6}\n"
    assert [str(h.address) for h in load_topology_text(text).hosts] == ["192.0.2.5", "192.0.2.6"]


def test_recursive_alias_and_unknown_tag_are_reported() -> None:
    text = HEAD + "hosts:\n  h1: {containers: {web: {command: &c [sleep, *c]}}}\n  h2: !weird {}\n"
    assert problems(text) == [
        "t.yaml:4: hosts.h1.containers.web.command[1]: an alias refers to a value that contains it",
        "t.yaml:5: hosts.h2: unknown tag '!weird'",
    ]


def test_syntax_error_gives_the_line() -> None:
    assert problems("name: lab\nhosts:\n  h1: {\n  h2: [}\n") == [
        "t.yaml:4: invalid YAML: while parsing a flow node (line 4), "
        "expected the node content, but found '}'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "",
            "t.yaml: (top level): must be a mapping; got an empty value "
            "(write {} for an empty mapping)",
        ),
        ("- a\n", "t.yaml:1: (top level): must be a mapping; got a list"),
        (
            "a: 1\n---\nb: 2\n",
            "t.yaml:2: invalid YAML: expected a single document in the stream (line 1), "
            "but found another document",
        ),
    ],
)
def test_documents_that_are_not_one_mapping(text: str, expected: str) -> None:
    assert problems(text)[0].startswith(expected)


def test_empty_host_value_gets_a_hint() -> None:
    assert problems(HEAD + "hosts:\n  h1:\n") == [
        "t.yaml:4: hosts.h1: must be a mapping; got an empty value (write {} for an empty mapping)"
    ]


def test_yaml_booleans_where_strings_belong_get_a_hint() -> None:
    text = HEAD + "hosts:\n  h1: {containers: {web: {command: [echo, yes]}}}\n"
    assert problems(text) == [
        "t.yaml:4: hosts.h1.containers.web.command[1]: must be a string; "
        "got the boolean true (quote it to make it a string)"
    ]


def test_explicit_tags_that_do_not_fit_the_value_are_reported() -> None:
    text = HEAD + "hosts:\n  h1: {address: !!int x}\n"
    assert problems(text) == [
        "t.yaml:4: hosts.h1.address: cannot read 'x' as tag:yaml.org,2002:int"
    ]
