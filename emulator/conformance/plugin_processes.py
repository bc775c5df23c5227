"""Third-party plugins on a lab: started on every Docker host, or reached at a socket.

A plugin's process runs inside the Docker host's namespace (it makes the interfaces
Join hands over there), carries the lab's environment marker (so `cnm clean` finds it
if the run dies) and logs to a file of the run. A plugin is ready once its socket
answers Plugin.Activate. The `mesh` plugin is launched on every host with the other
hosts as peers and stopped with `mesh stop`.
"""

from __future__ import annotations

import os
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from emulator.drivers.remote.client import (
    NotImplementedByPlugin,
    PluginAddress,
    PluginCallFailed,
    PluginClient,
    PluginError,
)
from emulator.drivers.remote.discovery import discover
from emulator.fabric.netns import machine_net_inode
from emulator.probes.namespaced import PATH, inside

READY_TIMEOUT = 15.0


class PluginStartError(RuntimeError):
    pass


@dataclass
class Started:
    host: str
    process: subprocess.Popen
    log: Path


def _env(extra: dict[str, str]) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {"PATH": f"{bin_dir}:{PATH}", **extra}


def popen_in(pid: int, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start argv in the network namespace of `pid` (never the machine's own), its output
    to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with inside(pid), log.open("ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def run_in(pid: int, argv: list[str], env: dict[str, str], log: Path,
           timeout: float = 30.0) -> int:
    process = popen_in(pid, argv, env, log)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        stop_process(process)
        raise PluginStartError(f"{' '.join(argv)} did not finish within {timeout:g} s") from None


def stop_process(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


def tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(no output)"


def command_argv(template: str, sock: Path, host: str) -> list[str]:
    """The plugin command for one host: {socket}, {host} and {python} filled in."""
    text = template.replace("{socket}", shlex.quote(str(sock))).replace(
        "{host}", shlex.quote(host)).replace("{python}", shlex.quote(sys.executable))
    argv = shlex.split(text)
    if not argv:
        raise PluginStartError("the plugin command is empty")
    return argv


def socket_path(template: str, host: str) -> Path:
    return Path(template.replace("{host}", host))


def peer_netns_inode(path: Path) -> int | None:
    """The network namespace of the process listening on a Unix socket (SO_PEERCRED)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        sock.connect(str(path))
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid = struct.unpack("3i", creds)[0]
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def wait_ready(address: PluginAddress, started: Started | None,
               timeout: float = READY_TIMEOUT) -> None:
    """Wait until the plugin answers Plugin.Activate (polling: a socket that appears has
    no event to wait on), or fail with the end of its log."""
    deadline = time.monotonic() + timeout
    client = PluginClient(address, timeout=2.0)
    last = "its socket never appeared"
    while time.monotonic() < deadline:
        if started is not None and started.process.poll() is not None:
            code = started.process.returncode
            if code != 0:
                raise PluginStartError(
                    f"plugin {address.name} on {started.host} exited with status {code}: "
                    f"{tail(started.log)}")
        if address.unix is None or Path(address.unix).exists():
            try:
                client.call("Plugin.Activate")
                return
            except (PluginError, PluginCallFailed, NotImplementedByPlugin) as exc:
                last = str(exc)
        threading.Event().wait(0.01)
    where = f" on {started.host}" if started is not None else ""
    log = f"; log: {tail(started.log)}" if started is not None else ""
    raise PluginStartError(f"plugin {address.name}{where} did not answer at {address} within "
                           f"{timeout:g} s ({last}){log}")


def check_plugin_namespace(sock: Path, host: str, expected: int) -> None:
    """Refuse a plugin (started by someone else) that runs in the machine's own network
    namespace, or in another one than its Docker host's."""
    try:
        inode = peer_netns_inode(sock)
    except OSError as exc:
        raise PluginStartError(f"nothing answers at the plugin socket {sock}: "
                               f"{exc.strerror or exc}") from None
    if inode == machine_net_inode():
        raise PluginStartError(
            f"the plugin listening at {sock} runs in the machine's own network namespace: "
            "its interfaces would be made there, outside the lab; start it inside the lab "
            "with --cnm-plugin-command instead")
    if inode != expected:
        raise PluginStartError(
            f"the plugin listening at {sock} does not run in the network namespace of Docker "
            f"host {host}: the interfaces its Join names would not be found there")


class PluginProcesses:
    """The plugin of one run on every Docker host of a lab."""

    def __init__(self, lab, target, log_dir: Path) -> None:
        self.lab = lab
        self.target = target
        self.log_dir = log_dir
        self.started: list[Started] = []

    @property
    def hosts(self) -> list[str]:
        return list(self.lab.hosts)

    def start(self) -> None:
        if self.target.kind == "mesh":
            self._start_mesh()
        else:
            self._start_plugin()

    def _start_plugin(self) -> None:
        name = self.target.driver
        env = _env(self.lab.process_env)
        waits = []
        for host in self.hosts:
            directory = self.lab.plugin_dir(host)
            if self.target.plugin_socket:
                sock = socket_path(self.target.plugin_socket, host)
                if sock.parent != directory or sock.name != f"{name}.sock":
                    (directory / f"{name}.spec").write_text(f"unix://{sock}\n")
            else:
                sock = directory / f"{name}.sock"
            started = None
            if self.target.plugin_command:
                argv = command_argv(self.target.plugin_command, sock, host)
                log = self.log_dir / f"plugin-{host}.log"
                started = Started(host, popen_in(self.lab.node_pid(host), argv, env, log), log)
                self.started.append(started)
            waits.append((PluginAddress(name, unix=str(sock)), started, host))
        for address, started, host in waits:
            if started is None:  # not ours: where does it run? (before asking it anything)
                expected = os.stat(f"/proc/{self.lab.node_pid(host)}/ns/net").st_ino
                check_plugin_namespace(Path(address.unix or ""), host, expected)
            wait_ready(address, started)

    def _mesh_env(self, host: str) -> dict[str, str]:
        return _env({**self.lab.process_env, "CNM_PLUGIN_DIR": str(self.lab.plugin_dir(host))})

    def _start_mesh(self) -> None:
        """`mesh launch` on every host, each one peered with the hosts launched before it
        (as `weave launch HOST1` is run on the second host), so the mesh spans the lab."""
        waits = []
        seen: list[str] = []
        for host in self.hosts:
            peers = [str(self.lab.host(h).address) for h in seen]
            argv = [sys.executable, "-m", "emulator.mesh", "launch", *peers]
            log = self.log_dir / f"mesh-{host}.log"
            started = Started(host, popen_in(self.lab.node_pid(host), argv,
                                             self._mesh_env(host), log), log)
            self.started.append(started)
            seen.append(host)
            waits.append((host, started))
        for host, started in waits:
            address = self._wait_discovered(host, started)
            wait_ready(address, started)

    def _wait_discovered(self, host: str, started: Started) -> PluginAddress:
        deadline = time.monotonic() + READY_TIMEOUT
        directory = self.lab.plugin_dir(host)
        while time.monotonic() < deadline:
            address = discover(directory, "mesh")
            if address is not None:
                return address
            if started.process.poll() not in (None, 0):
                raise PluginStartError(f"mesh launch on {host} exited with status "
                                       f"{started.process.returncode}: {tail(started.log)}")
            threading.Event().wait(0.01)
        raise PluginStartError(f"mesh on {host} did not register in {directory} within "
                               f"{READY_TIMEOUT:g} s: {tail(started.log)}")

    def _mesh_command(self, host: str, args: list[str]) -> None:
        log = self.log_dir / f"mesh-{host}.log"
        code = run_in(self.lab.node_pid(host), [sys.executable, "-m", "emulator.mesh", *args],
                      self._mesh_env(host), log)
        if code != 0:
            raise PluginStartError(f"mesh {' '.join(args)} on {host} exited with status "
                                   f"{code}: {tail(log)}")

    def stop(self) -> list[str]:
        """Stop what this run started; problems as text (the run goes on)."""
        problems = []
        if self.target.kind == "mesh":
            for host in self.hosts:
                try:
                    self._mesh_command(host, ["stop"])
                except (PluginStartError, OSError) as exc:
                    problems.append(str(exc))
        for started in self.started:
            if started.process.poll() is None:
                stop_process(started.process)
        self.started.clear()
        return problems
