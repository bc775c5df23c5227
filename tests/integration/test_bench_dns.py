"""bench-dns's measurements on a small scale, on a real dockerd and an emulated host:
every answer under load carries an address, the added latency is measured from
answers (none lost), the start time is measured, and nothing is left behind."""

from __future__ import annotations

import secrets

import pytest

from emulator import Lab
from emulator.experiments import bench_dns
from emulator.lab import realdocker

ENGINES = [pytest.param("docker", marks=pytest.mark.skipif(
    realdocker.available() is not None, reason=realdocker.available() or "")), "emulated"]


class Progress:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def progress(self, message: str) -> None:
        self.lines.append(message)


@pytest.mark.parametrize("engine", ENGINES)
def test_bench_dns_small(engine):
    name = "dx" + secrets.token_hex(3)
    with Lab(bench_dns.bench_topology(name, 1), name, engine=engine) as lab:
        row = bench_dns.measure(lab, Progress(), n=10, start_n=3, rounds=1, seconds=0.5)
        client = lab.host("h1").client
        left = (client.api.containers(all=True), [n["Name"] for n in client.api.networks()])
    assert row["answers"] > 100 and row["answers_without_address"] == 0
    assert row["latency_lost"] == 0 and row["added_median_ms"] is not None
    assert row["start_api_ms"] > 0
    assert ("start_ratio" in row) == (engine == "emulated")
    assert left[0] == [] and bench_dns.NETWORK not in left[1]
