"""bench-bringup's real-Docker part, small: N containers through the Engine API and the
docker CLI on a real dockerd and on an emulated host of one lab (no timing asserted)."""

from __future__ import annotations

import os
import secrets

import pytest

from emulator.experiments.bench_bringup import engine_checks
from emulator.experiments.bringup_engines import (
    DOCKER_CLI,
    compare_engines,
    summary_section,
)
from emulator.experiments.results import RunContext
from emulator.lab import realdocker
from emulator.lab.state import RunDir

pytestmark = pytest.mark.skipif(
    realdocker.available() is not None or not os.access(DOCKER_CLI, os.X_OK),
    reason=realdocker.available() or f"no docker CLI at {DOCKER_CLI}")

API_COUNT, CLI_COUNT = 4, 3


def test_real_dockerd_and_emulated_host_each_run_every_container(tmp_path):
    name = "bb" + secrets.token_hex(3)
    result = compare_engines(name, API_COUNT, CLI_COUNT, RunContext("bench-bringup", tmp_path, {}))

    assert result.skipped is None
    rows = {row["method"]: row for row in (p.row() for p in result.passes)}
    assert set(rows) == {"emulated-engine-api", "docker-engine-api", "emulated-docker-cli",
                         "docker-docker-cli"}
    for method, row in rows.items():
        count = API_COUNT if method.endswith("engine-api") else CLI_COUNT
        # running: a live process in a namespace of its own; reachable: answered a ping
        assert (row["containers"], row["running"], row["addressed"], row["reachable"]) == (
            count, count, count, count), method
    assert all(check.ok for check in engine_checks(result))
    assert "| engine-api | 4 |" in summary_section(result)
    assert RunDir(name).read() is None, "the lab is gone once measured"
