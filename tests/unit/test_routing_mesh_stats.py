"""The routing-mesh experiment's statistics and report, on connections made up to
show each conclusion: shares and their chi-square test, hosts crossed, sources
seen, latency medians and intervals, a removal's failures and stop time, and the
files a run writes."""

from __future__ import annotations

import math
import random

import pytest

from emulator.experiments.echoclient import Reply, parse_line
from emulator.experiments.results import Outcome
from emulator.experiments.routing_mesh import checks_of
from emulator.experiments.routing_mesh_report import figures, headline, plots, summary_md
from emulator.experiments.routing_mesh_stats import (
    DIRECT,
    MESH_CROSS,
    MESH_SAME,
    connection_row,
    entry_summaries,
    host_mode_rows,
    latency_rows,
    removal_summary,
    share_rows,
)
from emulator.experiments.stats import (
    chi_square_sf,
    chi_square_uniform,
    median_difference,
    median_estimate,
)

REPLICAS = {"aaa": "h1", "bbb": "h2"}
SANDBOX = {"h1": "10.0.0.2", "h2": "10.0.0.3", "h3": "10.0.0.4"}
OUTSIDE = "192.0.2.254"


def mesh_rows(n: int = 30, answer=None, source=SANDBOX.get, latency=1.0) -> list[dict]:
    """n connections per node, answered round robin unless `answer(entry, i)` says."""
    rows = []
    for i in range(n):
        for entry in ("h1", "h2", "h3"):
            hostname = answer(entry, i) if answer else ("aaa", "bbb")[i % 2]
            reply = (Reply(True, hostname, source(entry), latency_ms=latency) if hostname
                     else Reply(False, error="refused"))
            rows.append(connection_row("mesh", "ingress", entry, f"192.0.2.1{entry[1]}",
                                       8080, i, i * 0.01, reply, REPLICAS))
    return rows


# -- statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "dof", "p"), [
    (3.841458820694124, 1, 0.05), (5.991464547107979, 2, 0.05), (7.814727903251178, 3, 0.05),
    (11.070497693516351, 5, 0.05), (0.5, 3, 0.918891411654676), (23.209251158954356, 10, 0.01),
])
def test_chi_square_survival_matches_the_tables(x, dof, p):
    assert chi_square_sf(x, dof) == pytest.approx(p, rel=1e-9)


def test_chi_square_uniform_tells_even_from_skewed_counts():
    assert chi_square_uniform([30, 30]).p_value == 1.0
    skewed = chi_square_uniform([40, 20])
    assert skewed.statistic == pytest.approx(20 / 3) and skewed.dof == 1
    assert skewed.p_value == pytest.approx(0.00982, abs=1e-5)
    assert math.isnan(chi_square_uniform([5]).p_value)


def test_median_interval_is_the_order_statistics_of_the_binomial():
    values = list(range(1, 101))
    random.Random(1).shuffle(values)
    m = median_estimate(values)
    assert (m.median, m.low, m.high, m.n) == (50.5, 40, 61, 100)  # the textbook ranks
    few = median_estimate([3.0, 1.0, 2.0])
    assert few.median == 2.0 and few.low == -math.inf and few.high == math.inf


def test_median_difference_interval_covers_the_shift():
    rng = random.Random(7)
    slow = [5.0 + rng.random() for _ in range(200)]
    fast = [2.0 + rng.random() for _ in range(200)]
    d = median_difference(slow, fast, seed=3)
    assert d.low < 3.0 < d.high and d.high - d.low < 0.5
    assert median_difference(slow, fast, seed=3) == d  # seeded: reproducible


# -- conclusions from connections ----------------------------------------------------------


def test_round_robin_reaches_every_replica_from_every_node_evenly():
    rows = mesh_rows()
    entries = {e["entry"]: e for e in entry_summaries(rows, REPLICAS, "mesh", SANDBOX)}
    for entry, e in entries.items():
        assert e["answered"] == e["connections"] == 30
        assert e["replicas_reached"] == 2 and e["unreached"] == ""
        assert e["p_value"] == 1.0
        assert e["sources"] == SANDBOX[entry] == e["sandbox_address"]
    # h3 runs no replica: everything it answers crossed hosts; h1 and h2 half
    assert entries["h3"]["crossed_share"] == 1.0
    assert entries["h1"]["crossed_share"] == entries["h2"]["crossed_share"] == 0.5
    shares = share_rows(rows, REPLICAS, "mesh")
    assert {(s["entry"], s["replica"]): s["share"] for s in shares} == {
        (e, r): 0.5 for e in ("h1", "h2", "h3") for r in REPLICAS}


def test_an_unreached_replica_and_a_silent_node_fail_the_verdict():
    def answer(entry: str, i: int) -> str:
        if entry == "h3":
            return ""  # h3 does not publish the port
        return "aaa" if entry == "h2" else ("aaa", "bbb")[i % 2]

    entries = entry_summaries(mesh_rows(answer=answer), REPLICAS, "mesh", SANDBOX)
    by = {e["entry"]: e for e in entries}
    assert by["h2"]["unreached"] == "bbb" and by["h2"]["p_value"] < 1e-6
    assert by["h3"]["failed"] == 30 and by["h3"]["errors"] == "refused:30"
    checks = checks_of(entries, [], [], OUTSIDE, "10.0.0.0/24")
    failed = {(c.step, c.what.split(" ")[0]) for c in checks if not c.ok}
    assert failed == {("h2", "replicas"), ("h3", "publishes"), ("h3", "replicas"),
                      ("h3", "source")}


def test_the_client_address_seen_by_a_replica_is_not_the_sandbox_rewrite():
    rows = mesh_rows(source=lambda entry: OUTSIDE)
    entries = entry_summaries(rows, REPLICAS, "mesh", SANDBOX)
    checks = [c for c in checks_of(entries, [], [], OUTSIDE, "10.0.0.0/24")
              if c.what.startswith("source")]
    assert len(checks) == 3 and not any(c.ok for c in checks)
    # without ingress-sbox in network inspect: one ingress address, not outside's
    unlisted = entry_summaries(mesh_rows(), REPLICAS, "mesh", {})
    checks = [c for c in checks_of(unlisted, [], [], OUTSIDE, "10.0.0.0/24")
              if c.what.startswith("source")]
    assert all(c.ok for c in checks) and "10.0.0.0/24" in checks[0].expected


def test_latency_medians_per_path_and_the_added_median():
    rng = random.Random(2)
    rows = []
    for i in range(100):
        for entry, hostname, mode, ms in (("h1", "aaa", "ingress", 1.0),
                                          ("h3", "bbb", "ingress", 1.5),
                                          ("h1", "ccc", "host", 0.5)):
            nodes = {**REPLICAS, "ccc": "h1"}
            reply = Reply(True, hostname, "x", latency_ms=ms + rng.random() * 0.1)
            rows.append(connection_row(mode, mode, entry, "a", 1, i, 0.0, reply, nodes))
    by = {(r["what"][:5], r["path"]): r for r in latency_rows(rows, seed=1)}
    assert by[("media", MESH_SAME)]["n"] == 100
    assert 1.0 < by[("media", MESH_SAME)]["ci_low_ms"] <= by[("media", MESH_SAME)]["median_ms"]
    assert by[("added", MESH_SAME)]["median_ms"] == pytest.approx(0.5, abs=0.03)
    assert by[("added", MESH_CROSS)]["ci_low_ms"] > 0.9
    assert by[("media", DIRECT)]["median_ms"] < 0.6


def removal_rows(timeline: list[tuple[float, str]]) -> list[dict]:
    return [connection_row("rm -f", "ingress", ("h1", "h2", "h3")[i % 3], "a", 8080, i, t,
                           Reply(True, h, "s", latency_ms=1.0) if h else
                           Reply(False, error="timeout"), {**REPLICAS, "ccc": "h3"})
            for i, (t, h) in enumerate(timeline)]


def test_removal_counts_failures_and_the_time_until_the_balancer_stops():
    timeline = [(-0.2, "aaa"), (-0.1, "bbb"), (0.0, "aaa"), (0.05, "bbb"), (0.1, ""),
                (0.2, "aaa"), (0.3, ""), (0.4, "aaa")] + [(0.5 + i / 100, "aaa") for i in range(20)]
    timeline += [(0.9, "ccc")]
    s = removal_summary(removal_rows(timeline), "rm -f", {"bbb"}, {"aaa", "bbb"})
    assert s["failed"] == 2 and s["errors"] == "timeout:2"
    assert s["answered_by_removed"] == 1  # at 0.05: still running then
    assert s["stopped_after_s"] == 0.4 and s["later_failed"] == 0
    assert s["replacement_after_s"] == 0.9 and s["replacement"] == "ccc"
    checks = checks_of([], [], [s], OUTSIDE, "10.0.0.0/24")
    assert [c.ok for c in checks] == [True]


def test_a_failure_long_after_the_removal_is_not_the_removal_s():
    timeline = [(0.01, ""), (0.02, "aaa")] + [(0.1 + i / 100, "aaa") for i in range(30)]
    timeline += [(5.0, "ccc"), (5.01, ""), (5.02, "aaa"), (5.03, "bbb")]
    s = removal_summary(removal_rows(timeline), "rm -f", {"bbb"}, {"aaa", "bbb"})
    assert s["failed"] == 1 and s["stopped_after_s"] == 0.02
    assert s["later_failed"] == 1 and s["later_failed_at_s"] == "5.010"
    assert s["later_answered_by_removed"] == 1  # the balancer sent to it again
    assert not checks_of([], [], [s], OUTSIDE, "")[0].ok


def test_removal_never_stopped_when_the_removed_task_keeps_being_chosen():
    timeline = [(i / 10, ("aaa", "")[i % 2]) for i in range(40)]
    s = removal_summary(removal_rows(timeline), "rm -f", {"bbb"}, {"aaa", "bbb"})
    assert s["failed"] == 20 and s["stopped_after_s"] is None
    assert not checks_of([], [], [s], OUTSIDE, "")[0].ok
    clean = removal_summary(removal_rows([(0.1, "aaa")] * 12), "rm -f", {"bbb"}, {"aaa", "bbb"})
    assert clean["failed"] == 0 and clean["stopped_after_s"] == 0.1


def host_rows_of(reach: dict[str, str | None]) -> list[dict]:
    rows = []
    for i in range(5):
        for entry, hostname in reach.items():
            reply = Reply(True, hostname, OUTSIDE, latency_ms=0.5) if hostname else \
                Reply(False, error="refused")
            rows.append(connection_row("host", "host", entry, "a", 8081, i, 0.0, reply,
                                       {"hhh": "h1", "kkk": "h3"}))
    return rows


def test_mode_host_is_reachable_only_where_a_task_runs():
    rows = host_rows_of({"h1": "hhh", "h2": None, "h3": "kkk"})
    table = host_mode_rows(rows, {"host": {"h1", "h3"}})
    assert [(h["node"], h["answered"], h["errors"]) for h in table] == [
        ("h1", 5, ""), ("h2", 0, "refused"), ("h3", 5, "")]
    assert all(c.ok for c in checks_of([], table, [], OUTSIDE, ""))
    leaky = host_mode_rows(host_rows_of({"h1": "hhh", "h2": "kkk", "h3": "kkk"}),
                           {"host": {"h1", "h3"}})
    assert [c.ok for c in checks_of([], leaky, [], OUTSIDE, "")] == [True, False, True]


def test_parse_line_reads_hostname_and_peer():
    assert parse_line(b"abc123 10.0.0.2\n") == ("abc123", "10.0.0.2")
    assert parse_line(b"abc123\n") == ("abc123", "")
    assert parse_line(b"") == ("", "")


def test_report_writes_a_summary_and_both_plots(tmp_path):
    rows = mesh_rows()
    rows += host_rows_of({"h1": "hhh", "h2": None, "h3": "kkk"})
    entries = entry_summaries(rows, REPLICAS, "mesh", SANDBOX)
    shares = share_rows(rows, REPLICAS, "mesh")
    latency = latency_rows(rows)
    timeline = [(-0.1, "aaa"), (0.0, "bbb"), (0.1, "")] + [(0.2 + i / 50, "aaa") for i in range(15)]
    rem_rows = removal_rows(timeline)
    removal = [{**removal_summary(rem_rows, "rm -f", {"bbb"}, {"aaa", "bbb"}), "action_s": 0.01}]
    host = host_mode_rows([r for r in rows if r["phase"] in ("mesh", "host")],
                          {"ingress": {"h1", "h2"}, "host": {"h1", "h3"}})
    checks = checks_of(entries, host, removal, OUTSIDE, "10.0.0.0/24")
    assert all(c.ok for c in checks)
    outcome = Outcome(True, headline(entries, latency, removal), checks,
                      figures(entries, latency, removal))
    replica_rows = [{"service": "web", "slot": 1, "node": "h1", "hostname": "aaa",
                     "ingress_address": "10.0.0.5"}]
    md = summary_md(outcome, 30, entries, shares, latency, removal, host, replica_rows, OUTSIDE)
    assert "| h3 | 30/30 | 50.0% | 50.0% |" in md and "100.0%" in md
    assert "| rm -f |" in md and "| host | h2 | no | 0/5 | refused |" in md
    assert outcome.figures["h3 crossed share"] == 1.0
    plots(tmp_path / "a.png", tmp_path / "b.png", shares, rows, latency, host, rem_rows,
          removal)
    assert (tmp_path / "a.png").stat().st_size > 10_000
    assert (tmp_path / "b.png").stat().st_size > 5_000


class FakeHost:
    def __init__(self, address: str) -> None:
        self.address = address


class FakeLab:
    hosts = {"h1": FakeHost("192.0.2.11"), "h2": FakeHost("192.0.2.12"),
             "h3": FakeHost("192.0.2.13")}


class FlakyMesh:
    """Answers aaa and bbb in turn; once told bbb is gone, fails twice, then aaa only."""

    def __init__(self) -> None:
        self.gone = False
        self.failures = 2
        self.turn = 0

    def ask(self, address: str, port: int) -> Reply:
        self.turn += 1
        if self.gone and self.failures:
            self.failures -= 1
            return Reply(False, error="refused")
        hostname = "aaa" if self.gone else ("aaa", "bbb")[self.turn % 2]
        return Reply(True, hostname, "10.0.0.2", latency_ms=0.1)

    def paced(self, targets, pace, more):
        import time

        got = []
        while more(now := time.perf_counter()):
            got.append((now, len(got) % len(targets), self.ask(*targets[len(got) % 3])))
            time.sleep(pace)
        return got


def test_stream_during_times_connections_from_the_action_and_rotates_nodes():
    from emulator.experiments.routing_mesh import Setup, stream_during

    mesh = FlakyMesh()
    setup = Setup(FakeLab(), {}, None, None)  # type: ignore[arg-type]

    def remove() -> None:
        mesh.gone = True

    got, took = stream_during(setup, mesh, "rm -f", remove, 0.3, REPLICAS)  # type: ignore[arg-type]
    assert took >= 0
    assert [r["entry"] for r in got[:6]] == ["h1", "h2", "h3", "h1", "h2", "h3"]
    before = [r for r in got if r["t_s"] < 0]
    assert before and {r["hostname"] for r in before} == {"aaa", "bbb"}
    assert max(r["t_s"] for r in got) >= 0.29
    s = removal_summary(got, "rm -f", {"bbb"}, {"aaa", "bbb"})
    assert s["failed"] == 2 and s["stopped_after_s"] is not None and s["later_failed"] == 0


def test_a_scale_down_must_drain_without_failures_as_dockerd_does():
    timeline = [(-0.1, "aaa"), (-0.05, "bbb")] + [(i / 100, "aaa") for i in range(20)]
    rows = [dict(r, phase="scale down") for r in removal_rows(timeline)]
    drained = removal_summary(rows, "scale down", {"bbb"}, {"aaa", "bbb"})
    assert [c.ok for c in checks_of([], [], [drained], OUTSIDE, "")] == [True, True]
    timeline[3] = (0.01, "")
    rows = [dict(r, phase="scale down") for r in removal_rows(timeline)]
    cut = removal_summary(rows, "scale down", {"bbb"}, {"aaa", "bbb"})
    checks = checks_of([], [], [cut], OUTSIDE, "")
    assert [c.ok for c in checks] == [False, True] and checks[0].observed.startswith("1 failed")
