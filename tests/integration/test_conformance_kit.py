"""The driver conformance kit, itself tested: a correct driver passes, and each of the
bridgeplugin's deliberate faults breaks exactly the checks it should.

Each run is a real one (`cnm conformance` or `pytest --cnm-driver`, in a subprocess):
a lab of its own, the plugin started inside every Docker host, packets on the wire.
Each run over one driver must take under a minute.

Why each fault breaks what it breaks (the sets below are exact):

- the healthy bridgeplugin passes: its networks are bridges in the Docker host whose
  gateways are the host's addresses, and the host drops what it would route between
  them, as dockerd's FORWARD policy DROP does.
- leak: one bridge for every network: a container answers ARP from another
  network's containers, probes (CNM-ISO-01) and ordinary requests (CNM-ISO-04).
- dup: the bridge also takes its network's first endpoint's address: two MACs answer
  that address (CNM-IPAM-02, found by the ARP conflict scan), and when a request that
  made such a first endpoint is refused part-way, the copy stays on the bridge after
  the endpoint is rolled back (CNM-RB-01). The Docker host now owns that address, so
  a container of another network that pings it is answered by the host itself, not
  routed (CNM-ISO-02); and when that first endpoint's address is the one the
  network's gateway would answer from, the host answers its containers' traffic as
  its own (the check's first container holds .1 when --gateway is elsewhere), so they
  reach neither gateway nor outside (CNM-REACH-02). Answers from the bridge for another
  network's address (ISO-01) or for a left container's old address (ISO-03) come
  with the bridge's MAC, not the container's: noted there, judged by IPAM-02.
- mtu: the configured MTU is ignored: don't-fragment probing finds 1500 (CNM-MTU-01)
  and every interface has 1500, not the option's 1400 (CNM-MTU-02).
- leftover: bridges outlive their networks (CNM-KERN-01), and veths their endpoints:
  on Leave the container's end comes back to the host (as Docker moves it back under
  its SrcName), so a refused container leaves its veth pair behind (CNM-RB-01).
- halfway: every Join fails after making a veth pair: the failed join leaves that
  pair behind (CNM-RB-01), and every check that needs a container on the network
  fails since none can join; only CNM-NET-01 (no container) passes (CNM-NET-03 and
  CNM-SCOPE-02 do not apply to a local plugin that makes networks).
"""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import run_cnm

from emulator.conformance.registry import all_checks
from emulator.conformance.targets import mesh_available

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60.0
PLUGIN = "{python} -m emulator.plugins.bridgeplugin {socket}"
NEEDS_A_CONTAINER = {c.id for c in all_checks()} - {"CNM-NET-01", "CNM-NET-03",
                                                     "CNM-SCOPE-02"}
FAULTS = {
    "leak": {"CNM-ISO-01", "CNM-ISO-04"},
    "dup": {"CNM-IPAM-02", "CNM-RB-01", "CNM-ISO-02", "CNM-REACH-02"},
    "mtu": {"CNM-MTU-01", "CNM-MTU-02"},
    "leftover": {"CNM-KERN-01", "CNM-RB-01"},
    "halfway": NEEDS_A_CONTAINER,
}
EVIDENCE = {  # (check, what its failure must say)
    "leak": ("CNM-ISO-01", "got an ARP answer from"),
    "dup": ("CNM-IPAM-02", "found addresses with two owners"),
    "mtu": ("CNM-MTU-01", "probing from mtu01a to mtu01b finds 1500"),
    "leftover": ("CNM-KERN-01", "link pb-"),
    "halfway": ("CNM-RB-01", "Join failed halfway (on purpose)"),
}


def conformance(tmp_path: Path, driver: str, *options: str) -> tuple[dict, float, Path]:
    started = time.monotonic()
    done = run_cnm("conformance", "--driver", driver, *options, "--results", str(tmp_path),
                   timeout=300)
    took = time.monotonic() - started
    (run_dir,) = (tmp_path / "conformance").iterdir()
    result = json.loads((run_dir / driver / "results.json").read_text())
    print(f"\nconformance run over {driver} {' '.join(options)}: {took:.1f} s "
          f"(pytest session {result['duration_s']:.1f} s)")
    assert result["status"] == "ran", result.get("reason")
    failed = {c["id"] for c in result["checks"] if c["outcome"] in ("failed", "error")}
    assert done.returncode == (1 if failed else 0), done.stdout[-3000:] + done.stderr
    assert took < MINUTE, f"the run over {driver} took {took:.1f} s"
    assert not result["teardown_problems"], result["teardown_problems"]
    return result, took, run_dir


def outcomes(result: dict) -> dict[str, dict]:
    return {c["id"]: c for c in result["checks"]}


def failed_ids(result: dict) -> set[str]:
    return {c["id"] for c in result["checks"] if c["outcome"] in ("failed", "error")}


def test_bridge_passes_every_check_or_skips_it_with_a_reason(tmp_path):
    result, _, run_dir = conformance(tmp_path, "bridge")
    assert failed_ids(result) == set()
    by_id = outcomes(result)
    assert set(by_id) == {c.id for c in all_checks()}
    skipped = {cid: c["reason"] for cid, c in by_id.items() if c["outcome"] == "skipped"}
    assert set(skipped) == {"CNM-SCOPE-02", "CNM-NET-03"}
    assert "local scope" in skipped["CNM-SCOPE-02"]
    junit = ET.parse(run_dir / "junit.xml").getroot()
    (suite,) = junit.findall("testsuite")
    assert suite.get("name") == "cnm-conformance.bridge"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.label for c in all_checks()]
    assert {c.get("classname") for c in cases} == {"cnm_conformance.bridge"}
    assert {c.find("skipped").get("message") for c in cases if c.find("skipped") is not None} \
        == set(skipped.values())
    assert junit.get("failures") == "0" and junit.get("skipped") == "2"
    report = (run_dir / "report.md").read_text()
    assert "| check | statement | bridge |" in report
    assert "<table>" in (run_dir / "report.html").read_text()


def test_the_healthy_plugin_passes(tmp_path):
    result, _, _ = conformance(tmp_path, "bp", "--plugin-command", PLUGIN)
    assert result["target"]["kind"] == "plugin" and result["target"]["scope"] == "local"
    assert failed_ids(result) == set()
    assert outcomes(result)["CNM-SCOPE-02"]["outcome"] == "skipped"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_breaks_exactly_its_checks(tmp_path, fault):
    result, _, run_dir = conformance(tmp_path, "bp", "--plugin-command",
                                     f"{PLUGIN} --break {fault}")
    assert failed_ids(result) == FAULTS[fault], {
        c["id"]: c["reason"][:300] for c in result["checks"] if c["outcome"] != "passed"}
    check_id, evidence = EVIDENCE[fault]
    assert evidence in outcomes(result)[check_id]["reason"]
    log = run_dir / "bp" / "plugin-h1.log"
    assert log.exists()


def test_pytest_with_cnm_driver_runs_the_kit_by_itself(tmp_path):
    started = time.monotonic()
    done = run_pytest("-p", "emulator.conformance.pytest_plugin", "--cnm-driver=host",
                      f"--cnm-results={tmp_path}")
    took = time.monotonic() - started
    print(f"\npytest --cnm-driver=host: {took:.1f} s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert f"2 passed, {len(all_checks()) - 2} skipped" in done.stdout
    (run_dir,) = (tmp_path / "conformance").iterdir()
    result = json.loads((run_dir / "host" / "results.json").read_text())
    assert {c["outcome"] for c in result["checks"]} == {"passed", "skipped"}
    assert all(c["reason"] for c in result["checks"] if c["outcome"] == "skipped")


@pytest.mark.skipif(not mesh_available(), reason="emulator.mesh is not installed")
def test_mesh_is_launched_peered_and_passes(tmp_path):
    result, _, _ = conformance(tmp_path, "mesh")
    assert result["target"]["scope"] == "global"
    assert failed_ids(result) == set()
    assert outcomes(result)["CNM-SCOPE-02"]["outcome"] == "passed"


def run_pytest(*args: str):
    import subprocess

    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
