"""Logs: a lab's own log lives as long as the lab, a container's goes with the container.

`cnm lab logs NAME` prints the log of the lab process behind `cnm lab up`: its
output and every record logged under the `emulator` logger there (an internal
error of the Engine API, say), while the lab runs and after it died, until `cnm
lab down` or `cnm clean` removes it with the lab. A container's log file
(`docker logs`) is removed by `docker rm`, by `--rm` and by the Python API's
remove, so no log outlives its container.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import CNM, lab_name, run_cnm
from leftovers import assert_nothing_left, backstop, wait_gone

from emulator import faults
from emulator.lab.state import RunDir

REPO = Path(__file__).resolve().parents[2]
DOCKER = shutil.which("docker") or "docker"


@pytest.fixture(scope="module")
def running():
    """A default lab started with `cnm lab up`; yields its name."""
    name = lab_name()
    try:
        up = run_cnm("lab", "up", "--name", name, timeout=60)
        assert up.returncode == 0, up.stderr
        yield name
        down = run_cnm("lab", "down", name)
        assert down.returncode == 0, down.stderr
        assert_nothing_left(name)
    finally:
        backstop(name)


def docker_env(name: str, config: Path, host: str = "h1") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=f"unix://{RunDir(name).socket(host)}", DOCKER_CONFIG=str(config),
               DOCKER_CLI_HINTS="false")
    return env


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


# -- the lab's log -----------------------------------------------------------------


def test_lab_logs_prints_the_log_of_a_running_lab(running):
    state = RunDir(running).read()
    assert state is not None
    shown = run_cnm("lab", "logs", running)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].endswith(f" INFO emulator.lab: building lab {running} in process "
                             f"{state.owner.pid}")
    assert lines[-1].endswith(f" INFO emulator.lab: lab {running} is ready")


def test_records_logged_in_the_lab_process_reach_lab_logs(tmp_path):
    """A record logged in an Engine API thread (here the fault step's own warning, at a
    step a `docker run` reaches) is in `cnm lab logs` while the lab runs."""
    name = lab_name()
    fifo = tmp_path / "report"
    os.mkfifo(fifo)
    report = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    env = {**os.environ, faults.STEP_ENV: "container.joined",
           faults.REPORT_ENV: str(fifo)}
    request = None
    try:
        up = subprocess.run([*CNM, "lab", "up", "--name", name], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
        assert up.returncode == 0, up.stderr
        request = subprocess.Popen([DOCKER, "run", "-d", "alpine", "sleep", "infinity"],
                                   env=docker_env(name, tmp_path), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert select.select([report], [], [], 60)[0], "the request never reached the step"
        pid = RunDir(name).read().owner.pid
        assert os.read(report, 4096).decode() == f"container.joined {pid}\n"

        shown = run_cnm("lab", "logs", name)
        assert shown.returncode == 0, shown.stderr
        assert (f" WARNING emulator.faults: fault step container.joined reached in process "
                f"{pid}\n") in shown.stdout

        down = run_cnm("lab", "down", name)  # its SIGTERM lets the step go on
        assert down.returncode == 0, down.stderr
        request.communicate(timeout=60)
        assert_nothing_left(name)
        gone = run_cnm("lab", "logs", name)
        assert gone.returncode == 1 and f"no lab named {name}" in gone.stderr
    finally:
        os.close(report)
        if request is not None and request.poll() is None:
            request.kill()
            request.communicate()
        backstop(name)


def test_a_dead_labs_log_stays_until_clean():
    name = lab_name()
    try:
        up = run_cnm("lab", "up", "--name", name, timeout=60)
        assert up.returncode == 0, up.stderr
        owner = RunDir(name).read().owner
        os.kill(owner.pid, signal.SIGKILL)
        assert wait_gone(owner.pid, 30)
        shown = run_cnm("lab", "logs", name)
        assert shown.returncode == 0, shown.stderr
        assert f"lab {name} is ready" in shown.stdout
        assert run_cnm("clean", name).returncode == 0
        assert_nothing_left(name)
    finally:
        backstop(name)


def test_an_in_process_lab_has_no_log_file(lab):
    shown = run_cnm("lab", "logs", lab.name)
    assert (shown.returncode, shown.stdout) == (1, "")
    assert shown.stderr == (f"cnm: lab {lab.name} has no log file: it runs inside process "
                            f"{os.getpid()} (started from Python, not by `cnm lab up`)\n")


# -- containers' logs ----------------------------------------------------------------


def test_docker_rm_and_run_rm_remove_the_containers_logs(running, tmp_path):
    logs = RunDir(running).path / "logs" / "h1"
    env = docker_env(running, tmp_path)

    def docker(*args: str) -> str:
        return ok(subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                                 timeout=60))

    cid = docker("run", "-d", "--name", "det", "alpine", "sh", "-c", "echo from-det").strip()
    assert docker("wait", "det") == "0\n"
    assert docker("logs", "det") == "from-det\n"
    record = json.loads((logs / f"{cid}-json.log").read_text())  # dockerd's json-file
    assert (record["log"], record["stream"]) == ("from-det\n", "stdout")
    docker("rm", "det")
    assert not (logs / f"{cid}-json.log").exists()

    assert docker("run", "--rm", "--name", "once", "alpine", "echo", "from-rm") == "from-rm\n"
    assert docker("ps", "-aq") == ""
    assert sorted(p.name for p in logs.iterdir()) == [], "logs of removed containers"


def test_removing_a_container_from_python_removes_its_log(lab, h1):
    web = h1.containers.run("logged", command=["sh", "-c", "echo hi; exec sleep infinity"])
    log = lab.run_dir.path / "logs" / "h1" / f"{web.id}.log"
    assert log.exists()
    web.remove(force=True)
    assert not log.exists()
