"""The kit's pytest plugin: it collects its checks only when asked, and starts plugins
the way it is told. No root, no lab: collection only."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from emulator.conformance.plugin_processes import (
    PluginStartError,
    check_plugin_namespace,
    command_argv,
    socket_path,
)
from emulator.conformance.registry import all_checks

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ["-p", "emulator.conformance.pytest_plugin"]


def pytest_run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def collected(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_without_cnm_driver_a_normal_run_is_untouched():
    target = "tests/unit/test_conformance_reports.py"
    plain = pytest_run("--collect-only", "-q", target)
    with_plugin = pytest_run(*PLUGIN, "--collect-only", "-q", target)
    assert plain.returncode == with_plugin.returncode == 0, with_plugin.stderr
    assert collected(plain) == collected(with_plugin) and collected(plain)
    assert not any("suite.py" in line for line in collected(with_plugin))


def test_cnm_driver_collects_the_shipped_checks_and_nothing_else(tmp_path):
    done = pytest_run(*PLUGIN, "--cnm-driver=bridge", f"--cnm-results={tmp_path}",
                      "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    items = collected(done)
    assert len(items) == len(all_checks())
    for item, check in zip(items, all_checks(), strict=True):
        assert item.endswith(f"[{check.id} {check.statement}]"), item
        assert "emulator/conformance/suite.py::test_cnm_conformance" in item
    assert not list(tmp_path.iterdir()), "collecting alone must not write results"


def test_cnm_driver_works_from_any_directory(tmp_path):
    done = pytest_run(*PLUGIN, "--cnm-driver=host", f"--cnm-results={tmp_path}",
                      "--collect-only", "-q", "-k", "CNM-EP-01", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(collected(done)) == 1 and "CNM-EP-01" in collected(done)[0]


def test_an_unknown_driver_is_a_usage_error():
    done = pytest_run(*PLUGIN, "--cnm-driver=nope", "--collect-only", "-q")
    assert done.returncode == 4
    assert "unknown driver 'nope'" in done.stderr


def test_plugin_command_placeholders_are_filled_and_quoted():
    argv = command_argv("{python} -m emulator.plugins.bridgeplugin {socket} --name {host}",
                        Path("/run/a b/bp.sock"), "h1")
    assert argv == [sys.executable, "-m", "emulator.plugins.bridgeplugin", "/run/a b/bp.sock",
                    "--name", "h1"]
    assert socket_path("/run/x/{host}/bp.sock", "h2") == Path("/run/x/h2/bp.sock")
    with pytest.raises(PluginStartError, match="empty"):
        command_argv("   ", Path("/x"), "h1")


def test_a_plugin_socket_served_from_the_machines_namespace_is_refused(tmp_path):
    path = tmp_path / "p.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    try:
        with pytest.raises(PluginStartError, match="machine's own network namespace"):
            check_plugin_namespace(path, "h1", expected=0)
    finally:
        thread.join(5)
        for conn, _ in accepted:
            conn.close()
        server.close()


def test_a_plugin_socket_nobody_serves_is_named(tmp_path):
    with pytest.raises(PluginStartError, match="nothing answers at the plugin socket"):
        check_plugin_namespace(tmp_path / "none.sock", "h1", expected=0)
