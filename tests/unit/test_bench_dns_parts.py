"""bench-dns's pure parts: query ids patched into a prebuilt query, quantiles, and
the targets judged from a row of figures."""

from __future__ import annotations

import dns.message

from emulator.experiments import bench_dns


def test_a_query_gets_the_id_it_is_sent_with_and_keeps_its_question():
    wire = bench_dns._wires(["q7"])[0]
    patched = dns.message.from_wire(bench_dns._with_id(wire, 0xBEEF))
    assert patched.id == 0xBEEF
    assert patched.question[0].to_text() == "q7. IN A"


def test_quantiles_and_medians():
    values = [float(v) for v in range(1, 101)]
    assert bench_dns._quantile(values, 0.99) == 100.0
    assert bench_dns._median(values) == 50.5
    assert bench_dns._median([]) is None and bench_dns._quantile([], 0.5) is None


def row(**figures):
    return {"containers": 100, "qps": 6000, "added_median_ms": 0.4, **figures}


def test_targets_met_and_missed():
    assert all(c.ok for c in bench_dns.checks_of(row()))
    slow = {c.step: c.ok for c in bench_dns.checks_of(row(qps=4999, added_median_ms=1.2))}
    assert slow == {"throughput": False, "latency": False}


def test_no_latency_figure_is_a_miss_and_the_start_ratio_is_checked_when_measured():
    checks = {c.step: c for c in bench_dns.checks_of(
        row(added_median_ms=None, start_ratio=1.35, start_with_files_ms=7.5,
            start_without_files_ms=5.6))}
    assert not checks["latency"].ok and checks["latency"].observed == "no answers"
    assert not checks["start"].ok and checks["start"].observed.startswith("1.35")
    assert "start" not in {c.step for c in bench_dns.checks_of(row())}
