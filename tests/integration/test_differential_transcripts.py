"""The transcript corpus on two emulated Docker hosts of one lab: the same engine
must give the same normalised transcript, so any difference the differential
reports against a real dockerd comes from Docker, not from the normalising."""

from __future__ import annotations

import os
import shutil

import pytest

from emulator.experiments.differential import transcripts as tr

pytestmark = pytest.mark.skipif(
    not os.access(tr.DOCKER_CLI, os.X_OK) and shutil.which("docker") is None,
    reason="no docker CLI")


def test_two_emulated_hosts_give_identical_transcripts(lab) -> None:
    urls = {name: lab.docker_host_url(name) for name in ("h1", "h2")}
    literals = {name: tr.host_literals(lab.host(name).address) for name in urls}
    transcripts = tr.run_corpora(urls, literals=literals)
    rows = tr.compare(transcripts["h1"], transcripts["h2"])
    differing = [(r["section"], r["index"], r["command"], r["field"], r["emulated"], r["real"])
                 for r in rows if not r["agree"]]
    assert differing == []
    summary = tr.agreement(rows)
    assert sum(s["commands"] for s in summary) >= 60
    assert {s["section"] for s in summary} == {
        "readme", "lifecycle", "refusals", "ipv6-default-pool", "ipam-validation",
        "driver-options", "endpoint-validation", "unimplemented", "ports"}
    assert transcripts["h1"].leftovers == transcripts["h2"].leftovers == {}
    # The corpus exercises what it claims: refusals are refused, the rest works.
    refused = [r for r in transcripts["h1"].records if r.section == "refusals" and r.exit_code]
    assert len(refused) >= 40
    assert all(r.exit_code == 0 for r in transcripts["h1"].records if r.section == "lifecycle")
