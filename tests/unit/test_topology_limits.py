"""Topology input is bounded: only a regular file of at most 1 MiB of YAML text, nested at
most MAX_DEPTH deep, holding at most MAX_VALUES values; anything else is one clear line.
A fuzz of texts and bytes checks that nothing else (an internal error) can come out."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.topology import (
    Topology,
    TopologyError,
    load_topology,
    load_topology_text,
    read_topology,
)
from emulator.topology.textfile import MAX_FILE_BYTES
from emulator.topology.yaml_source import MAX_DEPTH, MAX_VALUES

GOOD = "name: lab\nhosts:\n  h1: {}\n"


def problems_of_file(path: Path | str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        read_topology(path)
    return str(caught.value).splitlines()


def problems_of_text(text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load_topology_text(text, source="t.yaml")
    return str(caught.value).splitlines()


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "topo.yaml"
    os.mkfifo(fifo)
    answer: list[object] = []

    def read() -> None:
        try:
            read_topology(fifo)
        except TopologyError as error:
            answer.append(str(error))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # release a reader blocked in open(), then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
        pytest.fail("reading a FIFO blocked until a writer came")
    assert answer == [f"{fifo}: a FIFO (named pipe), not a regular file"]


@pytest.mark.parametrize(("path", "kind"), [("/dev/null", "a character device"),
                                            (".", "a directory")])
def test_a_device_or_directory_is_refused(path: str, kind: str) -> None:
    assert problems_of_file(path) == [f"{path}: {kind}, not a regular file"]


def test_a_file_over_the_size_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "#" * MAX_FILE_BYTES + "\n")
    assert problems_of_file(path) == [
        f"{path}: too large: a topology file may be at most 1 MiB (1048576 bytes)"]


def test_a_file_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "full.yaml"
    path.write_text(GOOD + "#" * (MAX_FILE_BYTES - len(GOOD) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert [h.name for h in load_topology(path).hosts] == ["h1"]


def test_a_proc_file_that_says_it_is_empty_is_read_within_the_limit() -> None:
    # /proc files report size 0: the limit holds on what is read, and NULs are binary.
    lines = problems_of_file("/proc/self/cmdline")
    assert len(lines) == 1
    assert lines[0].startswith("/proc/self/cmdline:1: not YAML text: control character "
                               "U+0000 at column ")
    assert lines[0].endswith(" (a binary file?)")


def test_binary_content_is_one_line_with_where_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"name: lab\nhosts:\n  h1: {}\x00\x01\x02")
    assert problems_of_file(path) == [
        f"{path}:3: not YAML text: control character U+0000 at column 9 (a binary file?)"]


def test_a_control_character_in_text_is_named() -> None:
    assert problems_of_text("name: lab\x07\n") == [
        "t.yaml:1: not YAML text: control character U+0007 at column 10"]


def test_undecodable_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    assert problems_of_file(path) == [
        f"{path}: not UTF-8 text (byte 9: invalid continuation byte)"]


@pytest.mark.parametrize("shape", ["flow-list", "flow-map", "block-map"])
def test_nesting_far_deeper_than_the_stack_is_one_problem(shape: str) -> None:
    depth = 5000
    nested = {
        "flow-list": "[" * depth + "]" * depth,
        "flow-map": "{a: " * depth + "1" + "}" * depth,
        "block-map": "".join(f"{'  ' * i}a:\n" for i in range(depth)),
    }[shape]
    text = "name: lab\nx:\n" + nested if shape == "block-map" else f"name: lab\nx: {nested}\n"
    lines = problems_of_text(text)
    assert len(lines) == 1
    assert lines[0].endswith(f": nested more than {MAX_DEPTH} levels deep")


def test_nesting_through_a_chain_of_aliases_is_bounded_too() -> None:
    chain = "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000))
    assert problems_of_text("name: lab\na0: &a0 [1]\n" + chain) == [
        f"t.yaml:2: nested more than {MAX_DEPTH} levels deep through aliases"]


@pytest.mark.parametrize(("lists", "expected"), [
    (MAX_DEPTH - 1,
     "t.yaml:4: x: unknown field; allowed: name, underlay, outside, hosts, lan, engine"),
    (MAX_DEPTH, f"t.yaml:4: nested more than {MAX_DEPTH} levels deep"),
])
def test_the_depth_limit_counts_the_top_level_mapping(lists: int, expected: str) -> None:
    assert problems_of_text(GOOD + f"x: {'[' * lists}{']' * lists}\n") == [expected]


def test_a_chain_of_merge_keys_is_bounded_in_depth() -> None:
    # Anchored under repeated keys, which the reader skips, so the last merge flattens
    # the whole chain at once.
    chain = "".join(f"k: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 3000))
    lines = problems_of_text("name: lab\nk: 0\nk: &a0 {x: 1}\n" + chain + "use: *a2999\n")
    assert len(lines) == 1
    assert lines[0].endswith(f": merge keys nested more than {MAX_DEPTH} levels deep")


def test_merge_keys_that_double_at_each_step_are_bounded_in_size() -> None:
    doubling = "".join(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}\n" for i in range(1, 40))
    lines = problems_of_text("name: lab\na0: &a0 {x: 1, y: 2}\n" + doubling)
    assert lines == [f"t.yaml:17: more than {MAX_VALUES} values (counting what merge keys copy)"]


def test_too_many_values_stop_the_reader_early() -> None:
    lines = problems_of_text(GOOD + "x: [" + "1, " * MAX_VALUES + "1]\n")
    assert lines == [f"t.yaml:4: more than {MAX_VALUES} values"]


# -- any text, any bytes: a Topology or a TopologyError, nothing else ---------------------

YAML_PIECES = st.sampled_from([
    "name: lab\n", "hosts:\n", "  h1: {}\n", "  h1:\n", "    networks:\n", "      a: ", "[", "]",
    "{", "}", ", ", ": ", "- ", "&x ", "*x", "!!str ", "<<: ", "\n", "  ", "'", '"', "\x00",
    "\t", "#", "---\n", "192.0.2.0/24", "1", "true", "\u2028", "\ufeff",
])


def _assert_topology_or_one_error(outcome: object, source: str) -> None:
    assert isinstance(outcome, TopologyError | Topology)
    if isinstance(outcome, TopologyError):
        lines = str(outcome).splitlines()
        assert lines and all(line.startswith(source) for line in lines)


def _load(text: str) -> object:
    try:
        return load_topology_text(text, source="t.yaml")
    except TopologyError as error:
        return error


@settings(max_examples=300, deadline=None)
@given(st.lists(YAML_PIECES, max_size=60).map("".join) | st.text(max_size=300))
def test_any_text_gives_a_topology_or_a_topology_error(text: str) -> None:
    _assert_topology_or_one_error(_load(text), "t.yaml")


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_bytes_in_a_file_give_a_topology_or_a_topology_error(tmp_path: Path,
                                                                   data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    try:
        outcome: object = read_topology(path).topology
    except TopologyError as error:
        outcome = error
    _assert_topology_or_one_error(outcome, str(path))
