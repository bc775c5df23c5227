"""The transcript corpus of the differential: normalising CLI output, the corpus
file, and comparing two hosts' transcripts into classified rows."""

from __future__ import annotations

import pytest

from emulator.experiments.differential import transcripts as tr
from emulator.experiments.differential.classify import Classifier, parse_entries
from emulator.experiments.differential.normalise import Normaliser, normalise_all

NET_ID = "9c01c30c28434a8165daab9a0fd4a93c56370224cc346198bd3b8923a2d570ba"
CTR_ID = "2f8c9d4364a576049dd519280ae0b4c771b35b962047b4f155a4f0a8080cc6d7"


def test_equal_ids_read_equal_and_a_short_id_reads_as_its_full_ids_prefix() -> None:
    out = normalise_all([f"{NET_ID}\n", f"{CTR_ID}\n", f"{NET_ID[:12]}   front   bridge\n",
                         f"hostname {CTR_ID[:12]}\n"])
    assert out == ["<ID1>\n", "<ID2>\n", "<ID1:12>   front   bridge\n", "hostname <ID2:12>\n"]


def test_ids_are_numbered_by_order_of_appearance_not_by_value() -> None:
    a = Normaliser().text(f"{NET_ID} {CTR_ID}")
    b = Normaliser().text(f"{CTR_ID} {NET_ID}")
    assert a == b == "<ID1> <ID2>"


def test_two_different_ids_stay_different() -> None:
    assert Normaliser().text(f"{NET_ID} {CTR_ID} {NET_ID}") == "<ID1> <ID2> <ID1>"


def test_macs_are_numbered_case_insensitively_and_other_hex_is_left() -> None:
    text = "ether 02:42:AC:11:00:02 02:42:ac:11:00:02 52:69:f5:62:f4:9b fe80::1 deadbeef"
    assert Normaliser().text(text) == "ether <MAC1> <MAC1> <MAC2> fe80::1 deadbeef"


@pytest.mark.parametrize(("raw", "normal"), [
    ('"Created": "2026-12-06T12:57:01.397228000Z",', '"Created": "<TIME>",'),
    ("2023-04-01T10:00:00+02:00", "<TIME>"),
    ("2026-12-06 12:57:01 +0000 UTC", "<TIME>"),
    ("web Up Less than a second", "web Up <DURATION>"),
    ("Up 2 seconds", "Up <DURATION>"),
    ("Exited (0) About a minute ago", "Exited (0) <DURATION> ago"),
    ("3 weeks ago", "<DURATION> ago"),
    ("seq=0 ttl=64 time=0.081 ms", "seq=0 ttl=64 time=<MS>"),
    ("round-trip min/avg/max = 0.081/0.090/0.1 ms", "round-trip min/avg/max = <MS>"),
    ("eth0@if17   UP   10.20.0.2/24", "eth0@if<N>   UP   10.20.0.2/24"),
    ("RX packets 12  bytes 936 (936.0 B)", "RX packets <N>   bytes <N> (<SIZE>)"),
    ("RX bytes:1234 (1.2 KiB)", "RX bytes:<N> (<SIZE>)"),
    ("veth94120d9: flags=4163", "<VETH1>: flags=4163"),
    ("1 packets transmitted, 1 packets received", "1 packets transmitted, 1 packets received"),
])
def test_what_differs_between_any_two_hosts_is_a_placeholder(raw: str, normal: str) -> None:
    assert Normaliser().text(raw) == normal


def test_column_padding_and_trailing_blanks_do_not_count() -> None:
    narrow = "NAME     STATUS\nweb      Up 2 seconds   \n"
    wide = "NAME     STATUS\nweb      Up Less than a second\n"
    assert Normaliser().text(narrow) == Normaliser().text(wide)
    indented = '[\n    {\n        "Name": "front"\n'
    assert Normaliser().text(indented) == indented


def test_a_hosts_own_address_is_a_placeholder_but_not_inside_another() -> None:
    normaliser = Normaliser({"192.0.2.11": "<HOST_ADDRESS>"})
    assert (normaliser.text("inet 192.0.2.11 netmask; 192.0.2.111; 10.192.0.2.11")
            == "inet <HOST_ADDRESS> netmask; 192.0.2.111; 10.192.0.2.11")


def test_the_packaged_corpus_has_at_least_60_commands_in_named_sections() -> None:
    sections = tr.load_corpus()
    assert {"readme", "lifecycle", "refusals"} <= {s.name for s in sections}
    assert sum(len(s.commands) for s in sections) >= 60
    assert all(s.cleanup for s in sections)


def test_the_corpus_names_every_problem_at_once() -> None:
    data = {"sections": [{"name": "a", "commands": ["ls -l", "docker 'unclosed"]},
                         {"name": "a", "commands": []}, "nonsense"]}
    with pytest.raises(tr.CorpusError) as caught:
        tr.parse_corpus(data, "c.yaml")
    problems = str(caught.value).splitlines()
    assert problems == [
        "c.yaml: a: commands 1: not a docker command: 'ls -l'",
        "c.yaml: a: commands 2: No closing quotation: docker 'unclosed",
        "c.yaml: a: no commands",
        "c.yaml: section a: name used twice",
        "c.yaml: a: no commands",
        "c.yaml: section 3: a mapping with a name expected",
    ]


def test_a_command_runs_without_its_docker_word() -> None:
    [section] = tr.parse_corpus({"sections": [{"name": "s", "commands": [
        "docker network inspect front --format '{{json .IPAM.Config}}'"]}]})
    assert section.commands[0].argv == ["network", "inspect", "front", "--format",
                                        "{{json .IPAM.Config}}"]


def transcript(host: str, *records: tuple, leftovers: dict | None = None) -> tr.Transcript:
    return tr.Transcript(host, [tr.Record(*r) for r in records], leftovers or {})


CLASSIFIER = Classifier(parse_entries([
    {"id": "v", "class": "version", "section": "transcripts/refusals", "field": "stderr",
     "key": "network rm", "emulated": "not found", "real": "No such network",
     "reason": "dockerd's text changed", "source": "https://github.com/moby/moby/pull/1"},
]))


def test_compare_gives_one_row_per_command_and_field_and_classifies_differences() -> None:
    emulated = transcript("e", ("readme", 0, "docker network ls", 0, "bridge\n", ""),
                          ("refusals", 0, "docker network rm x", 1, "", "network x not found"),
                          ("refusals", 1, "docker network ls -q", 0, "<ID1:12>\n", ""))
    real = transcript("r", ("readme", 0, "docker network ls", 0, "bridge\n", ""),
                      ("refusals", 0, "docker network rm x", 1, "", "No such network: x"),
                      ("refusals", 1, "docker network ls -q", 0, "<ID1:12>\n<ID2:12>\n", ""))
    rows = tr.compare(emulated, real, CLASSIFIER)
    assert [tuple(r) for r in rows] == [tr.ROW_COLUMNS] * 9
    differing = [(r["section"], r["index"], r["field"], r["class"], r["source"])
                 for r in rows if not r["agree"]]
    assert differing == [
        ("refusals", 0, "stderr", "version", "https://github.com/moby/moby/pull/1"),
        ("refusals", 1, "stdout", "unclassified", ""),
    ]
    assert [r["command"] for r in tr.unclassified(rows)] == ["docker network ls -q"]
    summary = {s["section"]: s for s in tr.agreement(rows)}
    assert summary["readme"] | {} == {
        "section": "readme", "commands": 1, "agree": 1, "agreement": 1.0, "differ_version": 0,
        "differ_kernel": 0, "differ_defect": 0, "differ_unclassified": 0}
    assert (summary["refusals"]["commands"], summary["refusals"]["agree"],
            summary["refusals"]["differ_version"],
            summary["refusals"]["differ_unclassified"]) == (2, 0, 1, 1)


def test_a_section_that_leaves_something_behind_is_a_difference() -> None:
    record = ("lifecycle", 0, "docker network create n", 0, "<ID1>\n", "")
    emulated = transcript("e", record, leftovers={"lifecycle": "networks left: n"})
    rows = tr.compare(emulated, transcript("r", record), CLASSIFIER)
    [left] = [r for r in rows if r["field"] == tr.LEFTOVER]
    assert (left["agree"], left["class"], left["emulated"]) == (False, "unclassified",
                                                                 "networks left: n")


def test_transcripts_of_different_corpora_are_not_compared() -> None:
    with pytest.raises(ValueError, match="not of the same corpus"):
        tr.compare(transcript("e", ("s", 0, "docker a", 0, "", "")),
                   transcript("r", ("s", 1, "docker a", 0, "", "")), CLASSIFIER)
