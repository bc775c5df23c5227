"""Random Engine API request sequences against an engine on the fake fabric.

The machine is tests/api_properties.py's; here it talks HTTP to a real server over
a Unix socket, and the "kernel" is the fake fabric: its bridges must be the bridge
networks' and the drivers' CHECK must find nothing. Bounded: it runs in CI.
"""

from __future__ import annotations

from api_properties import HostMachine, Target
from engine_helpers import engine_state
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from served import served

from emulator.cnm.engine import Engine
from emulator.drivers.base import Describer

PREDEFINED = ("bridge", "host", "none")


def fake_kernel_problems(engine: Engine) -> list[str]:
    problems = list(engine.check())
    expected = set()
    for network in engine.networks.values():
        driver = engine.driver_of(network)
        if isinstance(driver, Describer):
            expected.add(driver.bridge_name(network.id))
    bridges = {name for name in engine.fabric.links
               if name.startswith("br-") or name == "docker0"}
    if bridges != expected:
        problems.append(f"bridges {sorted(bridges)} but networks want {sorted(expected)}")
    return problems


def reset(engine: Engine) -> None:
    engine.remove_containers(list(engine.containers), force=True)
    for network in list(engine.networks.values()):
        if network.name not in PREDEFINED:
            engine.remove_network(network.id)


def snapshot(engine: Engine) -> tuple:
    containers = {cid: (c.running, sorted(c.attachments),
                        sorted((e.network_id, str(e.address)) for e in c.endpoints.values()))
                  for cid, c in engine.containers.items()}
    return engine_state(engine), containers


def test_random_request_sequences_keep_the_host_sound(tmp_path):
    with served(tmp_path) as host:
        engine = host.engine

        class FakeHost(HostMachine):
            target = Target(engine, host.api, lambda: snapshot(engine),
                            lambda: fake_kernel_problems(engine), lambda: reset(engine))

        run_state_machine_as_test(FakeHost, settings=settings(
            max_examples=40, stateful_step_count=25, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
