"""A swarm of Docker hosts for the experiments on services, driven as a user would.

The swarm is formed, and services and their tasks are read, through docker-py
against each host's Engine API only (`docker swarm init/join`, `docker service
ps`, `docker inspect` on a task's node), so what the experiments see is what the
docker CLI and docker-py show. A task's container hostname and namespace come
from inspecting its container on the node it runs on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import docker
import docker.errors

from emulator.experiments.nsproc import tcp_listening
from emulator.lab import Lab
from emulator.topology import HostSpec, OutsideSpec, Topology, UnderlaySpec

UNDERLAY = IPv4Network("192.0.2.0/24")
OUTSIDE = IPv4Address("192.0.2.254")
INGRESS = "ingress"


def swarm_topology(name: str, hosts: int = 3) -> Topology:
    """h1..hN on the underlay (192.0.2.11, .12, ...) and `outside` (192.0.2.254)."""
    return Topology(name, UnderlaySpec(UNDERLAY), OutsideSpec(OUTSIDE),
                    tuple(HostSpec(f"h{i + 1}", UNDERLAY[11 + i]) for i in range(hosts)))


def form_swarm(lab: Lab) -> dict[str, str]:
    """`docker swarm init` on h1 (the manager), `docker swarm join` on the others as
    workers; node ID -> host name, as `docker node ls` on the manager lists them."""
    names = sorted(lab.hosts)
    manager = lab.host(names[0])
    manager.client.swarm.init(advertise_addr=str(manager.address))
    token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
    for name in names[1:]:
        lab.host(name).client.swarm.join(remote_addrs=[f"{manager.address}:2377"],
                                         join_token=token)
    return {node.id: node.attrs["Description"]["Hostname"]
            for node in manager.client.nodes.list()}


@dataclass(frozen=True)
class TaskView:
    """One running task, as `docker service ps` and `docker inspect` on its node show it."""

    service: str
    slot: int
    task_id: str
    node: str
    container_id: str
    hostname: str
    pid: int
    addresses: dict[str, str]
    """Network name -> the task's address there (no prefix length)."""


def _addresses(task: dict) -> dict[str, str]:
    found = {}
    for attachment in task.get("NetworksAttachments") or []:
        name = attachment["Network"]["Spec"]["Name"]
        for address in attachment.get("Addresses") or []:
            found[name] = address.split("/")[0]
    return found


def running_tasks(lab: Lab, service, nodes: dict[str, str]) -> list[TaskView]:
    """The service's tasks that run and are meant to, by slot; their containers
    inspected on their nodes."""
    views = []
    for task in service.tasks():
        status = task.get("Status") or {}
        if task.get("DesiredState") != "running":
            continue
        container_id = (status.get("ContainerStatus") or {}).get("ContainerID", "")
        if status.get("State") != "running" or not container_id:
            continue
        node = nodes[task["NodeID"]]
        try:
            inspect = lab.host(node).client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            continue  # removed under our feet: no longer running
        views.append(TaskView(service.name, int(task.get("Slot") or 0), task["ID"], node,
                              container_id, inspect["Config"]["Hostname"],
                              int(inspect["State"]["Pid"]), _addresses(task)))
    return sorted(views, key=lambda v: (v.slot, v.task_id))


def wait_serving(lab: Lab, service, nodes: dict[str, str], replicas: int, port: int,
                 timeout: float = 60.0) -> list[TaskView]:
    """Wait until `replicas` tasks run and each one's server listens on `port`."""
    deadline = time.monotonic() + timeout
    views: list[TaskView] = []
    while time.monotonic() < deadline:
        service.reload()
        views = running_tasks(lab, service, nodes)
        if len(views) == replicas and all(_listening(v.pid, port) for v in views):
            return views
        time.sleep(0.05)  # polling the API: the tasks start on the nodes meanwhile
    raise RuntimeError(f"service {service.name}: {len(views)} of {replicas} tasks serving "
                       f"on port {port} after {timeout:.0f} s")


def _listening(pid: int, port: int) -> bool:
    try:
        return tcp_listening(pid, port)
    except (FileNotFoundError, ProcessLookupError):
        return False


def ingress_sandbox_addresses(lab: Lab) -> dict[str, str]:
    """Host -> its ingress sandbox's address on `ingress`, as `docker network inspect
    ingress` lists it on that node (`ingress-sbox`); hosts that list none are left out."""
    found = {}
    for name, host in lab.hosts.items():
        try:
            containers = host.client.networks.get(INGRESS).attrs.get("Containers") or {}
        except docker.errors.NotFound:
            continue
        sandbox = containers.get("ingress-sbox") or {}
        if sandbox.get("IPv4Address"):
            found[name] = sandbox["IPv4Address"].split("/")[0]
    return found


def ingress_subnet(lab: Lab, host: str) -> IPv4Network | None:
    try:
        configs = lab.host(host).client.networks.get(INGRESS).attrs["IPAM"]["Config"]
    except docker.errors.NotFound:
        return None
    return IPv4Network(configs[0]["Subnet"]) if configs else None
