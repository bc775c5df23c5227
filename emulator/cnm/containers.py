"""Container operations of the engine: create, start, stop, remove, connect, exec.

A container is a sandbox (its own network and UTS namespaces, or the host's)
plus its own long-lived process, which starts only once every network is
joined, as runc starts it after libnetwork has set the sandbox up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from emulator import errdefs as err
from emulator.cnm.endpoints import AttachRequest
from emulator.cnm.lookup import find
from emulator.cnm.model import Attachment, Container
from emulator.cnm.names import random_name
from emulator.fabric.base import ExecResult
from emulator.ids import docker_timestamp, new_id

CONTAINER_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DEFAULT_COMMAND = ["sleep", "infinity"]


class ContainerOps:
    """Mixed into Engine: everything about containers."""

    def reap_exited(self) -> None:
        """Containers whose process ended by itself are exited: endpoints released."""
        with self._lock:
            ended = []
            for container in self.containers.values():
                if container.running and container.sandbox is not None:
                    code = self.fabric.sandbox_exit_code(container.sandbox)
                    if code is not None:
                        self._teardown(container)
                        container.exit_code = code
                        ended.append(container)
            if ended:
                self.fabric.settle()
                self._notify(ended)

    def get_container(self, ref: str) -> Container:
        with self._lock:
            return find(self.containers.values(), ref.lstrip("/"), lambda c: c.id,
                        lambda c: c.name, f"No such container: {ref}", "container")

    def run_container(
        self,
        name: str | None = None,
        networks: Iterable[AttachRequest] = (AttachRequest("bridge"),),
        hostname: str | None = None,
        command: list[str] | None = None,
    ) -> Container:
        with self._lock:
            requests = list(networks) or [AttachRequest("bridge")]
            container = self.create_container(name, requests, hostname, command)
            try:
                self.start_container(container.id)
            except Exception:
                self.containers.pop(container.id, None)
                raise
            return container

    def create_container(self, name: str | None, networks: list[AttachRequest],
                         hostname: str | None = None, command: list[str] | None = None,
                         image: str = "", labels: Mapping[str, str] | None = None,
                         env: list[str] | None = None) -> Container:
        with self._lock:
            cid = new_id()
            if name is None:
                name = _generated_name(cid, self.containers.values())
            name = name.lstrip("/")
            if not CONTAINER_NAME.match("/" + name):
                raise err.InvalidParameter(
                    f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )
            for other in self.containers.values():
                if other.name == name:
                    raise err.Conflict(
                        f'Conflict. The container name "/{name}" is already in use by container '
                        f'"{other.id}". You have to remove (or rename) that container to be able '
                        "to reuse that name."
                    )
            attachments: dict[str, Attachment] = {}
            for request in networks:
                network = self._network_for_attach(request.network)
                try:
                    self._check_attach(network, attachments, request, name)
                except err.InvalidParameter as exc:
                    if exc.message.startswith("invalid endpoint settings"):
                        raise err.InvalidParameter(
                            f"invalid config for network {network.name}: {exc.message}"
                        ) from None
                    raise
                attachments[network.id] = Attachment(network.id, request.ip, request.aliases)
            container = Container(
                id=cid, name=name, hostname=hostname or cid[:12],
                command=list(command or DEFAULT_COMMAND), created=docker_timestamp(),
                attachments=attachments, image=image, labels=dict(labels or {}),
                env=list(env or []),
            )
            self.containers[cid] = container
            return container

    def start_container(self, ref: str) -> Container:
        with self._lock:
            container = self.get_container(ref)
            if container.running:
                return container
            order = list(container.attachments.values())
            for attachment in order:
                if attachment.network_id not in self.networks:
                    raise err.NotFound(f"network {attachment.network_id} not found")
            shares_host = any(self.networks[a.network_id].driver == "host" for a in order)
            container.sandbox = self.fabric.create_sandbox(container.id, container.hostname,
                                                           shares_host)
            container.running = True
            container.next_ifindex = 0
            try:
                for attachment in order:
                    self._join(container, self.networks[attachment.network_id], attachment)
                self._start_process(container)
            except Exception:
                self._teardown(container, graceful=False)
                self.fabric.settle()
                raise
            container.started_at = docker_timestamp()
            self._notify([container])
            return container

    def _start_process(self, container: Container) -> None:
        """The container's own process starts last, as runc's does: its networks are in."""
        env = dict(item.partition("=")[::2] for item in container.env)
        try:
            self.fabric.start_process(container.sandbox, container.command, container.hostname,
                                      env)
        except FileNotFoundError:
            raise err.InvalidParameter(
                "failed to create task for container: OCI runtime create failed: unable to "
                f'start container process: exec: "{container.command[0]}": executable file '
                "not found in $PATH: unknown"
            ) from None
        process = container.sandbox.process
        container.pid = process.pid if process else 0

    def _teardown(self, container: Container, graceful: bool = True) -> None:
        """End the sandbox first: its namespace takes every veth with it in one kernel
        batch, much faster than deleting them one by one. Call fabric.settle() after.
        Drivers whose links have no host end (macvlan) release them before, as dockerd
        does, so their parent is free when the call returns."""
        sandbox, container.running = container.sandbox, False
        for net_id in list(container.endpoints):
            network = self.networks[net_id]
            if getattr(self.driver_of(network), "release_before_sandbox", False):
                self._leave(container, network)
        if sandbox is not None:
            self.fabric.destroy_sandbox(sandbox, graceful)
            container.finished_at = docker_timestamp()
            container.pid = 0
        for net_id in list(container.endpoints):
            self._leave(container, self.networks[net_id])
        container.sandbox = None
        container.gateway_network = None

    def _forget(self, container: Container, graceful: bool = True) -> None:
        self._teardown(container, graceful)
        self.containers.pop(container.id, None)

    def stop_container(self, ref: str) -> Container:
        with self._lock:
            container = self.get_container(ref)
            self._teardown(container)
            self.fabric.settle()
            container.exit_code = 143
            self._notify([container])
            return container

    def remove_container(self, ref: str, force: bool = False) -> None:
        self.remove_containers([ref], force)

    def remove_containers(self, refs: Iterable[str], force: bool = False) -> None:
        """`docker rm [-f] A B ...`: all refused unless every one may go; torn down as a batch."""
        with self._lock:
            doomed = [self.get_container(ref) for ref in refs]
            for container in doomed:
                if container.running and not force:
                    raise err.Conflict(
                        f'cannot remove container "/{container.name}": container is running: '
                        "stop the container before removing or force remove"
                    )
            try:
                for container in doomed:
                    self._forget(container, graceful=False)
            finally:
                self.fabric.settle()
                self._notify(doomed)

    def list_containers(self, all: bool = False) -> list[Container]:
        with self._lock:
            return [c for c in self.containers.values() if all or c.running]

    def connect(self, net_ref: str, container_ref: str, ip: str | None = None,
                aliases: Iterable[str] = ()) -> None:
        with self._lock:
            container = self.get_container(container_ref)
            network = self._network_for_attach(net_ref)
            if network.id in container.attachments and not container.running:
                return
            request = AttachRequest(network.id, ip, tuple(aliases))
            self._check_attach(network, container.attachments, request, container.name,
                               creating=False)
            attachment = Attachment(network.id, ip, tuple(aliases))
            if container.running:
                self._join(container, network, attachment)
            container.attachments[network.id] = attachment

    def disconnect(self, net_ref: str, container_ref: str, force: bool = False) -> None:
        with self._lock:
            container = self.get_container(container_ref)
            network = self.get_network(net_ref)
            if network.id not in container.attachments:
                the = "" if container.running else "the "
                raise err.DockerError(
                    f"container {container.id} is not connected to {the}network {network.name}"
                )
            if network.driver == "host" and container.running:
                raise err.InvalidParameter(
                    "cannot disconnect container from host network - container was created in "
                    "host network mode"
                )
            self._leave(container, network)
            del container.attachments[network.id]

    def exec(self, ref: str, argv: list[str], timeout: float = 30.0) -> ExecResult:
        with self._lock:
            container = self.get_container(ref)
            if not container.running or container.sandbox is None:
                raise err.Conflict(f"container {container.id} is not running")
            sandbox = container.sandbox
        return self.fabric.exec(sandbox, argv, timeout)


def _generated_name(cid: str, existing: Iterable[Container]) -> str:
    taken = {c.name for c in existing}
    return random_name(cid, taken)

