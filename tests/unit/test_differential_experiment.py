"""The differential's own bookkeeping: isolation cells joined across two labs, raw MACs
compared by kind, differences classified, agreement per section."""

from __future__ import annotations

from emulator.experiments.differential.classify import Classifier, parse_entries
from emulator.experiments.differential.experiment import (
    classified_rows,
    compare_macs_by_kind,
    isolation_rows,
    section_agreement,
    transcripts_total,
)
from emulator.probes.matrix import Cell
from emulator.probes.model import Verdict

R, B = Verdict.REACHED, Verdict.BLOCKED

CLASSIFIER = Classifier(parse_entries([
    {"id": "internal", "class": "version", "section": "isolation", "key": "/s1 -> h1$",
     "emulated": "^blocked$", "real": "^reached$", "reason": "no gateway on internal",
     "source": "https://github.com/moby/moby/pull/46603"},
    {"id": "macs", "class": "version", "section": "facts", "field": "*[mM]ac*", "real": "^02:42",
     "reason": "random MACs", "source": "https://github.com/moby/moby/pull/48808"},
]))


def cell(source: str, target: str, expected: Verdict, observed: Verdict,
         protocol: str = "icmp") -> Cell:
    return Cell(source, target, protocol, expected, observed, None, "")


def test_isolation_cells_are_joined_and_a_disagreement_classified() -> None:
    emulated = [cell("h1/s1", "h1", B, B), cell("h1/f1", "h1/f2", R, R)]
    real = [cell("h1/f1", "h1/f2", R, R), cell("h1/s1", "h1", R, R)]
    rows = isolation_rows(emulated, real, CLASSIFIER)
    by_key = {(r["source"], r["target"]): r for r in rows}
    assert by_key[("h1/f1", "h1/f2")]["agree"] and by_key[("h1/f1", "h1/f2")]["class"] == ""
    internal = by_key[("h1/s1", "h1")]
    assert (internal["agree"], internal["emulated"], internal["real"]) == (False, "blocked",
                                                                           "reached")
    assert (internal["expected"], internal["expected_real"]) == ("blocked", "reached")
    assert internal["class"] == "version" and "46603" in internal["source_of_change"]


def test_a_cell_probed_on_one_lab_only_is_a_difference_left_unclassified() -> None:
    rows = isolation_rows([cell("h1/a", "h1/b", R, R)], [cell("h1/a", "h1/c", R, R)],
                          CLASSIFIER)
    assert [(r["target"], r["emulated"], r["real"], r["class"]) for r in rows] == [
        ("h1/b", "reached", "absent", "unclassified"),
        ("h1/c", "absent", "reached", "unclassified")]


def test_raw_macs_agree_when_their_kinds_do_and_kinds_carry_the_difference() -> None:
    rows = [
        {"scenario": "s", "container": "c", "fact": "eth0 mac", "emulated": "1a:..",
         "real": "02:42:ac:11:00:02", "agree": False},
        {"scenario": "s", "container": "c", "fact": "eth0 mac kind", "emulated": "random",
         "real": "02:42 + IPv4", "agree": False},
        {"scenario": "s", "container": "d", "fact": "docker0 mac", "emulated": "1a:..",
         "real": "3e:..", "agree": False},
        {"scenario": "s", "container": "d", "fact": "docker0 mac kind", "emulated": "random",
         "real": "random", "agree": True},
    ]
    compared = compare_macs_by_kind(rows)
    assert [r["agree"] for r in compared] == [False, False, True, True]
    assert compared[0]["real"] == "02:42:ac:11:00:02"
    classified = classified_rows("facts", compared, "{scenario}/{container}", "fact",
                                 CLASSIFIER)
    assert [r["class"] for r in classified] == ["version", "version", "", ""]


def test_agreement_counts_items_and_differences_by_class() -> None:
    rows = [{"agree": True, "class": ""}, {"agree": False, "class": "version"},
            {"agree": False, "class": "unclassified"}, {"agree": True, "class": ""}]
    assert section_agreement("x", rows) == {
        "section": "x", "items": 4, "agree": 2, "agreement": 0.5, "differ_version": 1,
        "differ_kernel": 0, "differ_defect": 0, "differ_unclassified": 1}
    assert section_agreement("empty", [])["agreement"] == 1.0


def test_the_corpus_is_counted_in_commands_each_under_its_most_severe_class() -> None:
    def row(index: int, field: str, agree: bool, cls: str = "") -> dict[str, object]:
        return {"section": "refusals", "index": index, "field": field, "agree": agree,
                "class": cls}

    rows = [row(0, "stdout", True), row(0, "stderr", True),
            row(1, "stdout", False, "version"), row(1, "stderr", False, "defect"),
            row(2, "exit_code", False, "version"), row(-1, "leftover", True)]
    assert transcripts_total(rows) == {
        "section": "transcripts", "items": 4, "agree": 2, "agreement": 0.5,
        "differ_version": 1, "differ_kernel": 0, "differ_defect": 1,
        "differ_unclassified": 0}
