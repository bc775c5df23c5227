"""The kit's pytest plugin: it collects its checks only when asked, and starts plugins
the way it is told. No root, no lab: collection only."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulator.conformance.plugin_processes import (
    PluginStartError,
    check_plugin_namespace,
    command_argv,
    socket_path,
)
from emulator.conformance.registry import all_checks
from emulator.conformance.targets import MESH_MISSING

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


# pytest, in a process where the mesh plugin is not installed (as in a package without it)
WITHOUT_MESH = ("import sys, pytest; from emulator.conformance import targets; "
                "targets.mesh_available = lambda: False; sys.exit(pytest.main(sys.argv[1:]))")


def test_a_driver_missing_here_is_skipped_by_pytest_and_reported(tmp_path):
    done = subprocess.run([sys.executable, "-c", WITHOUT_MESH, "-p", "no:cacheprovider", *PLUGIN,
                           "--cnm-driver=mesh", f"--cnm-results={tmp_path}",
                           "-o", "junit_suite_name=cnm-conformance.mesh"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(all_checks())} skipped" in done.stdout
    assert "record_xml_attribute" not in done.stdout  # naming test cases warns nobody
    (run_dir,) = (tmp_path / "conformance").iterdir()
    result = json.loads((run_dir / "mesh" / "results.json").read_text())
    assert (result["status"], result["reason"]) == ("skipped", MESH_MISSING)
    assert [c["id"] for c in result["checks"]] == [c.id for c in all_checks()]
    assert {c["reason"] for c in result["checks"]} == {MESH_MISSING}
    assert "not run: " + MESH_MISSING in (run_dir / "report.md").read_text()
    junit = ET.parse(run_dir / "junit.xml").getroot()
    (suite,) = junit.findall("testsuite")
    assert suite.get("name") == "cnm-conformance.mesh"
    assert junit.get("skipped") == junit.get("tests") == str(len(all_checks()))
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.label for c in all_checks()]
    assert {c.get("classname") for c in cases} == {"cnm_conformance.mesh"}
    assert {c.find("skipped").get("message") for c in cases} == {MESH_MISSING}


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
