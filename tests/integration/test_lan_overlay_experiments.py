"""`cnm run macvlan-conflicts` and `cnm run overlay-overhead` end to end."""

from __future__ import annotations

import csv
import json
import subprocess

from conftest import run_cnm


def rows(path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_macvlan_conflicts_finds_exactly_the_injected_conflicts(tmp_path):
    done = run_cnm("run", "macvlan-conflicts", "--results", str(tmp_path), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "macvlan-conflicts").iterdir()
    points = rows(run_dir / "points.csv")
    sweep = {float(p["overlap"]): p for p in points if p["mode"] == "promiscuous"}
    assert set(sweep) == {0.0, 0.25, 0.5, 1.0}
    assert sweep[0.0]["injected"] == "0" and sweep[0.0]["detected"] == "0"
    assert int(sweep[1.0]["injected"]) == 16  # every lease inside the containers' ranges
    for point in sweep.values():
        assert point["false_positives"] == "0" and point["misses"] == "0"
        assert point["injected"] == point["detected"] == point["true_positives"]
    (security,) = [p for p in points if p["mode"] == "port-security"]
    assert security["detected"] == "0"
    reach = rows(run_dir / "port_security.csv")
    from_containers = [r for r in reach if r["source"] != "client"
                       and not r["target"].startswith(("h1c", "h2c"))]
    assert from_containers and all(r["reached"] == "False" for r in from_containers)
    assert all(r["reached"] == "True" for r in reach if r["source"] == "client")
    detections = rows(run_dir / "detections.csv")
    assert all(len(d["macs"].split()) == 2 for d in detections if d["injected"] == "True")
    for name in ("conflicts.png", "impact.csv", "scan.pcap", "summary.md", "meta.json"):
        assert (run_dir / name).stat().st_size > 0
    probes = subprocess.run(["tshark", "-r", str(run_dir / "scan.pcap"),
                             "-Y", "arp.src.proto_ipv4 == 0.0.0.0 && arp.opcode == 1",
                             "-T", "fields", "-e", "arp.dst.proto_ipv4"],
                            capture_output=True, text=True)
    assert len(probes.stdout.split()) == 253  # one RFC 5227 probe per LAN address


def test_overlay_overhead_measures_50_bytes_over_ipv4_70_over_ipv6_and_the_mtu(tmp_path):
    done = run_cnm("run", "overlay-overhead", "--results", str(tmp_path), timeout=1500)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "overlay-overhead").iterdir()
    sizes = rows(run_dir / "sizes.csv")
    overheads = {(r["underlay"], r["overhead"]) for r in sizes if r["overhead"]}
    assert overheads == {("ipv4", "50"), ("ipv6", "70")}
    assert {(r["underlay"], r["underlay_mtu"]) for r in sizes} == {
        ("ipv4", "1500"), ("ipv4", "9000"), ("ipv6", "1500"), ("ipv6", "9000")}
    mtus = {(r["underlay"], r["underlay_mtu"]): r for r in rows(run_dir / "mtu.csv")}
    assert {key: (r["configured_mtu"], r["found_mtu"]) for key, r in mtus.items()} == {
        ("ipv4", "1500"): ("1450", "1450"), ("ipv4", "9000"): ("8950", "8950"),
        ("ipv6", "1500"): ("1450", "1430"), ("ipv6", "9000"): ("8950", "8930")}
    fates = rows(run_dir / "oversize.csv")
    refused = [f for f in fates if f["dont_fragment"] == "True" and "configured" in f["case"]
               and "not the path" not in f["case"]]
    assert all(f["outcome"].startswith("refused by the sender") for f in refused)
    cost = rows(run_dir / "cost.csv")
    assert len({r["path"] for r in cost}) == 4 and all(float(r["tcp_gbps"]) > 0 for r in cost)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["ok"] is True
    # the captures open in Debian's tshark and dissect as VXLAN with the network's VNI
    for name, outer in (("vxlan-mtu1500.pcap", "156"), ("vxlan-mtu9000.pcap", "156"),
                        ("vxlan-ipv6-mtu1500.pcap", "176"), ("vxlan-ipv6-mtu9000.pcap", "176")):
        out = subprocess.run(["tshark", "-r", str(run_dir / name), "-T",
                              "fields", "-e", "vxlan.vni", "-e", "udp.dstport", "-e",
                              "frame.len"], capture_output=True, text=True, check=True)
        vni, port, length = out.stdout.split()
        assert (vni, port, length) == ("4097", "4789,9999", outer)  # outer, then inner UDP
