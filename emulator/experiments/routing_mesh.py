"""The `routing-mesh` experiment: which replica answers a published port, from which
node, seeing which source address, at what cost, and what happens when one goes.

A 3-host swarm (h1 manager, h2 and h3 workers, formed through docker-py), a service
`web` with fewer replicas than nodes (2 by default: one node runs none) publishing
8080 -> 80 through the ingress routing mesh, and a service `webhost` publishing
8081 -> 80 with `mode=host`. Every task runs a tiny server that answers its
hostname and the peer address it sees (echoclient.py). From the lab's `outside`
host only, N connections to each node's underlay address on 8080 (and on 8081):

- the share of each replica per node entered, with a chi-square test against equal
  shares, and the share that crossed hosts (answered by a replica on another node);
- the source address each replica saw: Docker rewrites it to the entry node's
  ingress sandbox address on `ingress` (`ingress-sbox`), not the client's;
- connection time through the mesh (replica on the entry node, or on another) vs
  straight to a task published with mode=host: medians with 95 % intervals, and the
  added median with a bootstrap interval;
- a task's container removed with `docker rm -f` on its node, then the service
  scaled down by one, under a steady stream of connections: failed connections and
  the time until the balancers stopped sending to the removed task (a scale-down
  drains on Docker: dockerd takes the task out of the balancers, waits 2 s for the
  gossip, then stops it, so no connection fails);
- mode=host: reachable only on the nodes that run a task, whose replica sees the
  client's own address.

The verdict fails when a node does not publish the port or a replica is not reached
through every node, or a source address, mode=host or a removal behaves otherwise
than on Docker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

import docker
import docker.models.services
import docker.types

from emulator.experiments import routing_mesh_report as report
from emulator.experiments.echoclient import ECHO_COMMAND, ECHO_PORT, EchoClient
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.experiments.routing_mesh_stats import (
    SETTLED_RUN,
    connection_row,
    entry_summaries,
    host_mode_rows,
    latency_rows,
    removal_summary,
    share_rows,
)
from emulator.experiments.swarmlab import (
    TaskView,
    form_swarm,
    ingress_sandbox_addresses,
    ingress_subnet,
    running_tasks,
    swarm_topology,
    wait_serving,
)
from emulator.lab import Lab

IMAGE = "python"
"""Its tasks run ECHO_COMMAND, a python3 server: an image other than alpine and busybox
runs on the machine's root, where python3 is (docs/containers.md)."""
SERVICE, HOST_SERVICE = "web", "webhost"
MESH_PORT, HOST_PORT = 8080, 8081
REPLICAS = 2
"""On three nodes: one node runs none, and scaling down by one leaves one."""
CONNECTIONS = 60
REMOVAL_WINDOW_S = 7.0
"""Long enough to see `docker rm -f`'s task replaced (Docker's restart delay: 5 s)."""
REMOVAL_PACE_S = 0.005
"""A connection started every 5 ms while a task goes (~800 per event), each given
REMOVAL_TIMEOUT_S without holding up the next: the timeline's resolution."""
REMOVAL_TIMEOUT_S = 1.0
LEAD_S = 0.25
"""Connections before the removal: the replicas as they were."""


def _params(ctx: RunContext) -> tuple[int, float]:
    connections = int(ctx.params.get("connections") or CONNECTIONS)
    window = float(ctx.params.get("removal_window") or REMOVAL_WINDOW_S)
    if connections < 1 or window <= 0:
        raise ValueError("routing-mesh: connections must be at least 1 and removal_window "
                         "more than 0")
    ctx.params.update({"connections": connections, "replicas": REPLICAS,
                       "removal_window": window, "mesh_port": MESH_PORT,
                       "host_port": HOST_PORT})
    return connections, window


@dataclass
class Setup:
    lab: Lab
    nodes: dict[str, str]  # node ID -> host
    web: docker.models.services.Service
    webhost: docker.models.services.Service
    replicas: dict[str, list[TaskView]] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        return {name: str(host.address) for name, host in sorted(self.lab.hosts.items())}

    def replica_nodes(self) -> dict[str, str]:
        return {t.hostname: t.node for tasks in self.replicas.values() for t in tasks}


def _services(lab: Lab, nodes: dict[str, str], replicas: int) -> Setup:
    client = lab.host("h1").client
    mode = docker.types.ServiceMode("replicated", replicas=replicas)
    web = client.services.create(
        IMAGE, ECHO_COMMAND, name=SERVICE, mode=mode,
        endpoint_spec=docker.types.EndpointSpec(ports={MESH_PORT: ECHO_PORT}))
    webhost = client.services.create(
        IMAGE, ECHO_COMMAND, name=HOST_SERVICE, mode=mode,
        endpoint_spec=docker.types.EndpointSpec(ports={HOST_PORT: (ECHO_PORT, "tcp", "host")}))
    setup = Setup(lab, nodes, web, webhost)
    setup.replicas["ingress"] = wait_serving(lab, web, nodes, replicas, ECHO_PORT)
    setup.replicas["host"] = wait_serving(lab, webhost, nodes, replicas, ECHO_PORT)
    return setup


def traffic(setup: Setup, client: EchoClient, connections: int) -> list[dict]:
    """Round after round, each node on 8080 (mesh) and on 8081 (mode=host)."""
    rows: list[dict] = []
    replica_nodes = setup.replica_nodes()
    started = time.perf_counter()
    for seq in range(connections):
        for entry, address in setup.addresses().items():
            for phase, mode, port in (("mesh", "ingress", MESH_PORT), ("host", "host", HOST_PORT)):
                at = time.perf_counter() - started
                reply = client.ask(address, port)
                rows.append(connection_row(phase, mode, entry, address, port, seq, at, reply,
                                           replica_nodes))
    return rows


def stream_during(setup: Setup, client: EchoClient, event: str, action: Callable[[], None],
                  window: float, known: dict[str, str]) -> tuple[list[dict], float]:
    """Connections to 8080, the nodes in turn, one every REMOVAL_PACE_S whatever the
    earlier ones do, from a quarter second before `action` starts (on another thread;
    t_s = 0 then) until `window` seconds after; (rows, the action's own duration)."""
    addresses = list(setup.addresses().items())
    began: list[float] = []
    took: list[float] = []
    failure: list[BaseException] = []

    def act() -> None:
        began.append(time.perf_counter())
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            failure.append(exc)
        took.append(time.perf_counter() - began[0])

    actor = threading.Timer(LEAD_S, act)
    actor.start()
    got = client.paced([(address, MESH_PORT) for _, address in addresses], REMOVAL_PACE_S,
                       lambda now: not began or now < began[0] + window)
    actor.join()
    if failure:
        raise failure[0]
    rows = [connection_row(event, "ingress", addresses[target][0], addresses[target][1],
                           MESH_PORT, seq, at - began[0], reply, known)
            for seq, (at, target, reply) in enumerate(got)]
    return rows, took[0]


def removals(setup: Setup, client: EchoClient, replicas: int, window: float,
             ctx: RunContext) -> tuple[list[dict], list[dict]]:
    """`docker rm -f` of one task's container on its node, then `docker service scale
    web=replicas-1`; the connection rows and one summary per event."""
    lab, web = setup.lab, setup.web
    rows, summaries = [], []
    before = setup.replicas["ingress"]
    victim = before[-1]
    ctx.progress(f"removal: docker rm -f {victim.container_id[:12]} (task {SERVICE}."
                 f"{victim.slot}) on {victim.node}, {window:g} s of connections")
    known = {t.hostname: t.node for t in before}

    def remove() -> None:
        lab.host(victim.node).client.api.remove_container(victim.container_id, force=True)

    got, took = stream_during(setup, client, "rm -f", remove, window, known)
    summary = removal_summary(got, "rm -f", {victim.hostname}, {t.hostname for t in before})
    summary["action_s"] = round(took, 4)
    rows += got
    summaries.append(summary)
    ctx.progress(_removal_line(summary))
    restored = wait_serving(lab, web, setup.nodes, replicas, ECHO_PORT)
    known.update({t.hostname: t.node for t in restored})
    _label_new_replicas(got, known)
    ctx.progress(f"scale: {SERVICE} {replicas} -> {replicas - 1}, {window:g} s of connections")
    got, took = stream_during(setup, client, "scale down", lambda: web.scale(replicas - 1),
                              window, known)
    web.reload()
    left = {t.hostname for t in running_tasks(lab, web, setup.nodes)}
    summary = removal_summary(got, "scale down", {t.hostname for t in restored} - left,
                              {t.hostname for t in restored})
    summary["action_s"] = round(took, 4)
    rows += got
    summaries.append(summary)
    ctx.progress(_removal_line(summary))
    return rows, summaries


def _label_new_replicas(rows: list[dict], known: dict[str, str]) -> None:
    """A replacement answered before its node was known: name its node now."""
    for row in rows:
        if row["ok"] and not row["replica_node"] and row["hostname"] in known:
            row["replica_node"] = known[row["hostname"]]
            row["crossed"] = row["replica_node"] != row["entry"]


def _removal_line(s: dict) -> str:
    stopped = "never" if s["stopped_after_s"] is None else f"{float(s['stopped_after_s']):.3f} s"
    replaced = ("no replacement in the window" if s["replacement_after_s"] is None
                else f"a replacement answered at {float(s['replacement_after_s']):.3f} s")
    later = (f"; {s['later_failed']} failed later (at {s['later_failed_at_s']} s)"
             if s["later_failed"] else "")
    return (f"{s['event']}: {s['failed']} of {s['connections']} connections failed "
            f"({s['errors'] or 'none'}), {s['answered_by_removed']} still answered by the "
            f"removed task; balancers stopped using it after {stopped}; {replaced}{later}")


# -- checks -----------------------------------------------------------------------------


def checks_of(entries: list[dict], host_rows: list[dict], removal: list[dict],
              outside: str, subnet: str) -> list[Check]:
    checks = []
    for e in entries:
        node = e["entry"]
        checks.append(Check(node, f"publishes {MESH_PORT} (ingress): connections answered",
                            f"{e['connections']}/{e['connections']}",
                            f"{e['answered']}/{e['connections']}" + (
                                f" ({e['errors']})" if e["errors"] else ""),
                            e["answered"] == e["connections"] > 0))
        checks.append(Check(node, "replicas reached through this node",
                            f"all {e['replicas']}", f"{e['replicas_reached']}" + (
                                f" (not: {e['unreached']})" if e["unreached"] else ""),
                            e["replicas_reached"] == e["replicas"]
                            and not e["unknown_answerers"]))
        sources = e["sources"].split()
        if e["sandbox_address"]:
            expected = f"{e['sandbox_address']} (this node's ingress-sbox)"
            ok = sources == [e["sandbox_address"]]
        else:
            expected = (f"one address on ingress ({subnet}), not outside's {outside} "
                        "(ingress-sbox not listed by network inspect)")
            ok = len(sources) == 1 and sources[0] != outside and _in(sources[0], subnet)
        checks.append(Check(node, "source address the replicas saw", expected,
                            e["sources"] or "none", ok))
    for h in host_rows:
        if h["mode"] != "host":
            continue
        if h["task_on_node"]:
            expected = f"answered by the task on {h['node']}, which sees {outside}"
            ok = (h["answered"] == h["connections"] and h["answering_nodes"] == h["node"]
                  and h["sources"] == outside)
            observed = (f"{h['answered']}/{h['connections']} answered by "
                        f"{h['answering_nodes'] or 'none'}, source {h['sources'] or 'none'}")
        else:
            expected = "not published: refused"
            ok = h["answered"] == 0 and h["errors"] == "refused"
            observed = (f"{h['answered']}/{h['connections']} answered"
                        + (f", {h['errors']}" if h["errors"] else ""))
        checks.append(Check(h["node"], f"mode=host {HOST_PORT}", expected, observed, ok))
    for r in removal:
        if r["event"] == "scale down":
            # dockerd's task shutdown (daemon/cluster/executor/container/controller.go):
            # the service binding goes first, 2 s for gossip, then the container stops
            failed = r["failed"] + r["later_failed"]
            checks.append(Check(r["event"], "no connection fails while the task drains",
                                "0 failed (out of the balancers before it stops)",
                                f"{failed} failed ({r['errors'] or 'none'})", failed == 0))
        stopped = r["stopped_after_s"]
        checks.append(Check(r["event"], "the balancers stop sending to the removed task",
                            f"within the window, for good ({SETTLED_RUN} answered in a row "
                            "by live replicas, none by it later)",
                            "never" if stopped is None else
                            f"after {float(stopped):.3f} s, {r['later_answered_by_removed']} "
                            "answered by it later",
                            stopped is not None and r["later_answered_by_removed"] == 0))
    return checks


def _in(address: str, subnet: str) -> bool:
    try:
        return bool(subnet) and IPv4Address(address) in IPv4Network(subnet)
    except ValueError:
        return False


# -- the run ----------------------------------------------------------------------------


@register("routing-mesh", "swarm ingress routing mesh: replica shares per node, sources "
          "seen, added latency vs mode=host, a task removed; mode=host vs ingress",
          params=("connections", "removal_window", "lab"))
def run(ctx: RunContext) -> Outcome:
    connections, window = _params(ctx)
    replicas = REPLICAS
    name = str(ctx.params.get("lab") or f"rm{ctx.run_id[-4:]}")
    with Lab(swarm_topology(name), name) as lab:
        ctx.progress("swarm: h1 manager, h2 and h3 workers (docker swarm init/join)")
        nodes = form_swarm(lab)
        ctx.progress(f"services: {SERVICE} ({replicas} replicas, {MESH_PORT}:{ECHO_PORT} "
                     f"ingress), {HOST_SERVICE} ({replicas} replicas, {HOST_PORT}:{ECHO_PORT} "
                     "mode=host)")
        setup = _services(lab, nodes, replicas)
        for mode, tasks in setup.replicas.items():
            ctx.progress(f"{mode}: " + ", ".join(f"{t.hostname} on {t.node} "
                                                 f"({t.addresses.get('ingress', '-')})"
                                                 for t in tasks))
        sandboxes = ingress_sandbox_addresses(lab)
        subnet = ingress_subnet(lab, "h1")
        replica_rows = [{"mode": mode, "service": t.service, "slot": t.slot, "task": t.task_id,
                         "node": t.node, "container": t.container_id[:12],
                         "hostname": t.hostname,
                         "ingress_address": t.addresses.get("ingress", ""),
                         "ingress_sbox_on_node": sandboxes.get(t.node, "")}
                        for mode, tasks in setup.replicas.items() for t in tasks]
        outside_pid = lab.node_pid("outside")
        with EchoClient(outside_pid) as client:
            ctx.progress(f"traffic: from outside, {connections} connections to each node on "
                         f"{MESH_PORT} and on {HOST_PORT}")
            rows = traffic(setup, client, connections)
        with EchoClient(outside_pid, timeout=REMOVAL_TIMEOUT_S) as client:
            removal_rows, removal = removals(setup, client, replicas, window, ctx)
        for service in (setup.web, setup.webhost):
            service.remove()
    web_replicas = {t.hostname: t.node for t in setup.replicas["ingress"]}
    mesh = [r for r in rows if r["phase"] == "mesh"]
    entries = entry_summaries(mesh, web_replicas, "mesh", sandboxes)
    shares = share_rows(mesh, web_replicas, "mesh")
    latency = latency_rows(rows, ctx.seed)
    task_nodes = {mode: {t.node for t in tasks} for mode, tasks in setup.replicas.items()}
    host_rows = host_mode_rows(rows, task_nodes)
    for e in entries:
        ctx.progress(f"{e['entry']}: {e['answered']}/{e['connections']} answered, "
                     f"{e['replicas_reached']}/{e['replicas']} replicas, chi2 p="
                     f"{e['p_value']}, crossed {e['crossed_share']:.0%}, sources "
                     f"{e['sources'] or 'none'} (ingress-sbox {e['sandbox_address'] or '?'})")
    checks = checks_of(entries, host_rows, removal, str(lab.outside_address),
                       str(subnet or ""))
    for file, data in (("connections.csv", rows + removal_rows), ("replicas.csv", replica_rows),
                       ("entries.csv", entries), ("shares.csv", shares),
                       ("latency.csv", latency), ("removal.csv", removal),
                       ("host_mode.csv", host_rows)):
        ctx.write_rows(file, data)
    ctx.write_checks(checks)
    report.plots(ctx.path("routing_mesh.png"), ctx.path("removal.png"), shares, rows, latency,
                 host_rows, removal_rows, removal)
    ok = all(c.ok for c in checks)
    headline = report.headline(entries, latency, removal)
    outcome = Outcome(ok, headline, checks, report.figures(entries, latency, removal))
    ctx.finish(outcome, report.summary_md(outcome, connections, entries, shares, latency,
                                          removal, host_rows, replica_rows,
                                          str(lab.outside_address)))
    return outcome
