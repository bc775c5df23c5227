"""The plain Mininet way of building N containers, as a benchmark baseline.

One Mininet host per container on a LinuxBridge switch per Docker host, with a
"gateway" host on each switch: what people build when they emulate containers
with Mininet alone. Built inside a world namespace of its own, like a lab.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from emulator.fabric.icmpsweep import sweep
from emulator.fabric.netns import Namespace, new_namespace
from emulator.lab.world import prepare_mininet


@dataclass(frozen=True)
class BaselineTimes:
    build_s: float
    verified_s: float
    teardown_s: float
    reachable: int


def plain_mininet(groups: int, per_group: int) -> BaselineTimes:
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge

    prepare_mininet()
    with new_namespace() as world:
        pass
    try:
        with world.entered():
            started = time.perf_counter()
            net = Mininet(topo=None, switch=LinuxBridge, controller=None, build=False,
                          autoSetMacs=False, waitConnected=False)
            gateways = []
            targets: list[list[str]] = []
            for g in range(groups):
                switch = net.addSwitch(f"s{g + 1}")
                gateway = net.addHost(f"g{g + 1}", ip=f"10.{g}.0.1/16")
                net.addLink(gateway, switch)
                gateways.append(gateway)
                group = []
                for i in range(per_group):
                    address = f"10.{g}.{(i + 2) // 250}.{(i + 2) % 250 + 1}"
                    host = net.addHost(f"c{g}x{i}", ip=f"{address}/16")
                    net.addLink(host, switch)
                    group.append(address)
                targets.append(group)
            net.build()
            net.start()
            built = time.perf_counter()
            reachable = 0
            for gateway, group in zip(gateways, targets, strict=True):
                ns = Namespace.of_pid(gateway.pid)
                try:
                    with ns.entered():
                        answers = _sweep_until_all(group)
                finally:
                    ns.close()
                reachable += sum(1 for rtt in answers.values() if rtt is not None)
            verified = time.perf_counter()
            net.stop()
            stopped = time.perf_counter()
    finally:
        world.close()
    return BaselineTimes(built - started, verified - started, stopped - verified, reachable)


def _sweep_until_all(targets: list[str], rounds: int = 5) -> dict[str, float | None]:
    """Sweep again for the targets that did not answer (links may still be coming up)."""
    answers: dict[str, float | None] = {t: None for t in targets}
    for _ in range(rounds):
        missing = [t for t, rtt in answers.items() if rtt is None]
        if not missing:
            break
        answers.update({k: v for k, v in sweep(missing, 1.0).items() if v is not None})
    return answers
