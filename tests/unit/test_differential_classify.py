"""The differential's classifier: every difference explained by a known-difference
entry (version with its Docker change, kernel, defect) or left unclassified."""

from __future__ import annotations

import pytest

from emulator.experiments.differential.classify import (
    UNCLASSIFIED,
    Classifier,
    Difference,
    KnownDifferencesError,
    parse_entries,
)

PR = "https://github.com/moby/moby/pull/45905"


def classifier(*entries: dict) -> Classifier:
    return Classifier(parse_entries(list(entries)))


def test_the_first_matching_entry_classifies_with_its_reason_and_source() -> None:
    classify = classifier(
        {"id": "aliases", "class": "version", "section": "transcripts/*", "field": "stdout",
         "key": "Aliases", "real": r"<ID\d+:12>", "reason": "short id no longer an alias",
         "source": PR},
        {"id": "catch-aliases", "class": "defect", "key": "Aliases", "reason": "later"},
    )
    verdict = classify("transcripts/lifecycle", "docker inspect -f {{json .Aliases}} c",
                       "stdout", '["web"]', '["web","<ID3:12>"]')
    assert (verdict.cls, verdict.reason, verdict.source, verdict.entry) == (
        "version", "short id no longer an alias", PR, "aliases")


def test_every_criterion_must_match() -> None:
    entry = {"id": "k", "class": "kernel", "section": "isolation", "field": "icmp",
             "key": "c1->c2", "expected": "reached", "emulated": "reached", "real": "blocked",
             "reason": "no br_netfilter"}
    classify = classifier(entry)
    hit = Difference("isolation", "c1->c2", "icmp", "reached", "blocked", "reached")
    assert classify.classify(hit).cls == "kernel"
    for name, other in [("section", "overlay"), ("field", "tcp"), ("key", "c2->c1"),
                        ("expected", "blocked"), ("emulated", "error"), ("real", "reached")]:
        miss = Difference(**{**hit.__dict__, name: other})
        assert classify.classify(miss).cls == UNCLASSIFIED, name


def test_values_of_any_type_are_matched_as_text() -> None:
    classify = classifier({"id": "mtu", "class": "defect", "field": "mtu", "real": "^1450$",
                           "reason": "known"})
    assert classify("facts", "c1", "mtu", 1500, 1450).cls == "defect"
    assert classify("facts", "c1", "mtu", 1500, None).cls == UNCLASSIFIED


def test_unused_entries_are_reported_per_section() -> None:
    classify = classifier(
        {"id": "a", "class": "defect", "section": "transcripts/*", "key": "x", "reason": "r"},
        {"id": "b", "class": "defect", "section": "isolation", "key": "y", "reason": "r"},
    )
    classify("transcripts/readme", "x", "stdout", "1", "2")
    assert [e.id for e in classify.unused()] == ["b"]
    assert classify.unused({"transcripts/readme"}) == []


def test_a_version_difference_must_cite_the_docker_change() -> None:
    base = {"id": "v", "class": "version", "key": "x", "reason": "changed"}
    with pytest.raises(KnownDifferencesError, match="cites the Docker change"):
        parse_entries([base])
    with pytest.raises(KnownDifferencesError, match="cites the Docker change"):
        parse_entries([{**base, "source": "https://example.com/moby/moby/pull/1"}])
    for source in (PR, "https://github.com/docker/cli/commit/e6534b4",
                   "https://docs.docker.com/engine/release-notes/25.0/#networking"):
        assert parse_entries([{**base, "source": source}])[0].source == source


def test_every_problem_of_the_file_is_named_at_once() -> None:
    with pytest.raises(KnownDifferencesError) as caught:
        parse_entries([{"id": "a", "class": "guess", "key": "(", "reason": ""},
                       {"id": "a", "class": "defect", "reason": "r", "colour": "red"},
                       "text"], "kd.yaml")
    assert str(caught.value).splitlines() == [
        "kd.yaml: a: class must be one of version, kernel, defect, not 'guess'",
        "kd.yaml: a: reason missing",
        "kd.yaml: a: key: bad regular expression: missing ), unterminated subpattern at "
        "position 0",
        "kd.yaml: a: unknown key 'colour'",
        "kd.yaml: a: id used twice",
        "kd.yaml: a: matches every difference (give a section, key or pattern)",
        "kd.yaml: entry 3: a mapping expected",
    ]


def test_the_packaged_known_differences_load() -> None:
    entries = Classifier.load().entries
    assert entries and len({e.id for e in entries}) == len(entries)
