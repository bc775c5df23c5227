"""The probe engine on real namespaces: its verdicts agree with ping and TCP connect."""

from __future__ import annotations

import os

import pytest
from conftest import ping, tcp_reaches

from emulator.fabric.netns import Namespace
from emulator.probes import ProbeEngine, ProbeTarget, Verdict
from emulator.probes.engine import MachineNamespaceRefused


def target(container) -> ProbeTarget:
    return ProbeTarget(container.name, container.pid, container.ip())


def test_verdicts_agree_with_ping_and_tcp_connect(lab, h1):
    h1.networks.create("front")
    h1.networks.create("back")
    h1.networks.create("quiet", options={"com.docker.network.bridge.enable_icc": "false"})
    containers = [h1.containers.run("web", network="front"),
                  h1.containers.run("db", network="front"),
                  h1.containers.run("api", network="back"),
                  h1.containers.run("q1", network="quiet"),
                  h1.containers.run("q2", network="quiet")]
    targets = [target(c) for c in containers]
    results = ProbeEngine(window=0.5).run(targets, targets)
    verdicts = {(r.source, r.target, r.protocol): r.verdict for r in results}
    assert len(verdicts) == 5 * 4 * 3
    by_name = {c.name: c for c in containers}
    sample = [(src, dst) for src in ("web", "api", "q1") for dst in ("db", "web", "q2")
              if src != dst]
    for (src, dst, protocol), verdict in verdicts.items():
        if (src, dst) not in sample:
            continue
        if protocol == "icmp":
            assert (verdict is Verdict.REACHED) == ping(by_name[src], by_name[dst].ip()), (src, dst)
        if protocol == "tcp":
            assert (verdict is Verdict.REACHED) == tcp_reaches(by_name[src], by_name[dst].ip()), (
                src, dst)
    assert verdicts[("web", "db", "tcp")] is Verdict.REACHED
    assert verdicts[("web", "api", "udp")] is Verdict.BLOCKED
    assert verdicts[("q1", "q2", "icmp")] is Verdict.BLOCKED


def test_reached_means_a_kernel_answered(lab, h1):
    web = h1.containers.run("web")
    db = h1.containers.run("db")
    results = ProbeEngine(window=0.5).run([target(web)], [target(db)])
    evidence = {r.protocol: r.evidence for r in results}
    assert evidence == {"icmp": "echo-reply", "tcp": "rst", "udp": "icmp-3/3"}
    assert all(r.rtt_ms is not None and r.rtt_ms < 500 for r in results)


def test_probes_are_never_sent_from_the_machines_namespace(lab, h1):
    db = h1.containers.run("db")
    assert Namespace.of_pid(os.getpid()).inode != Namespace.of_pid(db.pid).inode
    with pytest.raises(MachineNamespaceRefused):
        ProbeEngine().run([ProbeTarget("machine", os.getpid(), db.ip())], [target(db)])
