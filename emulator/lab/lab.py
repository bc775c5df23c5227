"""Lab: a world of emulated Docker hosts, built, used and removed as one.

A Lab owns everything it creates. Bad input is refused before anything is made
(a dry run through the engines); a failure or signal part-way through start
removes what was made; `stop` is idempotent and runs on exceptions, SIGINT and
SIGTERM. While the lab lives, its run directory records its processes so that
`cnm exec` can enter them and `cnm clean` can remove what a killed lab left.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from emulator import faults
from emulator.api.host_api import engine_api
from emulator.api.server import ApiServer
from emulator.cnm.containerops import KernelProcesses
from emulator.cnm.engine import DefaultBridge, Engine
from emulator.cnm.globalscope import GlobalStore
from emulator.cnm.model import Container
from emulator.errdefs import DockerError
from emulator.fabric.kernel import KernelFabric
from emulator.fabric.processes import LAB_ENV, ProcessId, kill, terminate
from emulator.lab import realdocker
from emulator.lab.cgroups import cgroup_parent, remove_lab_cgroups
from emulator.lab.cleanup import marked_processes
from emulator.lab.dhcp import DhcpServer, Lease, take_leases
from emulator.lab.dockerhost import DockerHost
from emulator.lab.dryrun import attach_requests, check_topology, network_request
from emulator.lab.outsidedns import OutsideDns
from emulator.lab.realhost import RealDockerHost
from emulator.lab.state import LabState, RunDir
from emulator.lab.world import World
from emulator.swarm.cluster import SwarmDirectory
from emulator.topology import SourcedTopology, Topology, default_topology, read_topology
from emulator.topology.model import LAN_ROUTER_NAME

LAB_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
NAME_ENV = "CNM_LAB_NAME"
"""The environment variable naming the lab where nothing else does: the name of a lab
started without one (`cnm lab up`, Lab.default(), Lab.load()) and the lab that
`cnm exec`, `env`, `lab down`, `lab logs` and `clean` mean."""


def name_from_env() -> str | None:
    return os.environ.get(NAME_ENV) or None


class LabError(RuntimeError):
    pass


class Lab:
    def __init__(self, topology: Topology | SourcedTopology, name: str | None = None,
                 run_root: Path | None = None, engine: str | None = None) -> None:
        """`engine` (emulated or docker) overrides what the topology says for every host."""
        self._source = topology if isinstance(topology, SourcedTopology) else None
        topology = topology.topology if isinstance(topology, SourcedTopology) else topology
        if engine is not None:
            try:
                topology = topology.with_engine(engine)
            except ValueError as exc:
                raise LabError(str(exc)) from None
            self._source = None
        self.topology = topology
        self.name = name or topology.name
        if not LAB_NAME.fullmatch(self.name):
            raise LabError(
                f"invalid lab name {self.name!r}: 1 to 8 characters, a lowercase letter "
                "followed by lowercase letters or digits"
            )
        self.run_dir = RunDir(self.name, run_root)
        self.hosts: dict[str, DockerHost | RealDockerHost] = {}
        self._fabrics: list[KernelFabric] = []
        self._api_servers: list[ApiServer] = []
        self._world: World | None = None
        self._state: LabState | None = None
        self._state_lock = threading.Lock()
        self._previous_handlers: dict[int, object] = {}
        self.stopping = False  # set once `stop` has begun
        self.dhcp: DhcpServer | None = None
        self.outside_dns: OutsideDns | None = None
        self.swarm_directory = SwarmDirectory()
        for spec in self.topology.hosts:
            if spec.address6 is not None:
                self.swarm_directory.add_host(spec.address, spec.address6)
        self.global_store = GlobalStore()
        self.plugin_timeout = 10.0
        self.dns_servers: list[str] | None = None
        """The emulated hosts' resolvers (their /etc/resolv.conf's nameservers, which
        containers inherit); None: the outside host's address."""

    @classmethod
    def load(cls, path: str | Path, name: str | None = None) -> Lab:
        """The lab of a topology file, named `name`, $CNM_LAB_NAME or the topology's name."""
        return cls(read_topology(path), name or name_from_env())

    @classmethod
    def default(cls, name: str | None = None) -> Lab:
        """The embedded default lab, named `name`, $CNM_LAB_NAME or `default`."""
        return cls(default_topology(), name or name_from_env())

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, claimed: Callable[[RunDir], None] | None = None) -> Lab:
        """Build the lab. `claimed(run_dir)` runs as soon as the run directory is this
        lab's, before anything is built (the background process moves its output into
        the lab's log file there)."""
        check_topology(self._source or self.topology)
        if any(h.engine == "docker" for h in self.topology.hosts) and realdocker.available():
            raise LabError(str(realdocker.available()))
        self._claim_run_dir()
        self._install_signal_handlers()
        try:
            if claimed is not None:
                claimed(self.run_dir)
            self._build()
        except BaseException:
            self.stop()
            raise
        return self

    def _claim_run_dir(self) -> None:
        try:
            self.run_dir.claim()
        except FileExistsError:
            state = self.run_dir.read()
            if state is not None and state.owner.alive():
                raise LabError(
                    f"a lab named {self.name} is already running (process {state.owner.pid}); "
                    f"stop it with `cnm lab down {self.name}` or choose another name"
                ) from None
            raise LabError(
                f"a lab named {self.name} was left behind by a process that is gone; "
                "run `cnm clean` first"
            ) from None
        self._state = LabState(self.name, ProcessId.of(os.getpid()), self.topology.name,
                               engines={h.name: h.engine for h in self.topology.hosts})
        self._save()

    def _build(self) -> None:
        assert self._state is not None
        self._world = World(self.topology, self._state.marker)
        self._world.create()
        faults.step("lab.world-made")
        self._world.build()
        for spec in self.topology.hosts:
            self._state.hosts[spec.name] = ProcessId.of(self._world.pid_of(spec.name))
        self._state.outside = ProcessId.of(self._world.pid_of("outside"))
        self._save()
        faults.step("lab.hosts-made")
        self._start_outside_dns()
        self._write_node_etc()
        if self.topology.lan is not None:
            self._start_lan()
            faults.step("lab.lan-up")
        reserved = [self.topology.underlay.subnet]
        if self.topology.lan is not None:
            reserved.append(self.topology.lan.subnet)
        for spec in self.topology.hosts:
            if spec.engine == "docker":
                self._start_real_host(spec)
            else:
                self._start_emulated_host(spec, reserved)
        self._world.number_ipv6()
        for spec in self.topology.hosts:
            host = self.hosts[spec.name]
            for net in spec.networks:
                if isinstance(host, DockerHost):
                    host.engine.create_network(network_request(net))
                else:
                    host.networks.create(
                        net.name, net.driver, subnet=net.subnet, gateway=net.gateway,
                        ip_range=net.ip_range, aux_addresses=net.aux_addresses,
                        internal=net.internal, attachable=net.attachable,
                        options=net.options, labels=net.labels, ipv6=net.ipv6, ipv4=net.ipv4,
                        subnet6=net.subnet6, gateway6=net.gateway6)
            for container in spec.containers:
                if isinstance(host, DockerHost):
                    host.engine.run_container(container.name, attach_requests(container),
                                              container.hostname,
                                              list(container.command or []) or None)
                else:
                    host.containers.run(container.name, networks=attach_requests(container),
                                        hostname=container.hostname,
                                        command=list(container.command or []) or None)
        self._state.ready = True
        self._save()

    def _start_emulated_host(self, spec, reserved: list) -> None:
        assert self._world is not None and self._state is not None
        log_dir = self.run_dir.path / "logs" / spec.name
        fabric = KernelFabric(spec.name, self._world.pid_of(spec.name), self._state.env,
                              log_dir, sandbox_keys_dir=self.run_dir.path / "netns" / spec.name)
        self._fabrics.append(fabric)
        plugins = self.plugin_dir(spec.name)
        plugins.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = Engine(spec.name, fabric, reserved=reserved,
                        advertise=self.topology.advertise_address(spec),
                        swarm_directory=self.swarm_directory, plugin_dir=plugins,
                        global_store=self.global_store, plugin_timeout=self.plugin_timeout,
                        dns_servers=self.host_dns_servers(),
                        state_dir=self.run_dir.container_files(spec.name),
                        default_bridge=DefaultBridge(spec.ipv6, spec.fixed_cidr_v6))
        engine.on_change = partial(self._record_containers, spec.name)
        engine.lifecycle.log_dir = log_dir
        engine.lifecycle.ops.processes = KernelProcesses(cgroup_parent(self.name, spec.name))
        socket = self.run_dir.socket(spec.name)
        self.hosts[spec.name] = DockerHost(spec.name, engine, spec.address, f"unix://{socket}",
                                           spec.address6)
        faults.step(f"lab.engine-made:{spec.name}")
        server = engine_api(engine, socket, log_hint=f"see `cnm lab logs {self.name}`")
        server.start()
        self._api_servers.append(server)
        faults.step(f"lab.api-up:{spec.name}")

    def _start_real_host(self, spec) -> None:
        """A real dockerd in the host's namespace, its API where an emulated host's is."""
        assert self._world is not None and self._state is not None
        plugins = self.plugin_dir(spec.name)
        plugins.mkdir(parents=True, exist_ok=True, mode=0o700)
        dockerd = realdocker.RealDockerd(
            self.name, spec.name, self._world.pid_of(spec.name),
            root=self.run_dir.path / "docker" / spec.name,
            socket=self.run_dir.socket(spec.name), plugin_dir=plugins,
            log_file=self.run_dir.path / "logs" / spec.name / "dockerd.log",
            env=self._state.env, run_root=self.run_dir.path.parent,
            dns_servers=self.host_dns_servers(), daemon_args=default_bridge_args(spec))
        self.hosts[spec.name] = RealDockerHost(spec.name, dockerd, spec.address, spec.address6)
        try:
            dockerd.start()
        except realdocker.DockerdError as exc:
            raise LabError(str(exc)) from None
        finally:
            if dockerd.pid is not None:
                self._state.extra.append(ProcessId.of(dockerd.pid))
                self._save()
        faults.step(f"lab.dockerd-up:{spec.name}")

    def _write_node_etc(self) -> None:
        """The names of the lab's nodes, and its resolver, for commands run on them."""
        folder = self.run_dir.node_etc
        folder.mkdir(exist_ok=True)
        lines = ["127.0.0.1\tlocalhost"]
        lines += [f"{h.address}\t{h.name}" for h in self.topology.hosts]
        lines.append(f"{self.topology.outside.address}\toutside")
        lines += [f"{h.address6}\t{h.name}" for h in self.topology.hosts if h.address6]
        if self.topology.outside.address6 is not None:
            lines.append(f"{self.topology.outside.address6}\toutside")
        lan = self.topology.lan
        if lan is not None:
            lines.append(f"{lan.router}\t{LAN_ROUTER_NAME}")
            lines += [f"{h.address}\t{h.name}" for h in lan.hosts if h.address is not None]
        (folder / "hosts").write_text("\n".join(lines) + "\n")
        (folder / "resolv.conf").write_text(
            "".join(f"nameserver {server}\n" for server in self.host_dns_servers()))

    def _start_outside_dns(self) -> None:
        """The internet's DNS server on `outside`: every emulated host's resolver."""
        assert self._state is not None and self._world is not None
        self.outside_dns = OutsideDns(self.run_dir.path / "outside", self.outside_address)
        self._state.extra.append(self.outside_dns.start(self._world.pid_of("outside"),
                                                        self._state.env))
        self._save()

    def _start_lan(self) -> None:
        """The router's DHCP server, then a lease for every LAN host without an address."""
        lan = self.topology.lan
        assert lan is not None and self._state is not None and self._world is not None
        for name in (LAN_ROUTER_NAME, *(h.name for h in lan.hosts)):
            self._state.lan_nodes[name] = ProcessId.of(self._world.pid_of(name))
        self._save()
        if lan.dhcp is None:
            return
        directory = self.run_dir.path / "lan"
        self.dhcp = DhcpServer(directory, lan.dhcp, lan.subnet, lan.router)
        self._state.extra.append(self.dhcp.start(self._world.pid_of(LAN_ROUTER_NAME),
                                                 self._state.env))
        self._save()
        clients = {h.name: self._world.pid_of(h.name) for h in lan.hosts if h.address is None}
        take_leases(clients, directory, self._state.env)

    def leases(self) -> list[Lease]:
        """The DHCP server's leases (its lease file), as LAN hosts took them."""
        if self.dhcp is None:
            raise LabError("this lab has no LAN with a DHCP server")
        return self.dhcp.leases()

    def stop(self) -> None:
        """Remove everything the lab made. Safe to call twice, or after a failed start."""
        self.stopping = True
        errors: list[str] = []
        owned = self._state is not None  # fault steps only where there is something to stop
        for server in self._api_servers:
            server.stop()
        self._api_servers.clear()
        if owned:
            faults.step("teardown.api-stopped")
        for host in reversed(list(self.hosts.values())):
            try:
                host.close()
            except (DockerError, OSError) as exc:
                errors.append(f"{host.name}: {exc}")
        self.hosts.clear()
        for fabric in self._fabrics:
            fabric.close()
        self._fabrics.clear()
        if owned:
            faults.step("teardown.engines-closed")
        if self.dhcp is not None and self.dhcp.process is not None:
            terminate(self.dhcp.process)
            self.dhcp = None
        if self.outside_dns is not None and self.outside_dns.process is not None:
            terminate(self.outside_dns.process)
            self.outside_dns = None
        if self._world is not None:
            self._world.stop()
            self._world = None
            faults.step("teardown.world-stopped")
        if self._state is not None:
            for proc in self._state.all_processes():
                kill(proc)
            # anything else started in the lab with its mark: plugins, daemons, tools
            for marker, proc in marked_processes(f"{LAB_ENV}={self._state.marker}".encode()):
                if marker == "":
                    kill(proc)
            remove_lab_cgroups(self.name)
            self._state = None
            self.run_dir.remove()
        self._restore_signal_handlers()
        if errors:
            raise LabError("cleanup finished with errors: " + "; ".join(errors))

    def _save(self) -> None:
        with self._state_lock:
            if self._state is not None:
                self.run_dir.write(self._state)

    def _record_containers(self, host: str, containers: list[Container]) -> None:
        """One small file per running container: O(1) per change however many there are."""
        for container in containers:
            process = container.sandbox.process if container.sandbox else None
            if container.running and process is not None:
                self.run_dir.record_container(host, container.id, container.name, process)
            else:
                self.run_dir.forget_container(host, container.id)

    # -- signals -------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                self._previous_handlers[sig] = signal.signal(sig, _raise_system_exit)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    # -- access --------------------------------------------------------------

    def host(self, name: str) -> DockerHost:
        try:
            return self.hosts[name]
        except KeyError:
            raise LabError(
                f"no Docker host {name!r} in lab {self.name}; hosts: {', '.join(self.hosts)}"
            ) from None

    def node_pid(self, name: str) -> int:
        """A process in the namespace of a Docker host, of `outside`, or of a LAN node
        (the router or a LAN host), for probes."""
        if self._world is None or self._state is None:
            raise LabError("the lab is not running")
        if name != "outside" and name not in self._state.lan_nodes:
            self.host(name)
        return self._world.pid_of(name)

    def outside_exec(self, argv: list[str]) -> tuple[int, str]:
        """Run a command on the outside host (the lab's stand-in for the internet)."""
        if self._world is None:
            raise LabError("the lab is not running")
        return self._world.exec("outside", argv)

    def host_dns_servers(self) -> list[str]:
        """What the emulated Docker hosts use as their resolvers."""
        if self.dns_servers is not None:
            return list(self.dns_servers)
        return [str(self.topology.outside.address)]

    def plugin_dir(self, host: str) -> Path:
        """Where host's engine looks for network plugins (NAME.sock, NAME.spec, NAME.json)."""
        return self.run_dir.path / "plugins" / host

    @property
    def process_env(self) -> dict[str, str]:
        """The environment marker every process of this lab carries (for `cnm clean`)."""
        if self._state is None:
            raise LabError("the lab is not running")
        return dict(self._state.env)

    def node_exec(self, name: str, argv: list[str]) -> tuple[int, str]:
        """Run a command on a lab node (a Docker host, outside, the LAN router or a LAN
        host); returns the exit code and the output (stdout then stderr)."""
        self.node_pid(name)
        assert self._world is not None
        return self._world.exec(name, argv)

    @property
    def outside_address(self):
        return self.topology.outside.address

    def docker_host_url(self, host: str) -> str:
        """The DOCKER_HOST value that points a docker client at `host`'s Engine API."""
        self.host(host)
        return f"unix://{self.run_dir.socket(host)}"


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def default_bridge_args(spec) -> list[str]:
    """A real dockerd's options for the host's default bridge (`ipv6`, `fixed-cidr-v6`)."""
    args = ["--ipv6"] if spec.ipv6 else []
    if spec.fixed_cidr_v6:
        args += ["--fixed-cidr-v6", spec.fixed_cidr_v6]
    return args
