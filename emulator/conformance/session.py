"""One conformance run over one driver: one lab, the driver made available on it,
the checks run one after another, everything removed at the end.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from emulator.conformance.context import MANAGER, CheckContext
from emulator.conformance.plugin_processes import PluginProcesses
from emulator.conformance.registry import Check
from emulator.conformance.targets import LAN_TOPOLOGY, Capabilities, Target, capabilities
from emulator.errdefs import DockerError, NotFound
from emulator.lab.lab import Lab, LabError
from emulator.swarm.cluster import GWBRIDGE, GWBRIDGE_OPTIONS
from emulator.topology import default_topology, load_topology_text

WINDOW_S = 0.4
# docker_gwbridge of each host, chosen apart (left to the default pool, both hosts
# would take 172.18.0.0/16 and hand out the same addresses).
GWBRIDGE_SUBNETS = ("172.30.1.0/24", "172.30.2.0/24")


class KitSession:
    def __init__(self, target: Target, log_dir: Path, window: float = WINDOW_S,
                 lab_name: str | None = None) -> None:
        self.target = target
        self.log_dir = log_dir
        self.window = window
        self.lab_name = lab_name or "ck" + secrets.token_hex(3)
        self.lab: Lab | None = None
        self.plugins: PluginProcesses | None = None
        self.setup_s = 0.0
        self.teardown_s = 0.0
        self.teardown_problems: list[str] = []
        self._index = 0

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> KitSession:
        started = time.monotonic()
        topology = (load_topology_text(LAN_TOPOLOGY) if self.target.topology == "lan"
                    else default_topology())
        self.lab = Lab(topology, self.lab_name)
        self.lab.start()
        try:
            if self.target.swarm:
                self._start_swarm()
            if self.target.is_plugin:
                self.plugins = PluginProcesses(self.lab, self.target, self.log_dir)
                self.plugins.start()
                self.target = self.target.with_caps(self._plugin_capabilities())
        except BaseException:
            self.stop()
            raise
        self.setup_s = time.monotonic() - started
        return self

    def _start_swarm(self) -> None:
        assert self.lab is not None
        hosts = [self.lab.host(h) for h in self.lab.hosts]
        for host, subnet in zip(hosts, GWBRIDGE_SUBNETS, strict=False):
            host.networks.create(GWBRIDGE, "bridge", subnet=subnet, options=GWBRIDGE_OPTIONS)
        manager = hosts[0].engine
        manager.swarm_init()
        token = manager.swarm_join_token("worker")
        for host in hosts[1:]:
            host.engine.swarm_join([f"{hosts[0].address}:2377"], token)

    def _plugin_capabilities(self) -> Capabilities:
        """What the plugin can do, from the capability it declared on activation (its
        GetCapabilities answer); it is activated on every host."""
        assert self.lab is not None
        capability = self.lab.host(MANAGER).engine.drivers.capability(self.target.driver)
        for host in list(self.lab.hosts)[1:]:
            self.lab.host(host).engine.drivers.get(self.target.driver)
        return capabilities(self.target.driver, capability)

    def stop(self) -> list[str]:
        """Remove everything: containers and networks, the plugin, the swarm, the lab.
        Problems are returned (and kept), not raised: the checks have their verdicts."""
        started = time.monotonic()
        problems: list[str] = []
        if self.lab is not None:
            problems += self._reset_hosts()
            if self.target.swarm:
                problems += self._leave_swarm()
        if self.plugins is not None:
            problems += self.plugins.stop()
            self.plugins = None
        if self.lab is not None:
            try:
                self.lab.stop()
            except LabError as exc:
                problems.append(str(exc))
            self.lab = None
        self.teardown_s = time.monotonic() - started
        self.teardown_problems += problems
        return problems

    def _reset_hosts(self) -> list[str]:
        assert self.lab is not None
        problems = []
        engines = [self.lab.host(h).engine for h in self.lab.hosts]
        for engine in engines:
            try:
                engine.remove_containers(list(engine.containers), force=True)
            except DockerError as exc:
                problems.append(f"{engine.host}: removing containers: {exc.message}")
        for engine in engines:
            for network in sorted(engine.networks.values(), key=lambda n: n.scope != "swarm"):
                if network.predefined or network.name == GWBRIDGE or network.ingress:
                    continue
                if network.scope == "swarm" and engine.swarm_node is not None \
                        and engine.swarm_node.role != "manager":
                    continue
                try:
                    engine.remove_network(network.id)
                except NotFound:
                    pass
                except DockerError as exc:
                    problems.append(f"{engine.host}: removing network {network.name}: "
                                    f"{exc.message}")
        return problems

    def _leave_swarm(self) -> list[str]:
        assert self.lab is not None
        problems = []
        engines = [self.lab.host(h).engine for h in self.lab.hosts]
        for engine in reversed(engines):
            try:
                if engine.swarm is not None:
                    engine.swarm_leave(force=engine is engines[0])
                if any(n.name == GWBRIDGE for n in engine.networks.values()):
                    engine.remove_network(GWBRIDGE)
            except DockerError as exc:
                problems.append(f"{engine.host}: leaving the swarm: {exc.message}")
        return problems

    # -- checks -------------------------------------------------------------------

    def context(self, check: Check) -> CheckContext:
        self._index += 1
        return CheckContext(self, check, self._index)
