"""`cnm run routing-mesh` end to end with a few connections, as a user runs it: from
`outside`, every node publishes the port and reaches every replica, each replica sees
the entry node's ingress sandbox address (not the client's), mode=host answers only
where a task runs, the files are written, and the lab leaves nothing behind."""

from __future__ import annotations

import csv
import json
import secrets
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from conftest import run_cnm
from leftovers import assert_nothing_left

OUTSIDE = "192.0.2.254"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_routing_mesh_reaches_every_replica_from_every_node(tmp_path: Path) -> None:
    lab = "rm" + secrets.token_hex(3)
    done = run_cnm("run", "routing-mesh", "--results", str(tmp_path), "--param",
                   "connections=12", "--param", "removal_window=2", "--param", f"lab={lab}",
                   timeout=600)
    (run,) = (tmp_path / "routing-mesh").iterdir()
    assert (run / "summary.md").read_text().startswith("# routing-mesh\n\nreplicas"), \
        done.stdout[-4000:] + done.stderr[-4000:]
    # every check holds; the one on a scale-down's drain (dockerd takes the task out of
    # the balancers before stopping it) is the run's verdict to give, not this test's
    differ = [c for c in rows(run / "observations.csv") if c["ok"] != "True"
              and c["what"] != "no connection fails while the task drains"]
    assert not differ, differ
    for name in ("connections.csv", "replicas.csv", "entries.csv", "shares.csv", "latency.csv",
                 "removal.csv", "host_mode.csv", "observations.csv", "routing_mesh.png",
                 "removal.png", "summary.md", "meta.json"):
        assert (run / name).stat().st_size > 0, f"{name} missing or empty"
    replicas = [r for r in rows(run / "replicas.csv") if r["service"] == "web"]
    assert len(replicas) == 2 and len({r["node"] for r in replicas}) == 2
    entries = {e["entry"]: e for e in rows(run / "entries.csv")}
    assert set(entries) == {"h1", "h2", "h3"}
    sandboxes = set()
    for entry, e in entries.items():
        assert e["answered"] == e["connections"] == "12", entry  # every node publishes 8080
        assert e["replicas_reached"] == "2", entry
        # the replicas saw the entry node's ingress sandbox, never outside's address
        (source,) = e["sources"].split()
        assert source != OUTSIDE and source == e["sandbox_address"], entry
        sandboxes.add(source)
    assert len(sandboxes) == 3  # one ingress sandbox per node
    subnet = IPv4Network("10.0.0.0/24")  # Docker's default ingress subnet
    assert all(IPv4Address(s) in subnet for s in sandboxes)
    # the node without a replica: everything it answers crossed hosts
    empty = ({"h1", "h2", "h3"} - {r["node"] for r in replicas}).pop()
    assert float(entries[empty]["crossed_share"]) == 1.0
    host_nodes = {r["node"] for r in rows(run / "replicas.csv") if r["service"] == "webhost"}
    for h in rows(run / "host_mode.csv"):
        if h["mode"] == "host":
            answered = int(h["answered"])
            assert (answered == 12) == (h["node"] in host_nodes), h
            if answered:
                assert h["sources"] == OUTSIDE and h["answering_nodes"] == h["node"]
    removal = {r["event"]: r for r in rows(run / "removal.csv")}
    assert set(removal) == {"rm -f", "scale down"}
    assert all(r["stopped_after_s"] for r in removal.values())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["ok"] is (done.returncode == 0) and meta["parameters"]["connections"] == 12
    assert_nothing_left(lab)
