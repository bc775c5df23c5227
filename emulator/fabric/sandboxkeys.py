"""Sandbox keys: a file per container that opens its network namespace, as dockerd's.

dockerd bind-mounts each sandbox's network namespace on /var/run/docker/netns/<id>
and passes that path to a plugin's Join as SandboxKey; a plugin may open it (setns)
to configure the container's side itself. The emulator does the same under the lab's
run directory: `<run dir>/netns/<host>/<first 12 characters of the sandbox key>`,
which no real dockerd on the machine uses and which names the lab and the host, so
two labs (or hosts) never share one. The mount is made in the machine's mount
namespace (the one plugins run in), and removed with the sandbox (container stop,
rm, lab down); `release_leftovers` unmounts what a killed lab left (`cnm clean`).

While the file is mounted the namespace outlives the container's process, as
Docker's does: a plugin's interfaces can still be given back on Leave.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

from emulator.fabric.mountns import MS_BIND, _mount

MNT_DETACH = 2
KEY_LENGTH = 12

_libc = ctypes.CDLL(None, use_errno=True)
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _unmount(path: Path) -> None:
    """Detach the mount on `path` (nothing if there is none) and remove the file."""
    if _libc.umount2(str(path).encode(), MNT_DETACH) != 0:
        errno = ctypes.get_errno()
        if errno not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            raise OSError(errno, f"umount {path}: {os.strerror(errno)}")
    path.unlink(missing_ok=True)


class SandboxKeys:
    """The sandbox-key files of one emulated host, under `directory` (None: no files;
    the key is then the /proc path of the namespace's process, which also opens it)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._pinned: dict[str, Path] = {}
        self._lock = threading.Lock()

    def pin(self, key: str, namespace_file: str) -> str:
        """The path of sandbox `key`, bind-mounted from `namespace_file` (a path that
        opens the namespace: /proc/PID/ns/net) on first use."""
        if self.directory is None:
            return namespace_file
        with self._lock:
            path = self._pinned.get(key)
            if path is not None:
                return str(path)
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self.directory / key[:KEY_LENGTH]
            path.touch(mode=0o600)
            try:
                _mount(namespace_file, str(path), MS_BIND)
            except OSError:
                path.unlink(missing_ok=True)
                raise
            self._pinned[key] = path
            return str(path)

    def opened(self, key: str) -> int | None:
        """A descriptor of sandbox `key`'s namespace through its file (close it after),
        or None when it has none."""
        with self._lock:
            path = self._pinned.get(key)
        if path is None:
            return None
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None

    def release(self, key: str) -> None:
        with self._lock:
            path = self._pinned.pop(key, None)
        if path is not None:
            _unmount(path)

    def release_all(self) -> None:
        for key in list(self._pinned):
            self.release(key)


def release_leftovers(directory: Path) -> None:
    """Unmount and remove every sandbox-key file under `directory` (one folder per
    host), so that the directory can be removed."""
    if not directory.is_dir():
        return
    for host in directory.iterdir():
        if host.is_dir():
            for path in host.iterdir():
                _unmount(path)
