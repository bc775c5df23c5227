"""A real Docker Engine inside one lab host: Debian's dockerd 20.10, started and removed.

dockerd runs in the Mininet host's network namespace (entered with nsenter; `ip
netns exec` would remount /sys and hide the cgroup hierarchies) and in a mount
namespace of its own, where a private /run, /etc/docker and /etc/resolv.conf (the
lab's resolvers: the outside host's DNS server) hide the machine's: the
paths Docker does not let one configure (/run/docker/plugins, containerd's shim
sockets under /run/containerd, /etc/docker/key.json) are the lab's, and every mount
dockerd and its containers make goes when their processes do. The host's plugin
directory is bound at /run/docker/plugins, so remote plugins load as on an emulated
host. Its data root, exec root and logs live in the lab's run directory; its
containers live in cgroups named after the lab (cgroups.py), so that nothing
survives even a SIGKILL of the lab once `cnm clean` has run.

It is started with `--experimental --ip6tables`: Docker 28 writes ip6tables rules by
default (since 27.0), while 20.10 offers them only as an experimental feature; without
them 20.10 forwards IPv6 freely between networks that IPv4 keeps apart.

No image can be pulled here: `alpine:latest` and `busybox:latest` are imported from
Debian's busybox-static (/bin/busybox and a link per applet).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import docker
import docker.errors
import requests

from emulator.lab.cgroups import cgroup_parent, remove_lab_cgroups

DOCKERD = "/usr/sbin/dockerd"
BUSYBOX = "/bin/busybox"
API_VERSION = "1.41"  # what dockerd 20.10 speaks
IMAGES = (("alpine", "latest"), ("busybox", "latest"))
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
MISSING = ("dockerd (Debian's docker.io) and /bin/busybox (busybox-static) are needed for "
           "`engine: docker`; scripts/install.sh installs them")

log = logging.getLogger("emulator.lab")

# Runs as root inside the new mount namespace: $1 the staging directory (the lab's),
# $2 the plugin directory, $3 the run root if it lives under /run (else empty), $4 the
# host's resolv.conf, then dockerd's argv.
_PRIVATE_RUN = r"""
set -e
stage=$1 plugins=$2 runroot=$3 resolvconf=$4
shift 4
mount -n -t tmpfs -o mode=755 cnm-run "$stage"
mkdir -p "$stage/docker/plugins"
mount -n --bind "$plugins" "$stage/docker/plugins"
if [ -n "$runroot" ]; then
  mkdir -p "$stage/${runroot#/run/}"
  mount -n --rbind "$runroot" "$stage/${runroot#/run/}"
fi
mount -n --move "$stage" /run
mkdir -p /etc/docker
mount -n -t tmpfs -o mode=755 cnm-etc-docker /etc/docker
mount -n --bind "$resolvconf" /etc/resolv.conf
exec "$@"
"""


class DockerdError(RuntimeError):
    pass


def available() -> str | None:
    """None if a real Docker host can run here, else what is missing."""
    if not (os.access(DOCKERD, os.X_OK) and os.access(BUSYBOX, os.X_OK)):
        return MISSING
    return None


@cache
def busybox_rootfs() -> bytes:
    """A tar of a root filesystem: busybox, a link per applet, the usual directories."""
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder, mode in (("bin", 0o755), ("sbin", 0o755), ("usr", 0o755),
                             ("usr/bin", 0o755), ("usr/sbin", 0o755), ("etc", 0o755),
                             ("root", 0o700), ("tmp", 0o1777), ("var", 0o755),
                             ("proc", 0o555), ("sys", 0o555), ("dev", 0o755)):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for path in applets:
            if path == "bin/busybox":
                continue
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, "/bin/busybox"
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        group = b"root:x:0:\nnogroup:x:65534:\n"
        for name, data in (("etc/passwd", passwd), ("etc/group", group)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class RealDockerd:
    """One dockerd (with the containerd it manages) for one Docker host of a lab."""

    def __init__(self, lab: str, host: str, host_pid: int, root: Path, socket: Path,
                 plugin_dir: Path, log_file: Path, env: dict[str, str],
                 run_root: Path, dns_servers: list[str] | None = None,
                 daemon_args: Sequence[str] = ()) -> None:
        """`dns_servers`: the host's resolvers, dockerd's /etc/resolv.conf (what its
        embedded DNS forwards to and the default bridge's containers get), as on an
        emulated host; by default the machine's file is left as it is. `daemon_args`:
        more dockerd options (the default bridge's --ipv6, --fixed-cidr-v6)."""
        self.lab = lab
        self.host = host
        self.host_pid = host_pid
        self.root = root
        self.socket = socket
        self.plugin_dir = plugin_dir
        self.log_file = log_file
        self.env = env
        self.run_root = run_root
        self.dns_servers = dns_servers
        self.daemon_args = list(daemon_args)
        self.process: subprocess.Popen | None = None
        self._client: docker.DockerClient | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.url, version=API_VERSION,
                                               timeout=120)
        return self._client

    def argv(self) -> list[str]:
        runroot = str(self.run_root) if self.run_root.is_relative_to("/run") else ""
        return [
            "nsenter", f"--net=/proc/{self.host_pid}/ns/net", "--",
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", _PRIVATE_RUN, "cnm-dockerd",
            str(self.root / "run"), str(self.plugin_dir), runroot, str(self._resolv_conf()),
            DOCKERD,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "dockerd.pid"),
            "-H", self.url,
            "--storage-driver", "vfs",
            "--cgroup-parent", cgroup_parent(self.lab, self.host),
            "--experimental", "--ip6tables",
            *self.daemon_args,
        ]

    def _resolv_conf(self) -> Path:
        if self.dns_servers is None:
            return Path("/etc/resolv.conf")
        return self.root / "resolv.conf"

    def start(self) -> None:
        """Start dockerd, wait until its API answers, import the images."""
        missing = available()
        if missing:
            raise DockerdError(missing)
        for folder in ("run", "data", "exec"):
            (self.root / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.dns_servers is not None:
            self._resolv_conf().write_text(
                "".join(f"nameserver {server}\n" for server in self.dns_servers))
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
        with open(self.log_file, "ab") as out:
            self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        log.info("%s: dockerd started (process %d)", self.host, self.process.pid)
        self._wait_ready()
        self._import_images()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        delay = 0.02
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise DockerdError(f"{self.host}: dockerd exited with status "
                                   f"{self.process.returncode}: {self._log_tail()}")
            if self.socket.exists():
                try:
                    if self.client.ping():
                        return
                except (requests.RequestException, docker.errors.APIError):
                    pass
            if time.monotonic() > deadline:
                raise DockerdError(f"{self.host}: dockerd did not answer within "
                                   f"{START_TIMEOUT_S:.0f} s: {self._log_tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) + f" (whole log: {self.log_file})"

    def _import_images(self) -> None:
        (first_repo, first_tag), *others = IMAGES
        self.client.api.import_image_from_data(busybox_rootfs(), repository=first_repo,
                                               tag=first_tag, changes=['CMD ["/bin/sh"]'])
        for repo, tag in others:
            self.client.api.tag(f"{first_repo}:{first_tag}", repo, tag)

    @property
    def pid(self) -> int | None:
        """dockerd's own process (the wrapper exec()s into it)."""
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        """Remove the containers, stop dockerd, then whatever is left: cgroups, files."""
        if self.process is not None and self.process.poll() is None:
            self._remove_containers()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("%s: dockerd did not stop within %.0f s; killed", self.host,
                            STOP_TIMEOUT_S)
                self.process.kill()
                self.process.wait()
        if self._client is not None:
            self._client.close()
            self._client = None
        remove_lab_cgroups(self.lab, only_host=self.host)
        shutil.rmtree(self.root, ignore_errors=True)

    def _remove_containers(self) -> None:
        """Force-remove every container at once: dockerd's own shutdown would give each
        its stop timeout (a busybox PID 1 ignores SIGTERM)."""
        try:
            ids = [c["Id"] for c in self.client.api.containers(all=True)]
            if self.client.info().get("Swarm", {}).get("LocalNodeState") == "active":
                self.client.api.leave_swarm(force=True)
        except (requests.RequestException, docker.errors.APIError) as exc:
            log.warning("%s: could not list containers: %s", self.host, exc)
            return

        def remove(cid: str) -> None:
            try:
                self.client.api.remove_container(cid, force=True)
            except (requests.RequestException, docker.errors.APIError) as exc:
                log.warning("%s: could not remove container %s: %s", self.host, cid[:12], exc)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, ids))
