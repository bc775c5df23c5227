"""Containers of one engine: create, start, stop, remove, connect, exec.

A container is a sandbox (its own network and UTS namespaces, or the host's)
plus its own long-lived process, which starts only once every network is
joined, as runc starts it after libnetwork has set the sandbox up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

from emulator import errdefs as err
from emulator import faults
from emulator.cnm import links as legacy_links
from emulator.cnm import sysctls as net_sysctls
from emulator.cnm.containerfiles import FILE_NAMES, ContainerFiles
from emulator.cnm.endpoints import AttachRequest, Endpoints
from emulator.cnm.etcfiles import DnsConfig, HostResolvConf, validate
from emulator.cnm.images import default_command, process_env, root_base
from emulator.cnm.lookup import find
from emulator.cnm.model import Attachment, Container, Network
from emulator.cnm.names import random_name
from emulator.cnm.networks import Networks
from emulator.cnm.runtimespec import RuntimeSpec
from emulator.cnm.state import HostState
from emulator.drivers.portmapping import PortOptions
from emulator.fabric.base import ExecResult
from emulator.fabric.containerroot import MountSpec, RootSpec
from emulator.fabric.identity import SandboxSetupError
from emulator.ids import docker_timestamp, new_id

# dockerd's names.RestrictedNamePattern; Go's `$` is the end of the text, hence fullmatch.
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


class Containers:
    """The containers of one host and their sandboxes."""

    def __init__(self, state: HostState, networks: Networks, endpoints: Endpoints,
                 network_for_attach: Callable[[str], Network],
                 notify: Callable[[list[Container]], None],
                 files: ContainerFiles | None = None) -> None:
        """`network_for_attach(ref)` finds a network to attach to (making this host's copy
        of a shared one on first use); `notify` hears of processes started or ended;
        `files` keeps the containers' /etc files."""
        self._files = files or ContainerFiles(state, None, HostResolvConf())
        self._state = state
        self._networks = networks
        self._endpoints = endpoints
        self._network_for_attach = network_for_attach
        self._notify = notify
        self.sandboxes = True
        """Whether containers start in sandboxes of their own (root, mount and PID
        namespaces, user, capabilities), or with the machine's view as before them."""

    @contextmanager
    def sandboxed(self, on: bool) -> Iterator[None]:
        """Containers started in the body get their sandbox or not (for measuring it)."""
        kept = self.sandboxes
        self.sandboxes = on
        try:
            yield
        finally:
            self.sandboxes = kept

    @property
    def _all(self) -> dict[str, Container]:
        return self._state.containers

    def reap_exited(self) -> None:
        """Containers whose process ended by itself are exited: endpoints released."""
        ended = []
        for container in self._all.values():
            if container.running and container.sandbox is not None:
                code = self._state.fabric.sandbox_exit_code(container.sandbox)
                if code is not None:
                    self._teardown(container)
                    container.exit_code = code
                    ended.append(container)
        if ended:
            self._state.fabric.settle()
            self._notify(ended)

    def get(self, ref: str) -> Container:
        return find([c for c in self._all.values() if not c.hidden], ref.lstrip("/"),
                    lambda c: c.id, lambda c: c.name, f"No such container: {ref}", "container")

    def run(self, name: str | None, networks: Iterable[AttachRequest], hostname: str | None,
            command: list[str] | None, dns: DnsConfig | None = None) -> Container:
        requests = list(networks) or [AttachRequest("bridge")]
        container = self.create(name, requests, hostname, command, dns=dns)
        try:
            self.start(container.id)
        except Exception:
            self._all.pop(container.id, None)
            raise
        return container

    def create(self, name: str | None, networks: list[AttachRequest],
               hostname: str | None = None, command: list[str] | None = None,
               image: str = "", labels: Mapping[str, str] | None = None,
               env: list[str] | None = None, ports: PortOptions | None = None,
               dns: DnsConfig | None = None, task_id: str = "",
               links: Iterable[str] = (), sysctls: Mapping[str, str] | None = None,
               runtime: RuntimeSpec | None = None) -> Container:
        """`links` are HostConfig.Links (--link NAME[:ALIAS]), legacy links unless the
        first network is user-defined (there they are the endpoint's Links)."""
        dns = dns or DnsConfig()
        validate(dns)
        cid = new_id()
        if name is None:
            name = random_name(cid, {c.name for c in self._all.values()})
        if not CONTAINER_NAME.fullmatch(name.removeprefix("/")):
            raise err.InvalidParameter(
                f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        name = name.removeprefix("/")
        for other in self._all.values():
            if other.name == name:
                raise err.Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )
        attachments: dict[str, Attachment] = {}
        for request in networks:
            network = (self._state.networks[request.network]
                       if task_id and request.network in self._state.networks
                       else self._network_for_attach(request.network))
            try:
                self._endpoints.check_attach(network, attachments, request, name)
            except err.InvalidParameter as exc:
                if exc.message.startswith(("invalid endpoint settings", "invalid MAC address")):
                    raise err.InvalidParameter(
                        f"invalid config for network {network.name}: {exc.message}"
                    ) from None
                raise
            attachments[network.id] = Attachment(network.id, request.ip, request.aliases,
                                                 request.mac, request.links, request.ip6)
        self._files.refuse_unsupported(dns, [self._state.networks[i] for i in attachments])
        registered = self._legacy_links(links, [self._state.networks[i] for i in attachments])
        runtime = runtime or RuntimeSpec()
        if not command:
            command = default_command(image, runtime.tty or runtime.open_stdin)
        container = Container(
            id=cid, name=name, hostname=hostname or cid[:12],
            command=list(command), created=docker_timestamp(),
            attachments=attachments, image=image, labels=dict(labels or {}),
            env=list(env or []), ports=ports or PortOptions(), dns=dns, task_id=task_id,
            links=registered, sysctls=dict(sysctls or {}), runtime=runtime,
        )
        self._all[cid] = container
        return container

    def _legacy_links(self, links: Iterable[str], networks: list[Network]) -> dict[str, str]:
        """registerLinks: none for a container whose first network is user-defined."""
        links = list(links)
        if not links or (networks and not networks[0].predefined):
            return {}
        if any(self._state.capability_of(n).shares_host_namespace for n in networks):
            raise err.InvalidParameter(legacy_links.HOST_NETWORK_AND_LINKS)
        return legacy_links.register(links, self.get, lambda child: any(
            self._state.capability_of(self._state.networks[n]).shares_host_namespace
            for n in child.attachments if n in self._state.networks))

    def default_bridge(self) -> Network | None:
        return next((n for n in self._state.networks.values()
                     if n.predefined and n.name == "bridge"), None)

    def start(self, ref: str) -> Container:
        state = self._state
        container = self.get(ref)
        if container.running:
            return container
        legacy_links.check_startable(container, self._all, self.default_bridge())
        order = list(container.attachments.values())
        for attachment in order:
            if attachment.network_id not in state.networks:
                raise err.NotFound(f"network {attachment.network_id} not found")
        shares_host = any(state.capability_of(state.networks[a.network_id]).shares_host_namespace
                          for a in order)
        container.sandbox = state.fabric.create_sandbox(container.id, container.hostname,
                                                        shares_host)
        container.running = True
        container.next_ifindex = 0
        try:
            faults.step("container.sandbox-made")
            for attachment in order:
                self._endpoints.join(container, state.networks[attachment.network_id],
                                     attachment)
                faults.step("container.joined")
            self._endpoints.publish_ports(container)
            net_sysctls.apply(state.fabric, container.sandbox, container.sysctls)
            self._start_process(container)
            faults.step("container.process-started")
        except Exception:
            self._teardown(container, graceful=False)
            state.fabric.settle()
            raise
        container.started_at = docker_timestamp()
        self._notify([container])
        return container

    def start_without_process(self, container: Container, names: dict[str, str]) -> None:
        """A sandbox of the engine's own joined to its networks (endpoint names by network
        ID), with no process: the ingress sandbox."""
        state = self._state
        container.sandbox = state.fabric.create_sandbox(container.id, container.hostname, False)
        container.running = True
        try:
            for attachment in container.attachments.values():
                self._endpoints.join(container, state.networks[attachment.network_id],
                                     attachment, name=names.get(attachment.network_id))
        except Exception:
            self._teardown(container, graceful=False)
            state.fabric.settle()
            raise

    def remove_hidden(self, cid: str) -> None:
        container = self._all.pop(cid)
        self._teardown(container, graceful=False)
        self._state.fabric.settle()

    def _start_process(self, container: Container) -> None:
        """The container's own process starts last, as runc's does: its networks are in.
        Its legacy links' variables come first; its own --env wins."""
        env = self.environment(container)
        files = self._files.prepare(container)
        try:
            self._state.fabric.start_process(container.sandbox, container.command,
                                             container.hostname, env, files=files,
                                             root=self._root(container),
                                             open_stdin=container.runtime.open_stdin)
        except SandboxSetupError as exc:
            raise err.InvalidParameter(str(exc)) from None
        except FileNotFoundError:
            raise err.InvalidParameter(
                "failed to create task for container: OCI runtime create failed: unable to "
                f'start container process: exec: "{container.command[0]}": executable file '
                "not found in $PATH: unknown"
            ) from None
        process = container.sandbox.process
        container.pid = process.pid if process else 0

    def environment(self, container: Container, extra: Iterable[str] = ()) -> dict[str, str]:
        """What the container's processes start with: its legacy links' variables, then
        its own --env (which wins), then `extra` (an exec's --env), over its image's."""
        links = legacy_links.environment(container, self._all, self.default_bridge())
        return process_env(container.image, [*links, *container.env, *extra])

    def _root(self, container: Container) -> RootSpec | None:
        """The container's sandbox: its image's root, its writable layer (kept with its
        /etc files, removed with it), mounts, user and capabilities."""
        if not self.sandboxes:
            return None
        runtime = container.runtime
        folder = self._files.folder(container.id)
        for mount in runtime.mounts:
            if mount.kind == "bind" and not os.path.exists(mount.source):
                os.makedirs(mount.source, exist_ok=True)  # dockerd makes -v sources
        mounts = runtime.mounts
        if container.sandbox is not None and container.sandbox.shares_host:
            # dockerd gives host-mode containers copies of the host's own files
            mounts = tuple(MountSpec(path, "bind", path, read_only=True)
                           for path in FILE_NAMES if os.path.exists(path)) + mounts
        return RootSpec(root_base(container.image), runtime.identity(),
                        layer=folder / "layer" if folder is not None else None,
                        mounts=mounts, read_only=runtime.read_only, tty=runtime.tty,
                        console_size=runtime.console_size)

    def _teardown(self, container: Container, graceful: bool = True) -> None:
        """End the sandbox first: its namespace takes every veth with it in one kernel
        batch, much faster than deleting them one by one. Call fabric.settle() after.
        Drivers whose links have no host end (macvlan) release them before, as dockerd
        does, so their parent is free when the call returns."""
        state = self._state
        sandbox, container.running = container.sandbox, False
        for net_id in list(container.endpoints):
            network = state.networks[net_id]
            if state.capability_of(network).released_before_sandbox:
                self._endpoints.leave(container, network)
        if state.dns is not None:
            state.dns.release(container.id)
        if sandbox is not None:
            state.fabric.destroy_sandbox(sandbox, graceful)
            container.finished_at = docker_timestamp()
            container.pid = 0
        for net_id in list(container.endpoints):
            self._endpoints.leave(container, state.networks[net_id])
        container.sandbox = None
        container.gateway_network = None

    def stop(self, ref: str, exit_code: int = 143) -> Container:
        container = self.get(ref)
        self._teardown(container)
        self._state.fabric.settle()
        container.exit_code = exit_code
        self._notify([container])
        return container

    def remove(self, refs: Iterable[str], force: bool = False) -> None:
        """`docker rm [-f] A B ...`: all refused unless every one may go; torn down as a batch."""
        doomed = [self._all[ref] if ref in self._all else self.get(ref) for ref in refs]
        for container in doomed:
            if container.running and not force:
                raise err.Conflict(
                    f'cannot remove container "/{container.name}": container is running: '
                    "stop the container before removing or force remove"
                )
        try:
            for container in doomed:
                self._teardown(container, graceful=False)
                self._all.pop(container.id, None)
                self._files.removed(container.id)
        finally:
            self._state.fabric.settle()
            self._notify(doomed)

    def list(self, all: bool = False) -> list[Container]:
        return [c for c in self._all.values() if (all or c.running) and not c.hidden]

    def connect(self, net_ref: str, container_ref: str, ip: str | None = None,
                aliases: Iterable[str] = (), mac: str | None = None,
                links: Iterable[str] = (), ip6: str | None = None) -> None:
        container = self.get(container_ref)
        network = self._network_for_attach(net_ref)
        if network.id in container.attachments and not container.running:
            return
        request = AttachRequest(network.id, ip, tuple(aliases), mac, tuple(links), ip6)
        self._endpoints.check_attach(network, container.attachments, request, container.name,
                                     creating=False)
        attachment = Attachment(network.id, ip, tuple(aliases), mac, tuple(links), ip6)
        if container.running:
            ep = self._endpoints.join(container, network, attachment)
            self._files.joined(container, network, ep)
            self._endpoints.publish_ports(container)
        container.attachments[network.id] = attachment

    def disconnect(self, net_ref: str, container_ref: str, force: bool = False) -> None:
        container = self.get(container_ref)
        network = self._networks.get(net_ref)
        if network.id not in container.attachments:
            the = "" if container.running else "the "
            raise err.DockerError(
                f"container {container.id} is not connected to {the}network {network.name}"
            )
        if self._state.capability_of(network).shares_host_namespace and container.running:
            raise err.InvalidParameter(
                "cannot disconnect container from host network - container was created in "
                "host network mode"
            )
        ep = container.endpoints.get(network.id)
        self._endpoints.leave(container, network)
        if ep is not None and container.running:
            self._files.left(container, network, ep)
        del container.attachments[network.id]
        if container.running:
            self._endpoints.publish_ports(container)

    def exec(self, container: Container, argv: list[str], timeout: float,
             privileged: bool = False) -> ExecResult:
        """argv in the container, with the environment its image gives processes, as
        its user with its capabilities (all with `privileged`, as `docker exec
        --privileged`)."""
        env = self.environment(container)
        identity = container.runtime.identity(privileged=privileged)
        return self._state.fabric.exec(container.sandbox, argv, timeout, env=env,
                                       identity=identity)
