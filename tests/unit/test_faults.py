"""Fault-injection steps: silent unless named, then reported and held until released
or interrupted; and the lab process's log file, where the emulator's records go."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import pytest

from emulator import faults

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 10.0


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A FIFO the steps report on, opened for reading (and writing, so it never EOFs)."""
    fifo = tmp_path / "report"
    os.mkfifo(fifo)
    monkeypatch.setenv(faults.REPORT_ENV, str(fifo))
    fd = os.open(fifo, os.O_RDWR)
    yield fd
    os.close(fd)


def reported(fd: int) -> str:
    assert select.select([fd], [], [], TIMEOUT_S)[0], "no step reported"
    return os.read(fd, 4096).decode()


@pytest.fixture
def pool():
    executor = ThreadPoolExecutor(max_workers=1)
    yield executor
    faults.release()  # no test leaves a step waiting
    executor.shutdown()


def test_a_step_nobody_named_does_nothing(monkeypatch, report) -> None:
    monkeypatch.setenv(faults.STEP_ENV, "network.pool-allocated")
    faults.step("network.driver-created")
    monkeypatch.delenv(faults.STEP_ENV)
    faults.step("network.pool-allocated")
    assert not select.select([report], [], [], 0)[0]


def test_a_named_step_reports_itself_and_waits_until_released(monkeypatch, report,
                                                              pool) -> None:
    monkeypatch.setenv(faults.STEP_ENV, "container.joined")
    faults.release()  # a release before the step does not let it through
    held = pool.submit(faults.step, "container.joined")
    assert reported(report) == f"container.joined {os.getpid()}\n"
    with pytest.raises(FutureTimeout):
        held.result(timeout=0.2)
    faults.release()
    assert held.result(timeout=TIMEOUT_S) is None


def test_a_step_reached_after_a_release_waits_again(monkeypatch, report, pool) -> None:
    monkeypatch.setenv(faults.STEP_ENV, "teardown.api-stopped")
    first = pool.submit(faults.step, "teardown.api-stopped")
    reported(report)
    faults.release()
    first.result(timeout=TIMEOUT_S)
    second = pool.submit(faults.step, "teardown.api-stopped")
    assert reported(report).startswith("teardown.api-stopped ")
    with pytest.raises(FutureTimeout):
        second.result(timeout=0.2)


def test_steps_are_suppressed_in_a_dry_run(monkeypatch, report, pool) -> None:
    monkeypatch.setenv(faults.STEP_ENV, "network.pool-allocated")

    def dry_run() -> None:
        with faults.suppressed():
            faults.step("network.pool-allocated")

    assert pool.submit(dry_run).result(timeout=TIMEOUT_S) is None
    assert not select.select([report], [], [], 0)[0]


INTERRUPTED = """\
import signal, sys
from emulator import faults

class Stop(BaseException):
    pass

def stop(signum, frame):
    raise Stop()

signal.signal(signal.SIGUSR1, stop)
try:
    faults.step("lab.hosts-made")
except Stop:
    print("interrupted")
"""


def test_a_signal_handler_that_raises_ends_a_step_in_the_main_thread(report) -> None:
    env = {**os.environ, faults.STEP_ENV: "lab.hosts-made", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", INTERRUPTED], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reported(report) == f"lab.hosts-made {child.pid}\n"
        child.send_signal(signal.SIGUSR1)
        out, err = child.communicate(timeout=TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert (child.returncode, out) == (0, "interrupted\n"), err
    assert "fault step lab.hosts-made reached" in err


LOGGING = """\
import logging, os, sys
from pathlib import Path
from emulator.lab.logfile import send_output_to

print("before")
send_output_to(Path(sys.argv[1]))
print("printed", flush=True)
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("emulator.api").exception("internal error: GET /v1.45/networks")
logging.getLogger("emulator.lab").info("lab ready")
logging.getLogger("emulator.lab").debug("not at INFO")
os.system("echo from a child")
"""


def test_the_lab_log_gets_output_children_and_emulator_records(tmp_path: Path) -> None:
    log = tmp_path / "lab.log"
    done = subprocess.run([sys.executable, "-c", LOGGING, str(log)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("before\n", "")
    text = log.read_text()
    assert "before" not in text
    assert "printed\n" in text
    assert "ERROR emulator.api: internal error: GET /v1.45/networks\n" in text
    assert "ValueError: boom" in text  # the traceback too
    assert "INFO emulator.lab: lab ready\n" in text
    assert "not at INFO" not in text
    assert "from a child\n" in text
    assert log.stat().st_mode & 0o777 == 0o600


def test_loggers_made_after_mininet_is_imported_stay_plain() -> None:
    """Mininet makes later loggers its own (a level and a console handler): an Engine
    API logger created after a lab was built would never reach the lab's log."""
    script = ("import logging\n"
              "from emulator.lab.world import prepare_mininet\n"
              "prepare_mininet()\n"
              "print(type(logging.getLogger('emulator.api')).__name__)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (done.returncode, done.stdout) == (0, "Logger\n"), done.stderr
