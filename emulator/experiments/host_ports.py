"""The `host-ports` experiment: port conflicts in host mode, none in bridge mode.

Two containers on `--network host` share the Docker host's sockets, so a second
listener on the same port fails with EADDRINUSE; two containers on a bridge
each have their own namespace and both bind. Recorded as data, one row per bind.

Then publishing conflicts, through the Engine API only (docker-py), so they run on
an emulated host and on a real dockerd (`--param engine=docker`) alike: on a bridge,
two containers publishing the same host port, the second refused at start with
Docker's `Bind for 0.0.0.0:8080 failed: port is already allocated`; another host
port is fine; the port is free again once its container goes; on the host network
`-p` is discarded with Docker's warning and nothing is published.
"""

from __future__ import annotations

from collections.abc import Callable

import docker
import docker.errors

from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext, checks_table_md
from emulator.lab import Lab
from emulator.topology import default_topology

PORT = 8080
LISTEN = (
    "import socket\n"
    f"s = socket.socket(); s.bind(('0.0.0.0', {PORT})); s.listen()\n"
    "s.accept()\n"
)
BIND = (
    "import socket\n"
    "s = socket.socket()\n"
    "try:\n"
    f"    s.bind(('0.0.0.0', {PORT})); print('bound')\n"
    "except OSError as exc:\n"
    "    print(exc.strerror); raise SystemExit(1)\n"
)


def _wait_listening(container) -> None:
    for _ in range(300):
        if container.exec(["ss", "-ltnH", f"sport = :{PORT}"]).stdout.strip():
            return
    raise RuntimeError(f"the listener on port {PORT} never appeared")


IMAGE, SLEEP = "alpine", ["sleep", "infinity"]
ALLOCATED = f"Bind for 0.0.0.0:{PORT} failed: port is already allocated"
HOST_MODE_WARNING = "Published ports are discarded when using host network mode"
PUBLISH_NETWORK = "hpnet"


def host_port_checks(lab: Lab) -> list[Check]:
    h1 = lab.host("h1")
    checks = []
    for mode, expected in (("host", "Address already in use"), ("bridge", "bound")):
        first = h1.containers.run(f"{mode}-first", network=mode,
                                  command=["python3", "-c", LISTEN])
        second = h1.containers.run(f"{mode}-second", network=mode)
        _wait_listening(first)
        done = second.exec(["python3", "-c", BIND])
        checks.append(Check(mode, f"second bind of port {PORT} while the first listens",
                            expected, done.stdout.strip(), done.stdout.strip() == expected,
                            f"exit {done.exit_code}"))
        first.remove(force=True)
        second.remove(force=True)
    return checks


def _create(client: docker.DockerClient, name: str, network: str,
            ports: dict[str, int]) -> dict:
    """`docker create -p ...`: the create response (Id, Warnings)."""
    api = client.api
    host_config = api.create_host_config(network_mode=network)
    # as the docker CLI sends it: docker-py refuses port bindings with the host
    # network before asking the daemon, whose answer (a warning) is what is checked
    host_config["PortBindings"] = {p: [{"HostIp": "", "HostPort": str(port)}]
                                   for p, port in ports.items()}
    return api.create_container(IMAGE, SLEEP, name=name, detach=True,
                                ports=[int(p.split("/")[0]) for p in ports],
                                host_config=host_config)


def _start(client: docker.DockerClient, container_id: str) -> str:
    """Start; "started" or the Engine API's error message."""
    try:
        client.api.start(container_id)
    except docker.errors.APIError as error:
        return str(error.explanation or error)
    return "started"


def _published(client: docker.DockerClient, name: str) -> str:
    """`docker port NAME`: the IPv4 bindings in NetworkSettings.Ports."""
    ports = client.api.inspect_container(name)["NetworkSettings"].get("Ports") or {}
    return " ".join(sorted(f"{p}->{b['HostIp']}:{b['HostPort']}" for p, bs in ports.items()
                           for b in bs or [] if ":" not in b.get("HostIp", ""))) or "none"


def publishing_checks(lab: Lab) -> list[Check]:
    """Bridge-mode publishing conflicts and host-mode `-p`, as Docker answers them."""
    client = lab.host("h1").client
    made: list[str] = []
    checks: list[Check] = []

    def check(step: str, what: str, expected: str, observed: str,
              ok: Callable[[str], bool] | None = None, evidence: str = "") -> None:
        passed = ok(observed) if ok else observed == expected
        checks.append(Check(step, what, expected, observed, passed, evidence))

    try:
        client.networks.create(PUBLISH_NETWORK, driver="bridge")
        made.append("network")
        first = _create(client, "pub-first", PUBLISH_NETWORK, {"80/tcp": PORT})
        made.append("pub-first")
        check("publish", f"first container publishing {PORT}:80", "started",
              _start(client, first["Id"]))
        check("publish", "docker port of the first", f"80/tcp->0.0.0.0:{PORT}",
              _published(client, "pub-first"))
        second = _create(client, "pub-second", PUBLISH_NETWORK, {"80/tcp": PORT})
        made.append("pub-second")
        check("publish", f"second container publishing the same host port {PORT}", ALLOCATED,
              _start(client, second["Id"]), lambda got: ALLOCATED in got)
        check("publish", "the refused one is not running", "False",
              str(client.api.inspect_container("pub-second")["State"]["Running"]))
        other = _create(client, "pub-other", PUBLISH_NETWORK, {"80/tcp": PORT + 1})
        made.append("pub-other")
        check("publish", f"a third publishing another host port {PORT + 1}", "started",
              _start(client, other["Id"]))
        client.api.remove_container("pub-first", force=True)
        made.remove("pub-first")
        check("publish", f"the second started once the first is removed (port {PORT} freed)",
              "started", _start(client, second["Id"]))
        host = _create(client, "pub-host", "host", {"80/tcp": PORT + 2})
        made.append("pub-host")
        check("publish host mode", f"-p {PORT + 2}:80 on the host network: the create warning",
              HOST_MODE_WARNING, " ".join(host.get("Warnings") or []) or "none",
              lambda got: HOST_MODE_WARNING in got)
        check("publish host mode", "started anyway", "started", _start(client, host["Id"]))
        check("publish host mode", "docker port: nothing published", "none",
              _published(client, "pub-host"))
    finally:
        for name in [m for m in made if m != "network"]:
            try:
                client.api.remove_container(name, force=True)
            except docker.errors.NotFound:
                pass
        if "network" in made:
            client.api.remove_network(PUBLISH_NETWORK)
    return checks


@register("host-ports", "port conflicts: real in host mode, absent in bridge mode; "
          "publishing the same host port twice refused, -p ignored in host mode",
          params=("engine", "lab"))
def run(ctx: RunContext) -> Outcome:
    engine = str(ctx.params.get("engine") or "emulated")
    name = str(ctx.params.get("lab") or f"hp{ctx.run_id[-4:]}")
    with Lab(default_topology(), name, engine=engine) as lab:
        # the sockets part runs python3 inside containers: the emulated host's binaries
        checks = host_port_checks(lab) if engine == "emulated" else []
        checks += publishing_checks(lab)
    ctx.write_checks(checks, "binds.csv")
    ok = all(c.ok for c in checks)
    binds = [c for c in checks if c.step in ("host", "bridge")]
    headline = "; ".join(f"{c.step} mode: {c.observed}" for c in binds)
    headline += (f"{'; ' if binds else ''}publishing: "
                 f"{sum(c.ok for c in checks if c not in binds)}/{len(checks) - len(binds)} "
                 f"as Docker ({engine} engine)")
    outcome = Outcome(ok, headline, checks)
    ctx.finish(outcome, "# host-ports\n\n" + headline + ".\n\n" + checks_table_md(checks))
    return outcome
