"""The start-cost measurement compares what it says it compares: starts without the
containers' /etc files and mount namespace against starts with them, same count
each, leaving no container and no file behind."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

from emulator.cnm.engine import Engine
from emulator.experiments.startcost import measure_start, measure_start_cost
from emulator.fabric.fake import FakeFabric
from emulator.lab.dockerhost import DockerHost


class OneHostLab:
    def __init__(self, engine: Engine) -> None:
        self._host = DockerHost(engine.host, engine, IPv4Address("192.0.2.11"))

    def host(self, name: str) -> DockerHost:
        assert name == self._host.name
        return self._host


def test_half_the_starts_get_files_and_nothing_is_left(tmp_path: Path):
    fabric = FakeFabric("h1")
    engine = Engine("h1", fabric, dns_servers=["192.0.2.254"], state_dir=tmp_path)
    started = []
    fabric_start = fabric.start_process

    def recording(sandbox, command, hostname, env=None, files=None, root=None, open_stdin=False):
        started.append(bool(files))
        fabric_start(sandbox, command, hostname, env, files, root, open_stdin)

    fabric.start_process = recording  # type: ignore[method-assign]
    cost = measure_start_cost(OneHostLab(engine), "h1", count=25)
    assert cost.count == 25 and cost.baseline_s > 0 and cost.with_files_s > 0
    warm_up = 2 * 10  # one round of each mode
    assert started[warm_up:].count(True) == 25 and started[warm_up:].count(False) == 25
    assert not engine.containers
    assert list(tmp_path.iterdir()) == []
    assert engine.container_files.directory == tmp_path
    assert "x" in cost.line() and "median of 25 each" in cost.line()


def test_measure_start_gives_the_two_medians(tmp_path: Path):
    engine = Engine("h1", FakeFabric("h1"), state_dir=tmp_path)
    baseline, with_files = measure_start(OneHostLab(engine), "h1", 5)
    assert baseline > 0 and with_files > 0
