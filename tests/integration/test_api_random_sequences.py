"""Random Engine API request sequences against a host of a real lab (bounded).

The machine is tests/api_properties.py's (as on the fake fabric); here the kernel
is real: after each request the host's bridges are exactly the bridge networks'
(docker0 included), the veths on them are the endpoints of running containers,
the drivers' CHECK finds nothing, and a refused request has changed no link,
address, nft rule or address pool.
"""

from __future__ import annotations

from collections import Counter

import docker
from api_properties import HostMachine, Target
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from emulator.drivers.base import Describer

PREDEFINED = ("bridge", "host", "none")


def links(host, kind: str) -> list[tuple[str, str | None]]:
    """(name, master) of the host's links of one kind."""
    found = []
    for line in host.exec(["ip", "-o", "link", "show", "type", kind]).stdout.splitlines():
        fields = line.split()
        master = fields[fields.index("master") + 1] if "master" in fields else None
        found.append((fields[1].rstrip(":").split("@")[0], master))
    return found


def kernel_problems(host) -> list[str]:
    engine = host.engine
    problems = list(engine.check())
    wanted: Counter[str] = Counter()
    bridges = set()
    for network in engine.networks.values():
        driver = engine.driver_of(network)
        if isinstance(driver, Describer):
            bridge = driver.bridge_name(network.id)
            bridges.add(bridge)
            wanted[bridge] += sum(1 for ep in network.endpoints.values()
                                  if engine.containers[ep.container_id].running)
    present = {name for name, _ in links(host, "bridge")}
    if present != bridges:
        problems.append(f"bridges {sorted(present)}, networks {sorted(bridges)}")
    plugged = Counter(master for _, master in links(host, "veth") if master is not None)
    if +plugged != +wanted:
        problems.append(f"veths per bridge {dict(plugged)}, endpoints {dict(wanted)}")
    return problems


def snapshot(host) -> tuple:
    engine = host.engine
    pools = engine.addresses.pools()
    return (
        sorted(name for name, _ in links(host, "bridge") + links(host, "veth")),
        host.exec(["ip", "-o", "-4", "addr", "show"]).stdout,
        host.exec(["nft", "list", "ruleset"]).stdout,
        {p.id: engine.addresses.allocated_addresses(p.id) for p in pools},
        {cid: (c.running, sorted(c.attachments)) for cid, c in engine.containers.items()},
        sorted(engine.networks),
    )


def reset(host) -> None:
    engine = host.engine
    engine.remove_containers(list(engine.containers), force=True)
    for network in list(engine.networks.values()):
        if network.name not in PREDEFINED:
            engine.remove_network(network.id)


def test_random_request_sequences_keep_a_real_host_sound(lab, h1):
    api = docker.APIClient(base_url=lab.docker_host_url("h1"), version="1.45", timeout=60)
    try:
        class RealHost(HostMachine):
            target = Target(h1.engine, api, lambda: snapshot(h1), lambda: kernel_problems(h1),
                            lambda: reset(h1))

        run_state_machine_as_test(RealHost, settings=settings(
            max_examples=12, stateful_step_count=25, deadline=None, database=None,
            suppress_health_check=list(HealthCheck)))
    finally:
        api.close()
