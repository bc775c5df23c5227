"""The conformance kit's reports: JUnit XML, Markdown and HTML tables of checks by driver."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from emulator.conformance import reports
from emulator.conformance.registry import all_checks


def _result(driver: str, outcomes: dict[str, str], started: str) -> dict:
    return {"driver": driver, "status": "ran", "started": started, "duration_s": 12.5,
            "target": {"driver": driver, "kind": "builtin", "scope": "local"},
            "checks": [{"id": cid, "statement": f"rule {cid}", "outcome": outcome,
                        "time_s": 0.25, "reason": f"why {cid} | {outcome}", "notes": []}
                       for cid, outcome in outcomes.items()]}


_VERDICT = {"passed": "", "failed": '<failure message="why">why</failure>',
            "error": '<error message="why">why</error>',
            "skipped": '<skipped type="pytest.skip" message="why">suite.py:1: why</skipped>'}


def _pytest_junit(run_dir, driver: str, outcomes: dict[str, str]) -> None:
    """`<driver>/junit.xml` as pytest writes it for the kit's items (one line, xunit2)."""
    n = {o: sum(v == o for v in outcomes.values()) for o in ("failed", "error", "skipped")}
    cases = "".join(f'<testcase classname="cnm_conformance.{driver}" name="{cid} rule {cid}" '
                    f'time="0.250">{_VERDICT[outcome]}</testcase>'
                    for cid, outcome in outcomes.items())
    (run_dir / driver / reports.JUNIT).write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="cnm-conformance.{driver}" errors="{n["error"]}" '
        f'failures="{n["failed"]}" skipped="{n["skipped"]}" tests="{len(outcomes)}" '
        f'time="12.500" timestamp="2025-01-01T00:00:01" hostname="h">{cases}</testsuite>'
        "</testsuites>")


def _run(tmp_path):
    run_dir = tmp_path / "conformance" / "20250101T000000Z-abcd"
    for driver, outcomes, started in (
            ("bridge", {"CNM-NET-01": "passed", "CNM-ISO-01": "failed",
                        "CNM-MTU-01": "skipped"}, "2025-01-01T00:00:01"),
            ("bp", {"CNM-NET-01": "error", "CNM-ISO-01": "passed"}, "2025-01-01T00:00:02")):
        reports.write_driver_results(run_dir, _result(driver, outcomes, started))
        _pytest_junit(run_dir, driver, outcomes)
    return run_dir


def test_results_are_loaded_in_the_order_the_drivers_ran(tmp_path):
    run_dir = _run(tmp_path)
    assert [r["driver"] for r in reports.load_run(run_dir)] == ["bridge", "bp"]


def test_failed_ids_count_failures_and_errors(tmp_path):
    bridge, bp = reports.load_run(_run(tmp_path))
    assert reports.failed_ids(bridge) == {"CNM-ISO-01"}
    assert reports.failed_ids(bp) == {"CNM-NET-01"}
    assert reports.counts(bridge) == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    assert not reports.run_ok([bridge, bp])


def _shape(element: ET.Element) -> tuple:
    """An element as data, whitespace between elements aside."""
    return (element.tag, element.attrib, (element.text or "").strip(),
            [_shape(child) for child in element])


def test_junit_holds_each_drivers_suite_as_pytest_wrote_it_and_adds_them_up(tmp_path):
    run_dir = _run(tmp_path)
    paths = reports.write_reports(run_dir)
    root = ET.parse(paths["junit"]).getroot()
    assert root.tag == "testsuites" and root.get("name") == "cnm-conformance"
    assert (root.get("tests"), root.get("failures"), root.get("errors"),
            root.get("skipped"), root.get("time")) == ("5", "1", "1", "1", "25.000")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["cnm-conformance.bridge", "cnm-conformance.bp"]
    for suite in suites.values():
        driver = suite.get("name").rsplit(".", 1)[1]
        written = ET.parse(run_dir / driver / "junit.xml").getroot().find("testsuite")
        assert _shape(suite) == _shape(written)
    cases = {c.get("name"): c for c in suites["cnm-conformance.bridge"].findall("testcase")}
    assert cases["CNM-ISO-01 rule CNM-ISO-01"].find("failure") is not None
    assert cases["CNM-MTU-01 rule CNM-MTU-01"].find("skipped") is not None
    assert suites["cnm-conformance.bp"].findall("testcase")[0].find("error") is not None


def test_a_driver_pytest_never_ran_for_is_left_out_of_junit_only(tmp_path):
    run_dir = _run(tmp_path)
    broken = _result("gone", {}, "2025-01-01T00:00:03")
    broken.update(status="error", reason="pytest exited with status 3 before recording results")
    reports.write_driver_results(run_dir, broken)
    paths = reports.write_reports(run_dir)
    root = ET.parse(paths["junit"]).getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "cnm-conformance.bridge", "cnm-conformance.bp"]
    assert "| gone | builtin | local | 0 | 0 | 0 | 0 | run failed: pytest exited with " \
        "status 3 before recording results |" in paths["markdown"].read_text()


def test_markdown_tables_checks_by_driver_with_time_and_reason(tmp_path):
    paths = reports.write_reports(_run(tmp_path))
    text = paths["markdown"].read_text()
    assert "| check | statement | bridge | bp |" in text
    assert "| CNM-NET-01 | rule CNM-NET-01 | pass | **ERROR** |" in text
    assert "| CNM-MTU-01 | rule CNM-MTU-01 | skip | - |" in text
    assert "| bridge | CNM-ISO-01 | **FAIL** | 0.25 s | why CNM-ISO-01 \\| failed |" in text


def test_html_report_escapes_and_colours_outcomes(tmp_path):
    run_dir = _run(tmp_path)
    result = _result("x<y", {"CNM-NET-01": "failed"}, "2025-01-01T00:00:03")
    result["checks"][0]["reason"] = "<script>"
    reports.write_driver_results(run_dir, result)
    text = reports.write_reports(run_dir)["html"].read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<td class='failed'>failed</td>" in text
    assert "x&lt;y" in text


def test_a_driver_that_could_not_run_lists_every_check_as_skipped(tmp_path):
    result = reports.skipped_driver("mesh", "not installed", all_checks())
    assert {c["outcome"] for c in result["checks"]} == {"skipped"}
    assert len(result["checks"]) == len(all_checks())
    run_dir = tmp_path / "run"
    reports.write_driver_results(run_dir, result)
    text = reports.write_reports(run_dir)["markdown"].read_text()
    assert "not run: not installed" in text
    assert reports.run_ok(reports.load_run(run_dir))


def test_notes_join_the_reason_in_the_tables():
    assert reports.explanation({"reason": "", "notes": ["waited"]}) == "notes: waited"
    assert reports.explanation({"reason": "r", "notes": ["a", "b"]}) == "r (notes: a; b)"
    assert reports.explanation({"reason": "r"}) == "r"
