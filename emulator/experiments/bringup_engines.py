"""Bring-up on a real dockerd vs on an emulated Docker host, in one lab, the same calls.

Part of `bench-bringup`: one lab with an emulated host (h1) and a real Docker
Engine 20.10 (h2, `engine: docker`). On each, N containers go up first through the
Engine API (docker-py: create a network, create and start each container, wait until
every one is running and has its address), then through the docker CLI (`docker run
-d --network bench alpine sleep infinity`, once per container, DOCKER_HOST pointing
at the host). Both paths are timed until every container runs and is addressed, then
torn down and timed again. After the clock stops, each container is checked in the
kernel: its process lives in a network namespace of its own, and it answers a ping
from its Docker host.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import docker
import docker.errors

from emulator.experiments.results import RunContext
from emulator.fabric.icmpsweep import sweep
from emulator.fabric.netns import Namespace
from emulator.lab import Lab, realdocker
from emulator.topology import HostSpec, OutsideSpec, Topology, UnderlaySpec

DOCKER_CLI = "/usr/local/bin/docker"
NETWORK = "bench"
IMAGE = "alpine"
COMMAND = ["sleep", "infinity"]
READY_TIMEOUT_S = 300.0
CLI_TIMEOUT_S = 120.0
ENGINES = {"h1": "emulated", "h2": "docker"}
INTERFACES = ("engine-api", "docker-cli")


@dataclass(frozen=True)
class Pass:
    """One bring-up of `containers` containers on one host through one interface."""

    interface: str  # engine-api or docker-cli
    engine: str  # emulated or docker
    containers: int
    build_s: float  # until the last create/start (or `docker run -d`) returned
    ready_s: float  # until every container was running and addressed
    teardown_s: float  # removing the containers and the network
    running: int  # State.Running, with a process in a network namespace of its own
    addressed: int  # an address on the network
    reachable: int  # answered a ping from its Docker host

    def row(self) -> dict[str, object]:
        return {"method": f"{self.engine}-{self.interface}", "interface": self.interface,
                "engine": self.engine, "containers": self.containers, "hosts": 1,
                "build_s": self.build_s, "verified_s": self.ready_s,
                "teardown_s": self.teardown_s, "reachable": self.reachable,
                "running": self.running, "addressed": self.addressed, "helper_processes": ""}


@dataclass(frozen=True)
class EngineComparison:
    passes: list[Pass]
    skipped: str | None = None  # why the real-Docker part did not run

    def get(self, interface: str, engine: str) -> Pass:
        return next(p for p in self.passes if (p.interface, p.engine) == (interface, engine))

    def ratio(self, interface: str) -> float:
        """How many times longer the real dockerd took than the emulated host."""
        return self.get(interface, "docker").ready_s / self.get(interface, "emulated").ready_s


def engines_topology(name: str) -> Topology:
    underlay = IPv4Network("192.0.2.0/24")
    return Topology(
        name=name,
        underlay=UnderlaySpec(underlay),
        outside=OutsideSpec(IPv4Address("192.0.2.254")),
        hosts=tuple(HostSpec(host, underlay[11 + i], engine=engine)
                    for i, (host, engine) in enumerate(ENGINES.items())),
    )


def wait_ready(api: docker.APIClient, ids: list[str]) -> list[dict]:
    """Inspect every container until it runs and has its address on NETWORK."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    states: dict[str, dict] = {}
    pending = list(ids)
    delay = 0.01
    while pending:
        still = []
        for cid in pending:
            attrs = api.inspect_container(cid)
            if _running(attrs) and _address(attrs):
                states[cid] = attrs
            else:
                still.append(cid)
        pending = still
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {len(ids)} containers not running and "
                               f"addressed after {READY_TIMEOUT_S:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return [states[cid] for cid in ids]


def _running(attrs: dict) -> bool:
    return bool(attrs["State"]["Running"])


def _address(attrs: dict) -> str:
    endpoint = (attrs["NetworkSettings"].get("Networks") or {}).get(NETWORK) or {}
    return endpoint.get("IPAddress") or ""


def _own_namespace(pid: int, host_netns: str) -> bool:
    """The process lives, in a network namespace other than its Docker host's."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") != host_netns
    except OSError:
        return False


def kernel_view(lab: Lab, host: str, states: list[dict]) -> tuple[int, int, int]:
    """(running, addressed, reachable) as the kernel sees them, from the host's namespace."""
    host_pid = lab.node_pid(host)
    host_netns = os.readlink(f"/proc/{host_pid}/ns/net")
    running = sum(1 for s in states
                  if _running(s) and s["State"]["Pid"] and _own_namespace(s["State"]["Pid"],
                                                                          host_netns))
    addresses = [_address(s) for s in states if _address(s)]
    namespace = Namespace.of_pid(host_pid)
    try:
        with namespace.entered():
            answers = sweep(addresses, timeout=2.0)
    finally:
        namespace.close()
    return running, len(addresses), sum(1 for rtt in answers.values() if rtt is not None)


def _until_removed(remove_network) -> None:
    """Remove the network once its endpoints are gone. dockerd 20.10 answers `rm -f`
    before the killed container's endpoint is released (that happens when containerd
    reports the exit), so a network remove right after can find it still active."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            remove_network()
            return
        except (RuntimeError, docker.errors.APIError) as exc:
            if "active endpoints" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def api_pass(lab: Lab, host: str, count: int) -> Pass:
    """N containers through the Engine API (docker-py), as a script would start them."""
    api = lab.hosts[host].client.api
    started = time.perf_counter()
    network = api.create_network(NETWORK, driver="bridge", check_duplicate=True)["Id"]
    ids = []
    for i in range(count):
        created = api.create_container(
            IMAGE, COMMAND, name=f"api{i}", detach=True,
            host_config=api.create_host_config(network_mode=NETWORK),
            networking_config=api.create_networking_config(
                {NETWORK: api.create_endpoint_config()}))
        api.start(created["Id"])
        ids.append(created["Id"])
    built = time.perf_counter()
    states = wait_ready(api, ids)
    ready = time.perf_counter()
    running, addressed, reachable = kernel_view(lab, host, states)
    torn = time.perf_counter()
    for cid in ids:
        api.remove_container(cid, force=True)
    _until_removed(lambda: api.remove_network(network))
    teardown = time.perf_counter() - torn
    return Pass("engine-api", lab.hosts[host].kind, count, built - started, ready - started,
                teardown, running, addressed, reachable)


def cli_pass(lab: Lab, host: str, count: int, docker_cli: str = DOCKER_CLI) -> Pass:
    """N `docker run -d` through the docker CLI, DOCKER_HOST pointing at the host."""
    with tempfile.TemporaryDirectory(prefix="cnm-bench-docker-") as config:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=lab.docker_host_url(host), DOCKER_CONFIG=config,
                   DOCKER_CLI_HINTS="false")

        def docker_cli_run(*args: str) -> str:
            done = subprocess.run([docker_cli, *args], env=env, capture_output=True, text=True,
                                  timeout=CLI_TIMEOUT_S)
            if done.returncode != 0:
                raise RuntimeError(f"docker {' '.join(args)} on {host}: exit "
                                   f"{done.returncode}: {done.stderr.strip()}")
            return done.stdout.strip()

        started = time.perf_counter()
        docker_cli_run("network", "create", NETWORK)
        ids = [docker_cli_run("run", "-d", "--network", NETWORK, IMAGE, *COMMAND)
               for _ in range(count)]
        built = time.perf_counter()
        states = wait_ready(lab.hosts[host].client.api, ids)
        ready = time.perf_counter()
        running, addressed, reachable = kernel_view(lab, host, states)
        torn = time.perf_counter()
        docker_cli_run("rm", "-f", *ids)
        _until_removed(lambda: docker_cli_run("network", "rm", NETWORK))
        teardown = time.perf_counter() - torn
    return Pass("docker-cli", lab.hosts[host].kind, count, built - started, ready - started,
                teardown, running, addressed, reachable)


def compare_engines(name: str, api_count: int, cli_count: int,
                    ctx: RunContext) -> EngineComparison:
    """Both interfaces on both hosts of one lab; skipped, with the reason, without Docker."""
    missing = realdocker.available()
    if missing is None and not os.access(DOCKER_CLI, os.X_OK):
        missing = f"the docker CLI {DOCKER_CLI} is missing; scripts/install.sh installs it"
    if missing is not None:
        ctx.progress(f"real Docker skipped: {missing}")
        return EngineComparison([], skipped=missing)
    passes = []
    with Lab(engines_topology(name)) as lab:
        for interface, count, measure in (("engine-api", api_count, api_pass),
                                          ("docker-cli", cli_count, cli_pass)):
            for host in ENGINES:
                done = measure(lab, host, count)
                passes.append(done)
                ctx.progress(
                    f"{interface} on {done.engine}: {count} containers built "
                    f"{done.build_s:.3f} s, running and addressed at {done.ready_s:.3f} s, "
                    f"teardown {done.teardown_s:.3f} s (running {done.running}, reachable "
                    f"{done.reachable})")
    return EngineComparison(passes)


def summary_section(result: EngineComparison) -> str:
    """The real-Docker part of summary.md: the two interfaces side by side, with ratios."""
    head = "## Real dockerd vs emulated host\n\n"
    if result.skipped is not None:
        return head + f"Skipped: {result.skipped}.\n"
    lines = [
        "One lab, two Docker hosts: h1 emulated, h2 a real dockerd 20.10 (`engine: docker`, "
        "storage driver vfs, busybox imported as alpine). Time from the network's create "
        "until every container runs and has its address (inspected through the Engine "
        "API), then teardown (containers and network).\n",
        "| interface | containers | emulated s | real dockerd s | real / emulated | "
        "emulated ms each | real ms each | emulated teardown s | real teardown s | "
        "teardown real / emulated |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for interface in INTERFACES:
        emulated, real = result.get(interface, "emulated"), result.get(interface, "docker")
        lines.append(
            f"| {interface} | {emulated.containers} | {emulated.ready_s:.3f} | "
            f"{real.ready_s:.3f} | {result.ratio(interface):.1f}x | "
            f"{1000 * emulated.ready_s / emulated.containers:.0f} | "
            f"{1000 * real.ready_s / real.containers:.0f} | {emulated.teardown_s:.3f} | "
            f"{real.teardown_s:.3f} | "
            f"{real.teardown_s / emulated.teardown_s:.1f}x |")
    lines += ["", "| interface | engine | containers | running | addressed | reachable |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {p.interface} | {p.engine} | {p.containers} | {p.running} | {p.addressed} | "
              f"{p.reachable} |" for p in result.passes]
    return head + "\n".join(lines) + "\n"
