"""The isolation experiment's dns and published sections, and host-ports' publishing
conflicts, on a lab of real dockerd 20.10 hosts and on an emulated lab: every cell as
Docker, the section fast, the lab left as it was."""

from __future__ import annotations

import csv
import json
import secrets

import pytest
from conftest import run_cnm

from emulator import Lab
from emulator.experiments.host_ports import publishing_checks
from emulator.experiments.isolation import (
    default_topology_path,
    measure_dns,
    measure_published,
)
from emulator.lab import realdocker
from emulator.probes.apistate import read_lab
from emulator.topology import default_topology, read_topology

ENGINES = [pytest.param("docker", marks=pytest.mark.skipif(
    realdocker.available() is not None, reason=realdocker.available() or "")), "emulated"]


def dx_name() -> str:
    return "dx" + secrets.token_hex(3)


def _containers(lab) -> dict[str, list[str]]:
    return {name: sorted(c["Names"][0] for c in host.client.api.containers(all=True))
            for name, host in lab.hosts.items()}


@pytest.fixture(scope="module", params=ENGINES)
def sections(request):
    """The dns and published sections on the isolation lab, run on one engine."""
    topology = read_topology(default_topology_path())
    with Lab(topology, dx_name(), engine=request.param) as lab:
        state = read_lab(lab)
        before = _containers(lab)
        dns_cells, prober = measure_dns(state)
        published = measure_published(lab, state)
        after = _containers(lab)
    return dns_cells, prober, published, before, after


def test_every_dns_answer_is_dockers(sections):
    cells, prober, _, _, _ = sections
    assert len(cells) > 300
    assert [c for c in cells if c.wrong] == []
    assert prober.seconds < 2.0


def test_names_resolve_on_shared_networks_only(sections):
    answers = {(c.source, c.name): c for c in sections[0]}
    assert answers[("h1/f1", "f2")].observed == "h1/f2@front"
    assert answers[("h1/b1", "m1")].observed == "h1/m1@back"
    assert answers[("h1/f1", "m1")].observed == "h1/m1@front"
    assert answers[("h1/f1", "b1")].observed == ""
    assert answers[("h2/g1", "f1")].observed == ""  # h2's front is another network
    assert answers[("h1/s1", "s2")].observed == "h1/s2@secret"  # internal: names still
    assert answers[("h1/q1", "q2")].observed == "h1/q2@quiet"  # ICC off: names still


def test_no_resolver_on_the_default_bridge_host_or_none(sections):
    for cell in sections[0]:
        if cell.source in ("h1/d1", "h1/n1", "h1/x1"):
            assert cell.observed == "" and cell.evidence.startswith("refused"), cell


def test_published_ports_are_reached_as_docker_does(sections):
    _, _, published, _, _ = sections
    assert len(published) == 39
    assert [c for c in published if c.wrong] == []
    reached = {(c.source, c.target) for c in published if c.observed == "reached"}
    assert ("outside", "host address:8080/tcp") in reached
    assert ("outside", "host address:8082/udp") in reached
    assert ("h1", "127.0.0.1:8081/tcp") in reached
    assert ("outside", "host address:8081/tcp") not in reached
    assert ("h1/f1", "127.0.0.1:8080/tcp") not in reached


def test_the_published_section_leaves_no_container(sections):
    _, _, _, before, after = sections
    assert after == before


@pytest.mark.parametrize("engine", ENGINES)
def test_publishing_conflicts_as_docker(engine):
    with Lab(default_topology(), dx_name(), engine=engine) as lab:
        checks = publishing_checks(lab)
        left = _containers(lab)["h1"]
    assert [c for c in checks if not c.ok] == []
    assert not any("pub-" in name for name in left)


def test_cnm_run_isolation_writes_the_dns_and_published_sections(tmp_path):
    done = run_cnm("run", "isolation", "--param", f"lab={dx_name()}", "--results",
                   str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    (run_dir,) = (tmp_path / "isolation").iterdir()
    with (run_dir / "dns.csv").open() as handle:
        dns = list(csv.DictReader(handle))
    with (run_dir / "published.csv").open() as handle:
        published = list(csv.DictReader(handle))
    assert len(dns) > 300 and all(r["ok"] == "True" for r in dns)
    assert {"h1/f2@front", ""} <= {r["observed"] for r in dns}
    assert published and all(r["expected"] == r["observed"] for r in published)
    assert (run_dir / "dns_heatmap.png").stat().st_size > 10_000
    figures = json.loads((run_dir / "meta.json").read_text())["figures"]
    assert figures["dns_wrong"] == 0 and figures["published_wrong"] == 0
    assert figures["dns_seconds"] < 2.0
    summary = (run_dir / "summary.md").read_text()
    assert "## DNS section" in summary and "## Published section" in summary
    tables = (run_dir / "dns-truth-tables.txt").read_text()
    assert "dns diff" in tables and " !" not in tables.split("dns diff")[1][:3000]
