"""One conformance run over one driver: one lab, the driver made available on it,
the checks run one after another, everything removed at the end.

The lab's Docker hosts are emulated or real dockerds (`engine`); the run drives both
through their Engine API (hosts.py), so a check means the same on either.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from emulator.conformance import versions
from emulator.conformance.context import MANAGER, CheckContext
from emulator.conformance.hosts import KitHost, api_errors
from emulator.conformance.plugin_processes import PluginProcesses
from emulator.conformance.registry import Check
from emulator.conformance.targets import LAN_TOPOLOGY, Capabilities, Target, capabilities
from emulator.drivers import base
from emulator.drivers.remote.client import (
    NotImplementedByPlugin,
    PluginCallFailed,
    PluginClient,
    PluginError,
)
from emulator.drivers.remote.discovery import discover
from emulator.errdefs import DockerError, NotFound
from emulator.lab.lab import Lab, LabError
from emulator.swarm.cluster import GWBRIDGE, GWBRIDGE_OPTIONS
from emulator.topology import default_topology, load_topology_text

WINDOW_S = 0.4
LAB_PREFIX = "ck"
LAB_PREFIX_ENV = "CNM_KIT_LAB_PREFIX"  # so that runs of several people's labs never meet
# docker_gwbridge of each host, chosen apart (left to the default pool, both hosts
# would take 172.18.0.0/16 and hand out the same addresses).
GWBRIDGE_SUBNETS = ("172.30.1.0/24", "172.30.2.0/24")
SWARM_PORT = 2377
EXTRA_PARENT = "ckpar"  # macvlan parents of a check's further networks (see VD-04)
EXTRA_PARENTS = 3


def fresh_lab_name(prefix: str) -> str:
    """A fresh lab name: the prefix and random hex digits, 8 characters in all."""
    return prefix + secrets.token_hex(4)[:max(1, 8 - len(prefix))]


class KitSession:
    def __init__(self, target: Target, log_dir: Path, window: float = WINDOW_S,
                 lab_name: str | None = None) -> None:
        self.target = target
        self.log_dir = log_dir
        self.window = window
        self.lab_name = lab_name or fresh_lab_name(LAB_PREFIX)
        self.lab: Lab | None = None
        self.hosts: dict[str, KitHost] = {}
        self.engine_version: str | None = None  # the real engine's; None when emulated
        self.extra_parents: list[str] = []
        self.not_applicable: str | None = None  # why no check applies to this engine
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
        self.lab = Lab(topology, self.lab_name, engine=self.target.engine)
        self.lab.start()
        try:
            self.hosts = {name: KitHost(self.lab.host(name), self.lab.node_pid(name))
                          for name in self.lab.hosts}
            self.engine_version = self.hosts[MANAGER].version()
            if (self.target.driver == "macvlan"
                    and versions.before(self.engine_version, versions.MACVLAN_SHARED_PARENT)):
                self._add_extra_parents()
            if self.target.swarm:
                self._start_swarm()
            if self.target.is_plugin:
                self.plugins = PluginProcesses(self.lab, self.target, self.log_dir)
                self.plugins.start()
                self.target = self.target.with_caps(self._plugin_capabilities())
                if self.engine_version is not None and self.target.caps.scope == "global":
                    self.not_applicable = versions.NO_SHARED_STORE
        except BaseException:
            self.stop()
            raise
        self.setup_s = time.monotonic() - started
        return self

    def _add_extra_parents(self) -> None:
        """A parent link for each further macvlan network of a check, on every host: an
        engine before Docker 27.0.1 refuses a second macvlan network on eth1 (VD-04),
        and this kernel has no 802.1q or dummy links for dockerd to make one of."""
        names = [f"{EXTRA_PARENT}{k}" for k in range(1, EXTRA_PARENTS + 1)]
        for host in self.hosts.values():
            for name in names:
                done = host.exec(["sh", "-c", f"ip link add {name} type veth peer name "
                                  f"{name}p && ip link set {name} up && ip link set {name}p up"])
                if done.exit_code != 0:
                    raise RuntimeError(f"{host.name}: could not make parent link {name}: "
                                       f"{done.stderr.strip()}")
        self.extra_parents = names

    def _start_swarm(self) -> None:
        """h1 initialises a swarm and every other host joins it, through the Engine API
        (`docker swarm init` / `join`), each advertising its underlay address."""
        hosts = list(self.hosts.values())
        for host, subnet in zip(hosts, GWBRIDGE_SUBNETS, strict=False):
            host.networks.create(GWBRIDGE, "bridge", subnet=subnet, options=GWBRIDGE_OPTIONS)
        manager = hosts[0]
        with api_errors():
            manager.client.swarm.init(advertise_addr=str(manager.address),
                                      listen_addr=f"0.0.0.0:{SWARM_PORT}")
            manager.client.swarm.reload()
            token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
            for host in hosts[1:]:
                host.client.swarm.join([f"{manager.address}:{SWARM_PORT}"], token,
                                       listen_addr=f"0.0.0.0:{SWARM_PORT}",
                                       advertise_addr=str(host.address))

    def _plugin_capabilities(self) -> Capabilities:
        """What the plugin can do, from the capability it declares (its GetCapabilities
        answer, asked over its socket as an engine would)."""
        assert self.lab is not None
        driver = self.target.driver
        address = discover(self.lab.plugin_dir(MANAGER), driver)
        if address is None:
            raise RuntimeError(f"the plugin {driver} is not registered on {MANAGER}")
        try:
            caps = PluginClient(address, timeout=self.lab.plugin_timeout).call(
                "NetworkDriver.GetCapabilities")
        except (PluginError, PluginCallFailed, NotImplementedByPlugin) as exc:
            raise RuntimeError(f"the plugin {driver} answered GetCapabilities with: "
                               f"{exc}") from None
        scope = str(caps.get("Scope") or base.LOCAL).lower()
        connectivity = str(caps.get("ConnectivityScope") or scope).lower()
        for host in self.hosts.values():  # activated on every host, as a first use would
            host.activate_plugin(driver)
        return capabilities(driver, base.Capability(scope=scope, connectivity_scope=connectivity))

    def stop(self) -> list[str]:
        """Remove everything: containers and networks, the plugin, the swarm, the lab.
        Problems are returned (and kept), not raised: the checks have their verdicts."""
        started = time.monotonic()
        problems: list[str] = []
        if self.lab is not None and self.hosts:
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
        self.hosts = {}
        self.teardown_s = time.monotonic() - started
        self.teardown_problems += problems
        return problems

    def _reset_hosts(self) -> list[str]:
        problems = []
        hosts = list(self.hosts.values())
        for host in hosts:
            try:
                host.remove_containers({c.name for c in host.containers.list(all=True)})
            except DockerError as exc:
                problems.append(f"{host.name}: removing containers: {exc.message}")
        for host in hosts:
            try:
                networks = host.user_networks()
            except DockerError as exc:
                problems.append(f"{host.name}: listing networks: {exc.message}")
                continue
            for network in sorted(networks, key=lambda n: n.get("Scope") != "swarm"):
                if network["Name"] == GWBRIDGE or network.get("Ingress"):
                    continue
                if network.get("Scope") == "swarm" and host is not hosts[0]:
                    continue  # the manager's removal removes it everywhere
                try:
                    host.networks.remove(network["Id"])
                except NotFound:
                    pass
                except DockerError as exc:
                    problems.append(f"{host.name}: removing network {network['Name']}: "
                                    f"{exc.message}")
        return problems

    def _leave_swarm(self) -> list[str]:
        problems = []
        hosts = list(self.hosts.values())
        for host in reversed(hosts):
            try:
                with api_errors():
                    if host.client.info().get("Swarm", {}).get("LocalNodeState") == "active":
                        host.client.swarm.leave(force=host is hosts[0])
                if any(n.name == GWBRIDGE for n in host.networks.list()):
                    host.networks.remove(GWBRIDGE)
            except DockerError as exc:
                problems.append(f"{host.name}: leaving the swarm: {exc.message}")
        return problems

    # -- checks -------------------------------------------------------------------

    def context(self, check: Check) -> CheckContext:
        self._index += 1
        return CheckContext(self, check, self._index)
