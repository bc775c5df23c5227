"""Where a host's mesh daemon keeps its files, and how the `mesh` command talks to it.

    $CNM_PLUGIN_DIR/mesh.sock          the plugin (Docker finds it by this name)
    $CNM_PLUGIN_DIR/mesh.d/            the state directory (--state-dir overrides)
        mesh.pid                       the daemon's pid
        mesh.json                      pid, network namespace, addresses, sockets
        control.sock                   the control socket (one JSON line each way)
        docker.sock                    the Engine API proxy, once `mesh env` asked for it
        mesh.log                       the daemon's log (unless --log says elsewhere)

The control socket is kept out of the plugin directory itself, so that nothing
scanning it for plugins mistakes it for one.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PLUGIN_DIR_ENV = "CNM_PLUGIN_DIR"
PLUGIN_NAME = "mesh"

log = logging.getLogger("mesh.control")


class MeshError(RuntimeError):
    """A failure to report to the user as `mesh: <message>`."""


@dataclass(frozen=True)
class Locations:
    plugin_dir: Path
    state_dir: Path

    @classmethod
    def resolve(cls, plugin_dir: str | None = None, state_dir: str | None = None) -> Locations:
        chosen = plugin_dir or os.environ.get(PLUGIN_DIR_ENV)
        if not chosen:
            raise MeshError(f"no plugin directory: set {PLUGIN_DIR_ENV} (the emulator sets it "
                            "on each Docker host) or pass --plugin-dir DIR")
        plugin = Path(chosen).absolute()
        return cls(plugin, Path(state_dir).absolute() if state_dir else plugin / "mesh.d")

    @property
    def plugin_socket(self) -> Path:
        return self.plugin_dir / f"{PLUGIN_NAME}.sock"

    @property
    def control_socket(self) -> Path:
        return self.state_dir / "control.sock"

    @property
    def proxy_socket(self) -> Path:
        return self.state_dir / "docker.sock"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "mesh.pid"

    @property
    def info_file(self) -> Path:
        return self.state_dir / "mesh.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "mesh.log"

    def files(self) -> list[Path]:
        return [self.plugin_socket, self.control_socket, self.proxy_socket, self.pid_file,
                self.info_file, self.log_file]


# -- processes and namespaces -------------------------------------------------------


def net_inode(pid: int | str = "self") -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def in_machine_namespace() -> bool:
    """True in the machine's own network namespace (PID 1's), where mesh never runs."""
    try:
        return net_inode("thread-self") == net_inode(1)
    except PermissionError:
        return False


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def is_mesh_daemon(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return alive(pid) and b"emulator.mesh" in argv and b"daemon" in argv


def running_pid(loc: Locations) -> int | None:
    """The pid of this plugin directory's daemon, if it is running."""
    try:
        pid = int(loc.pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if is_mesh_daemon(pid) else None


def read_info(loc: Locations) -> dict:
    try:
        info = json.loads(loc.info_file.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


# -- the control socket ---------------------------------------------------------------


def request(loc: Locations, message: dict, timeout: float = 10.0) -> dict:
    """Send one command to the daemon and return its answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(loc.control_socket))
        except OSError as exc:
            raise MeshError(f"cannot reach the mesh daemon at {loc.control_socket}: "
                            f"{exc.strerror or exc}") from None
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise MeshError(f"talking to the mesh daemon: {exc}") from None
    finally:
        sock.close()
    if not data:
        raise MeshError("the mesh daemon closed the control connection without an answer")
    answer = json.loads(data)
    if not isinstance(answer, dict):
        raise MeshError("the mesh daemon answered nonsense")
    if answer.get("error"):
        raise MeshError(str(answer["error"]))
    return answer


class _ControlHandler(socketserver.StreamRequestHandler):
    timeout = 60
    server: _ControlServer

    def handle(self) -> None:
        line = self.rfile.readline(1 << 20)
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not an object")
            answer = self.server.handle(message)
        except ValueError as exc:
            answer = {"error": f"bad control request: {exc}"}
        except MeshError as exc:
            answer = {"error": str(exc)}
        except Exception as exc:
            log.exception("control request %r failed", line)
            answer = {"error": f"internal error: {exc}"}
        try:
            self.wfile.write(json.dumps(answer).encode() + b"\n")
        except OSError:
            pass


class _ControlServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    handle: Callable[[dict], dict]


class ControlServer:
    def __init__(self, path: Path, handle: Callable[[dict], dict]) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self.server = _ControlServer(str(path), _ControlHandler)
        self.server.handle = handle
        os.chmod(path, 0o600)

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.path.unlink(missing_ok=True)
