"""The conformance kit against a real Docker Engine (`cnm conformance --engine docker`).

Each run is a lab whose Docker hosts run Debian's dockerd 20.10 (emulator/lab/
realdocker.py). A check real Docker fails is a defect of the check, or a version
difference between that engine and the Docker 28 the checks follow: the kit then
accepts the older answer and names the difference (emulator/conformance/versions.py)
with the moby commit that changed it. So on real Docker the built-in bridge driver and
the healthy bridgeplugin pass, every difference met is a classified one, and a
deliberate fault is still caught.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import run_cnm

from emulator.conformance.registry import all_checks
from emulator.conformance.targets import mesh_available
from emulator.conformance.versions import DIFFERENCES, NO_SHARED_STORE
from emulator.lab import realdocker

pytestmark = pytest.mark.skipif(realdocker.available() is not None,
                                reason=str(realdocker.available()))

LIMIT_S = 180.0
PLUGIN = "{python} -m emulator.plugins.bridgeplugin {socket}"
CLASSIFIED = {d.id: d for d in DIFFERENCES}


def conformance(tmp_path: Path, driver: str, *options: str) -> dict:
    started = time.monotonic()
    done = run_cnm("conformance", "--engine", "docker", "--driver", driver, *options,
                   "--results", str(tmp_path), timeout=LIMIT_S + 120)
    took = time.monotonic() - started
    (run_dir,) = (tmp_path / "conformance").iterdir()
    result = json.loads((run_dir / driver / "results.json").read_text())
    print(f"\nconformance on real Docker over {driver}: {took:.1f} s")
    assert result["status"] == "ran", result.get("reason")
    assert result["engine"] == "docker" and result["target"]["engine"] == "docker"
    assert result["engine_version"], "the real engine's version is recorded"
    failed = failed_ids(result)
    assert done.returncode == (1 if failed else 0), done.stdout[-3000:] + done.stderr
    assert took < LIMIT_S, f"the run over {driver} took {took:.1f} s"
    return result


def failed_ids(result: dict) -> set[str]:
    return {c["id"] for c in result["checks"] if c["outcome"] in ("failed", "error")}


def differences(result: dict) -> dict[str, set[str]]:
    """check id -> the version differences it accepted."""
    return {c["id"]: set(c["differences"]) for c in result["checks"] if c["differences"]}


def test_bridge_passes_on_real_docker_and_names_each_version_difference(tmp_path):
    result = conformance(tmp_path, "bridge")
    assert failed_ids(result) == set(), {
        c["id"]: c["reason"][:300] for c in result["checks"] if c["outcome"] != "passed"}
    by_id = {c["id"]: c for c in result["checks"]}
    assert set(by_id) == {c.id for c in all_checks()}
    assert {cid for cid, c in by_id.items() if c["outcome"] == "skipped"} == {
        "CNM-SCOPE-02", "CNM-NET-03"}
    met = differences(result)
    if result["engine_version"].startswith("20.10."):  # Debian 12's docker.io
        assert met == {"CNM-NET-02": {"VD-01"}, "CNM-IPAM-01": {"VD-02"},
                       "CNM-INT-01": {"VD-03"}}
    for check_id, ids in met.items():
        notes = " ".join(by_id[check_id]["notes"])
        for difference in ids:
            assert CLASSIFIED[difference].source in notes  # the moby commit is named
    (run_dir,) = (tmp_path / "conformance").iterdir()
    assert f"real Docker Engine {result['engine_version']}" in (run_dir / "report.md").read_text()


def test_a_healthy_plugin_passes_on_real_docker(tmp_path):
    result = conformance(tmp_path, "bp", "--plugin-command", PLUGIN)
    assert failed_ids(result) == set(), {
        c["id"]: c["reason"][:300] for c in result["checks"] if c["outcome"] != "passed"}
    assert set().union(*differences(result).values()) <= set(CLASSIFIED)


def test_a_plugin_that_leaves_its_bridges_fails_the_leftover_check_on_real_docker(tmp_path):
    """Real dockerd moves a plugin's interface back to the host's namespace when an
    endpoint leaves (the plugin must delete it at DeleteEndpoint), where the emulator
    deletes it itself: so on real Docker the veth pair of a refused run's rolled-back
    endpoint is left too, and CNM-RB-01 may catch the same fault (when that endpoint
    was joined before the refusal)."""
    result = conformance(tmp_path, "bp", "--plugin-command", f"{PLUGIN} --break leftover")
    assert {"CNM-KERN-01"} <= failed_ids(result) <= {"CNM-KERN-01", "CNM-RB-01"}
    reason = next(c["reason"] for c in result["checks"] if c["id"] == "CNM-KERN-01")
    assert "link pb-" in reason


@pytest.mark.skipif(not mesh_available(), reason="emulator.mesh is not installed")
def test_a_global_plugin_is_not_applicable_to_real_docker_with_the_reason(tmp_path):
    result = conformance(tmp_path, "mesh")
    assert {c["outcome"] for c in result["checks"]} == {"skipped"}
    assert {c["reason"] for c in result["checks"]} == {NO_SHARED_STORE}
