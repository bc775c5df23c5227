"""`run -it`, `run -i`, `attach` and `exec -it` as a user types them: the docker CLI on a
pseudo-terminal (util-linux `script`), or docker-py's sockets."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time

import docker as docker_py
import pytest
from cliresults import docker_env as cli_env

from emulator import Lab

DOCKER = shutil.which("docker") or "docker"
pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None or shutil.which("script") is None,
                                reason="no docker CLI or script(1)")


@pytest.fixture(scope="module")
def lab():
    with Lab.default("rt" + secrets.token_hex(3)) as running:
        yield running


@pytest.fixture(scope="module")
def env(lab, tmp_path_factory):
    return cli_env(lab.docker_host_url("h1"), tmp_path_factory.mktemp("docker-config"))


@pytest.fixture
def client(lab, env):
    api = docker_py.APIClient(base_url=env["DOCKER_HOST"], version="1.45")
    yield api
    api.close()
    engine = lab.host("h1").engine
    engine.remove_containers(list(engine.containers), force=True)


def on_terminal(env, command: str, typed: str | None = None, rows: int = 33,
                cols: int = 101) -> subprocess.CompletedProcess:
    """`command` run by a shell on a pseudo-terminal of `rows` x `cols`, `typed` its input.
    Without input, the terminal's input stays open until the command ends: at the end of
    its input script(1) types an end-of-file, which the docker CLI sends as a NUL byte."""
    argv = ["script", "-qec", f"stty rows {rows} cols {cols}; {command}", "/dev/null"]
    if typed is not None:
        return subprocess.run(argv, input=typed, env=env, capture_output=True, text=True,
                              timeout=60)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    try:
        out = proc.stdout.read()  # type: ignore[union-attr]
        code = proc.wait(timeout=60)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.kill()
        proc.wait()
    return subprocess.CompletedProcess(argv, code, out, proc.stderr.read())  # type: ignore


def test_run_it_gives_a_shell_with_the_window_and_its_exit_code(env, client):
    done = on_terminal(env, "docker run -it --rm alpine", typed="stty size\nexit 3\n")
    assert done.returncode == 3, done
    assert "/ # " in done.stdout  # the prompt of an interactive shell
    assert "33 101" in done.stdout
    assert "can't access tty" not in done.stdout


def test_run_t_is_the_controlling_terminal(env, client):
    done = on_terminal(env, "docker run -t --rm alpine sh -c 'tty; stty size; ps -o pid,tty'",
                       rows=20, cols=70)
    lines = [line for line in done.stdout.replace("\r", "").split("\n") if line]
    assert lines[:2] == ["/dev/pts/0", "20 70"], done
    pid1 = next(line.split() for line in lines[3:] if line.split()[0] == "1")
    assert pid1[1] == "136,0"  # busybox's name for pts/0: PID 1's controlling terminal


def test_run_i_reads_stdin(env, client):
    done = subprocess.run([DOCKER, "run", "-i", "--rm", "alpine", "sh", "-c",
                           "cat; echo done"], input="hi\nthere\n", env=env,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "hi\nthere\ndone\n"), done


def test_exec_it_has_a_controlling_terminal_of_the_containers_own(env, client):
    subprocess.run([DOCKER, "run", "-d", "--name", "box", "alpine", "sleep", "300"], env=env,
                   check=True, capture_output=True, timeout=60)
    done = on_terminal(env, "docker exec -it box sh -c 'tty; stty size; ls /dev/pts'",
                       rows=24, cols=90)
    out = done.stdout.replace("\r", "")
    assert out.startswith("/dev/pts/0\n24 90\n"), done  # no NUL byte first
    assert "ptmx" in out


def test_exec_resize_changes_the_window(client):
    container = client.create_container("alpine", ["sleep", "300"])
    client.start(container)
    exec_id = client.exec_create(container, ["sh"], tty=True, stdin=True)["Id"]
    sock = client.exec_start(exec_id, tty=True, socket=True)._sock
    try:
        client.exec_resize(exec_id, height=41, width=132)
        sock.sendall(b"stty size; exit\n")
        assert "41 132" in _read_until(sock, b"41 132")
    finally:
        sock.close()


def test_container_resize_and_attach_to_a_running_tty_container(client):
    container = client.create_container("alpine", ["sh"], tty=True, stdin_open=True)
    client.start(container)
    client.resize(container, height=50, width=120)
    sock = client.attach_socket(container, params={"stdin": 1, "stdout": 1, "stream": 1})._sock
    try:
        sock.sendall(b"stty size\n")
        assert "50 120" in _read_until(sock, b"50 120")
        sock.sendall(b"exit 4\n")
        _read_until(sock, b"")
    finally:
        sock.close()
    assert client.wait(container)["StatusCode"] == 4
    assert b"50 120" in client.logs(container)


def test_attach_to_a_running_container_streams_its_output(env, client):
    container = client.create_container("alpine", ["sleep", "300"], name="quiet")
    client.start(container)
    attached = subprocess.Popen([DOCKER, "attach", "quiet"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the attach is in: its line shows
            client.exec_start(client.exec_create(
                container, ["sh", "-c", "echo from-exec >> /proc/1/fd/1"])["Id"])
            line = _line_within(attached, 0.5)
            if line == "from-exec\n":
                break
        else:
            pytest.fail("docker attach showed nothing")
        client.kill(container)
        assert attached.wait(timeout=20) != 0  # the attach ends with the container
    finally:
        attached.kill()
        attached.wait()


def _line_within(proc: subprocess.Popen, seconds: float) -> str | None:
    import select

    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    return proc.stdout.readline() if ready else None  # type: ignore[union-attr]


def _read_until(sock, marker: bytes, limit: float = 20.0) -> str:
    """What the socket sends until `marker` appears (or, for b"", until it closes)."""
    sock.settimeout(limit)
    seen = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return seen.decode(errors="replace")
        seen += data
        if marker and marker in seen:
            return seen.decode(errors="replace")
