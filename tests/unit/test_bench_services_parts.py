"""bench-services' conclusions from what its client saw: when every task had
answered, when the balancer used only the tasks left, the targets and the table."""

from __future__ import annotations

from emulator.experiments.bench_services import (
    TARGET_SCALE_S,
    TARGET_UP_S,
    Timeline,
    _split,
    checks_of,
    table_md,
)


def test_up_is_when_the_last_distinct_task_answered():
    t = Timeline(answers=[(0.1, ""), (0.2, "a"), (0.3, "a"), (0.4, "b"), (0.5, ""), (0.6, "c"),
                          (0.7, "a")])
    assert t.first_all(3) == 0.6
    assert t.first_all(4) is None


def test_scale_is_seen_after_the_last_connection_a_removed_task_answered():
    t = Timeline(answers=[(0.1, "a"), (0.2, "x"), (0.3, ""), (0.4, "b"), (0.5, "a"),
                          (0.6, ""), (0.7, "b")])
    assert t.balanced_over({"a", "b"}) == 0.4
    assert t.failed() == [0.3, 0.6]
    assert Timeline(answers=[(0.1, "a"), (0.2, "b")]).balanced_over({"a", "b"}) == 0.1
    assert Timeline(answers=[(0.1, "a"), (0.2, "x")]).balanced_over({"a"}) is None


def test_ps_time_is_the_first_poll_showing_the_count():
    t = Timeline(running=[(0.05, 100), (0.3, 40), (0.45, 10)])
    assert t.first_running(10) == 0.45 and t.first_running(5) is None


def test_split_spreads_containers_over_hosts():
    assert _split(100, 3) == [34, 33, 33] and sum(_split(10, 3)) == 10


def row(up: float | None, scale: float | None) -> dict:
    return {"replicas": 100, "scaled_to": 10, "up_s": up, "scale_s": scale,
            "answered_are_tasks": True, "survivors": 10, "baseline_up_s": 2.0,
            "baseline_remove_s": 0.5}


def test_targets_met_or_missed():
    assert all(c.ok for c in checks_of(row(TARGET_UP_S - 0.1, TARGET_SCALE_S)))
    missed = [c.what.split(" ")[0] for c in checks_of(row(TARGET_UP_S + 0.1, None)) if not c.ok]
    assert missed == ["100", "100"]


def test_table_shows_ratios_to_target_and_baseline():
    md = table_md(row(1.5, 0.25))
    assert "| 1.500 | 3.0 | 0.50x |" in md and "| 2.000 | 0.75x |" in md
    assert "| 0.250 | 1.0 | 0.25x |" in md and "| 0.500 | 0.50x |" in md
    assert "n/a" in table_md(row(None, None))
