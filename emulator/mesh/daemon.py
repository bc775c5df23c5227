"""The mesh daemon of one host: router, plugin, control socket and (once `mesh env`
asks for it) the Engine API proxy, in one process.

Started detached by `mesh launch` (in its own session, its pid in the state
directory); it keeps the environment it was started with, CNM_LAB included, so the
emulator can find it. SIGTERM, SIGINT, SIGHUP or a `stop` on the control socket end
it the same way: close the proxy and its connections, stop answering the engine,
say bye to the peers, delete every device it made (veths, VXLANs, bridges), remove
its sockets and files.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulator.mesh import dataplane, iproute
from emulator.mesh.control import (
    ControlServer,
    Locations,
    MeshError,
    in_machine_namespace,
    net_inode,
)
from emulator.mesh.driver import MeshDriver
from emulator.mesh.gossip import PORT, Router
from emulator.mesh.plugin import MeshPlugin
from emulator.mesh.proxy import DEFAULT_NETWORK, EngineProxy, Refusal, engine_call, socket_path
from emulator.pluginhttp import PluginServer

log = logging.getLogger("mesh.daemon")


@dataclass
class Config:
    locations: Locations
    advertise: str
    device: str
    mtu: int  # default MTU of the networks: the underlay's less the VXLAN overhead
    peers: list[str] = field(default_factory=list)
    made_dirs_from: str | None = None  # launch made the plugin directory up from here
    port: int = PORT


class Daemon:
    def __init__(self, config: Config, stop: threading.Event) -> None:
        self.config = config
        self.stop_requested = stop
        self.lock = threading.RLock()
        self.dataplane = dataplane.DataPlane(config.advertise, config.device)
        self.driver = MeshDriver(config.advertise, self.dataplane, self.lock, config.mtu)
        self.router = Router(config.advertise, self.driver, self.lock, config.port)
        self.driver.router = self.router
        self.plugin: PluginServer | None = None
        self.control: ControlServer | None = None
        self.proxy: EngineProxy | None = None
        self.proxy_lock = threading.Lock()
        self.started = time.time()
        self.owner = False  # set once the router's port is ours: then so is the namespace

    def start(self) -> None:
        loc = self.config.locations
        if in_machine_namespace():
            raise MeshError("refusing to run in the machine's own network namespace")
        try:
            self.router.listen()
        except OSError as exc:
            raise MeshError(f"cannot listen on {self.config.advertise}:{self.config.port}: "
                            f"{exc.strerror or exc}") from None
        self.owner = True
        # The port is ours, so no other mesh daemon runs here: what is left is a dead one's.
        left = dataplane.sweep()
        if left:
            log.warning("removed devices a previous mesh daemon left: %s", " ".join(left))
        loc.plugin_dir.mkdir(parents=True, exist_ok=True)
        loc.state_dir.mkdir(parents=True, exist_ok=True)
        self.plugin = PluginServer(str(loc.plugin_socket), MeshPlugin(self.driver.routes()))
        self.control = ControlServer(loc.control_socket, self.handle_control)
        for server, name in ((self.plugin, "mesh-plugin"), (self.control, "mesh-control")):
            threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
        self.router.start()
        for peer in self.config.peers:
            self.router.add_peer(peer)
        loc.pid_file.write_text(f"{os.getpid()}\n")
        loc.info_file.write_text(json.dumps({
            "pid": os.getpid(), "netns": net_inode(), "address": self.config.advertise,
            "port": self.config.port, "device": self.config.device,
            "plugin": str(loc.plugin_socket), "control": str(loc.control_socket)}) + "\n")
        log.info("router on %s:%d (VXLAN via %s, MTU %d), plugin on %s", self.config.advertise,
                 self.config.port, self.config.device, self.config.mtu, loc.plugin_socket)

    # -- control requests -------------------------------------------------------

    def handle_control(self, message: dict) -> dict:
        command = message.get("cmd")
        if command == "status":
            return self.status()
        if command == "connect":
            peer = str(message.get("peer", ""))
            if peer == self.config.advertise:
                raise MeshError(f"{peer} is this host")
            self.router.add_peer(peer)
            synced = self.router.wait_synced(peer, float(message.get("timeout", 10.0)))
            row = next((r for r in self.router.status() if r["peer"] == peer), {})
            return {"connected": synced, "peer": row}
        if command == "proxy":
            return self.start_proxy(str(message.get("upstream") or ""))
        if command == "stop":
            self.stop_requested.set()
            return {"stopping": True, "pid": os.getpid()}
        raise MeshError(f"unknown control command {command!r}")

    def start_proxy(self, upstream: str) -> dict:
        """The Engine API proxy's details, started on first use in front of `upstream`
        (a DOCKER_HOST value: the host's Engine API)."""
        with self.proxy_lock:
            if self.proxy is not None:
                if upstream and socket_path(upstream) != self.proxy.upstream:
                    raise MeshError(f"this host's mesh proxy already fronts "
                                    f"unix://{self.proxy.upstream}, not {upstream}")
                return self.proxy.info()
            if self.stop_requested.is_set():
                raise MeshError("the mesh daemon is stopping")
            if not upstream:
                raise MeshError("which Engine API should the proxy front? Pass --docker-host "
                                "unix:///PATH or set DOCKER_HOST (cnm mesh env HOST does)")
            engine = socket_path(upstream)
            try:
                status, answer = engine_call(engine, "GET", "/_ping", timeout=10.0)
            except Refusal as refusal:
                raise MeshError(refusal.message.removeprefix("mesh proxy: ")) from None
            if status != 200:
                raise MeshError(f"{upstream} answers /_ping with {status}: {answer}")
            self.proxy = EngineProxy(self.config.locations.proxy_socket, engine,
                                     DEFAULT_NETWORK)
            self.proxy.start()
            return self.proxy.info()

    def status(self) -> dict:
        return {
            "pid": os.getpid(), "address": self.config.advertise, "port": self.config.port,
            "device": self.config.device, "mtu": self.config.mtu,
            "plugin": str(self.config.locations.plugin_socket),
            "uptime": time.time() - self.started, "now": time.time(),
            "peers": self.router.status(), **self.driver.status(),
            "proxy": self.proxy.info() if self.proxy is not None else None,
        }

    # -- the end ----------------------------------------------------------------

    def shutdown(self) -> None:
        """Remove everything the daemon made; safe after a failed start (which made
        nothing, and may have failed because another daemon owns all this)."""
        loc = self.config.locations
        if not self.owner:
            return
        with self.proxy_lock:
            if self.proxy is not None:
                self.proxy.close()
                self.proxy = None
        if self.plugin is not None:
            self.plugin.close()
        self.router.stop()
        try:
            self.driver.remove_everything()
            left = dataplane.sweep()
            if left:
                log.warning("removed stray devices: %s", " ".join(left))
        except iproute.IprouteError as exc:
            log.error("removing devices: %s", exc)
        if self.control is not None:
            self.control.close()
        for path in (loc.plugin_socket, loc.pid_file, loc.info_file, loc.control_socket,
                     loc.proxy_socket):
            path.unlink(missing_ok=True)
        log.info("stopped")
        logging.shutdown()
        if loc.log_file.exists():
            loc.log_file.unlink()
        _remove_empty(loc.state_dir)
        if self.config.made_dirs_from:
            top = Path(self.config.made_dirs_from)
            for path in (loc.plugin_dir, *loc.plugin_dir.parents):
                if not _remove_empty(path) or path == top:
                    break


def _remove_empty(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True


def run(config: Config, ready_fd: int | None) -> int:
    """The daemon's main: start, tell the launcher, wait for a stop, clean up."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    os.chdir("/")
    daemon = Daemon(config, stop)
    try:
        daemon.start()
    except (MeshError, OSError, iproute.IprouteError) as exc:
        log.error("%s", exc)
        daemon.shutdown()
        _tell(ready_fd, f"error: {exc}")
        return 1
    _tell(ready_fd, f"ready {os.getpid()}")
    while not stop.wait(0.5):
        pass
    daemon.shutdown()
    return 0


def _tell(fd: int | None, text: str) -> None:
    if fd is None:
        return
    try:
        os.write(fd, text.encode() + b"\n")
        os.close(fd)
    except OSError:
        pass

