"""The differential's dns and published parts: cells of the two labs joined by what
was asked (short ids matched by whose they are), disagreements classified."""

from __future__ import annotations

from emulator.experiments.differential.classify import Classifier, parse_entries
from emulator.experiments.differential.experiment import (
    dns_differences,
    dns_rows,
    published_rows,
    section_agreement,
)
from emulator.experiments.isolation import PublishedCell
from emulator.probes.dnstable import DnsCell

CLASSIFIER = Classifier(parse_entries([
    {"id": "udp-proxy", "class": "defect", "section": "published", "key": "^h1/f1 -> ",
     "field": "*udp", "reason": "example"},
]))


def dns(source: str, name: str, asked: str, expected: str, observed: str) -> DnsCell:
    return DnsCell(source, name, asked, "", expected, observed, expected == observed, "", None)


def test_dns_cells_are_joined_by_what_was_asked_not_by_the_random_name():
    emulated = [dns("h1/f1", "f2", "f2", "h1/f2@front", "h1/f2@front"),
                dns("h1/f1", "aaaaaaaaaaaa", "<short id of h1/f2>", "h1/f2@front", "")]
    real = [dns("h1/f1", "bbbbbbbbbbbb", "<short id of h1/f2>", "h1/f2@front", "h1/f2@front"),
            dns("h1/f1", "f2", "f2", "h1/f2@front", "h1/f2@front")]
    rows = dns_rows(emulated, real, CLASSIFIER)
    assert len(rows) == 2
    by_asked = {r["asked"]: r for r in rows}
    assert by_asked["f2"]["agree"]
    short = by_asked["<short id of h1/f2>"]
    assert (short["agree"], short["emulated"], short["real"], short["class"]) == (
        False, "no address", "h1/f2@front", "unclassified")
    assert section_agreement("dns", rows)["differ_unclassified"] == 1
    assert dns_differences(rows)[0]["item"] == "h1/f1 asks <short id of h1/f2>"


def test_a_cell_only_one_lab_has_is_a_difference():
    rows = dns_rows([dns("h1/f1", "f2", "f2", "x", "x")], [], CLASSIFIER)
    assert rows[0]["real"] == "absent" and not rows[0]["agree"]


def published(source: str, target: str, binding: str, observed: str) -> PublishedCell:
    return PublishedCell(source, "container, same network", target, binding, "reached",
                         observed, "", None)


def test_published_cells_are_joined_and_classified():
    emulated = [published("h1/f1", "host address:8082/udp", "8082:82/udp", "blocked"),
                published("outside", "host address:8080/tcp", "8080:80/tcp", "reached")]
    real = [published("outside", "host address:8080/tcp", "8080:80/tcp", "reached"),
            published("h1/f1", "host address:8082/udp", "8082:82/udp", "reached")]
    rows = {r["source"]: r for r in published_rows(emulated, real, CLASSIFIER)}
    assert rows["outside"]["agree"]
    assert (rows["h1/f1"]["agree"], rows["h1/f1"]["class"]) == (False, "defect")


def test_two_labs_agreeing_on_a_wrong_answer_fail_the_model_check():
    from emulator.experiments.differential.experiment import model_checks

    both_unanswered = [dns("h1/f1", "f2", "f2", "h1/f2@front", "")]
    rows = dns_rows(both_unanswered, both_unanswered, CLASSIFIER)
    assert rows[0]["agree"]
    checks = model_checks("dns", rows)
    assert [c.ok for c in checks] == [False, False]
    fine = dns_rows([dns("h1/f1", "f2", "f2", "h1/f2@front", "h1/f2@front")],
                    [dns("h1/f1", "f2", "f2", "h1/f2@front", "h1/f2@front")], CLASSIFIER)
    assert all(c.ok for c in model_checks("dns", fine))
