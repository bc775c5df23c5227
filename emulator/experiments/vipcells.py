"""The isolation experiment's VIP cells: a swarm service reached by name and by virtual
IP from every container of the overlay section.

On the section's swarm a service `svc1` (2 replicas answering TCP port 80 with their
hostname) runs on the overlay `ov1`. Each of the section's containers then asks the
embedded DNS for `svc1` and `tasks.svc1`, and connects to the VIP twice. As in
Docker, a container on `ov1` gets the VIP and the tasks' addresses and is answered by
a task; a container only on `ov2` gets no address (the name is not on its networks)
and does not reach the VIP. Everything goes through the hosts' Engine APIs, so a
real dockerd is measured the same way; this kernel has no IPVS, so on a real dockerd
the VIP answers nothing (dockerd logs that it cannot create an IPVS handle): that is
what is expected of it here, and the cell says why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.types

from emulator.lab import Lab

SERVICE, SERVICE_NETWORK, REPLICAS = "svc1", "ov1", 2
SERVER = ["nc", "-ll", "-p", "80", "-e", "hostname"]
CONNECTS = 2
CONNECT_TIMEOUT_S = 2
READY_TIMEOUT_S = 60.0
ADDRESS = re.compile(r"^Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)$", re.M)
NO_ADDRESS = "no address"
REACHED, BLOCKED = "reached", "blocked"


@dataclass(frozen=True)
class VipCell:
    source: str
    target: str  # "svc1", "tasks.svc1" or "VIP:80/tcp"
    expected: str
    observed: str
    evidence: str

    @property
    def wrong(self) -> bool:
        return self.expected != self.observed


def ipvs_available() -> bool:
    """Whether this kernel has IPVS (what a real dockerd balances VIPs with)."""
    return Path("/proc/net/ip_vs").exists()


def measure_vips(lab: Lab, manager: str, sources: list[tuple[str, str, tuple[str, ...]]]
                 ) -> list[VipCell]:
    """Run the service, ask and connect from each (host, name, networks), remove it."""
    client = lab.host(manager).client
    service = client.services.create(
        "alpine", SERVER, name=SERVICE, networks=[SERVICE_NETWORK],
        mode=docker.types.ServiceMode("replicated", replicas=REPLICAS))
    try:
        tasks = _running_tasks(lab, service)
        service.reload()
        network_id = client.networks.get(SERVICE_NETWORK).id
        vip = next(v["Addr"].split("/")[0] for v in service.attrs["Endpoint"]["VirtualIPs"]
                   if v["NetworkID"] == network_id)
        addresses = sorted(a.split("/")[0] for t in tasks for n in t["NetworksAttachments"]
                           if n["Network"]["ID"] == network_id for a in n["Addresses"])
        hostnames = {t["Status"]["ContainerStatus"]["ContainerID"][:12] for t in tasks}
        cells = []
        for host, name, networks in sources:
            container = lab.host(host).client.containers.get(name)
            on_network = SERVICE_NETWORK in networks
            cells += _ask(f"{host}/{name}", container, SERVICE,
                          vip if on_network else NO_ADDRESS)
            cells += _ask(f"{host}/{name}", container, f"tasks.{SERVICE}",
                          " ".join(addresses) if on_network else NO_ADDRESS)
            cells.append(_connect(f"{host}/{name}", container, vip, hostnames,
                                  on_network, lab.host(host).kind))
        return cells
    finally:
        service.remove()
        _until(lambda: not any(_service_containers(lab.host(h).client) for h in lab.hosts),
               READY_TIMEOUT_S, "the service's containers to go")


def _service_containers(client: docker.DockerClient) -> list:
    return client.containers.list(all=True,
                                  filters={"label": f"com.docker.swarm.service.name={SERVICE}"})


def _running_tasks(lab: Lab, service) -> list[dict]:
    """Until every replica runs and listens on port 80; the tasks."""
    found: list[dict] = []

    def ready() -> bool:
        running = [t for t in service.tasks(filters={"desired-state": "running"})
                   if t["Status"]["State"] == "running"]
        found[:] = running
        return len(running) == REPLICAS

    _until(ready, READY_TIMEOUT_S, f"{REPLICAS} tasks of {SERVICE} running")
    for task in found:
        cid = task["Status"]["ContainerStatus"]["ContainerID"]
        container = next(c for h in lab.hosts for c in _service_containers(lab.host(h).client)
                         if c.id == cid)
        _until(lambda c=container: ":0050 " in c.exec_run(
            ["cat", "/proc/net/tcp", "/proc/net/tcp6"]).output.decode(),
            READY_TIMEOUT_S, f"task {cid[:12]} listening on port 80")
    return found


def _ask(source: str, container, name: str, expected: str) -> list[VipCell]:
    done = container.exec_run(["nslookup", name, "127.0.0.11"])
    text = done.output.decode(errors="replace")
    found = sorted(a for a in ADDRESS.findall(text) if a != "127.0.0.11")
    observed = " ".join(found) if found else NO_ADDRESS
    last = text.strip().splitlines()[-1] if text.strip() else f"exit {done.exit_code}"
    return [VipCell(source, name, expected, observed, f"nslookup: {last}")]


def _connect(source: str, container, vip: str, hostnames: set[str], on_network: bool,
             kind: str) -> VipCell:
    answers = []
    for _ in range(CONNECTS):
        done = container.exec_run(["nc", "-w", str(CONNECT_TIMEOUT_S), vip, "80"])
        answers.append(done.output.decode(errors="replace").strip() or f"exit {done.exit_code}")
    observed = REACHED if any(a in hostnames for a in answers) else BLOCKED
    expected = REACHED if on_network else BLOCKED
    why = "answers: " + ", ".join(answers)
    if on_network and kind == "docker" and not ipvs_available():
        expected = BLOCKED
        why += "; a real dockerd balances VIPs with IPVS, which this kernel lacks"
    return VipCell(source, f"VIP {vip}:80/tcp", expected, observed, why)


def _until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout:.0f} s, still waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def table(cells: list[VipCell]) -> str:
    """One line per cell: source, target, expected, observed."""
    width = max((len(c.source) for c in cells), default=6)
    lines = [f"{'source':<{width}}  {'target':<22}  {'expected':<24}  observed"]
    lines += [f"{c.source:<{width}}  {c.target:<22}  {c.expected:<24}  {c.observed}"
              + ("  <- differs" if c.wrong else "") for c in cells]
    return "\n".join(lines)
