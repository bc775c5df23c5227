"""Which programs a container's image gives it.

Emulated containers run the Docker host's binaries (they have no root filesystem of
their own yet). Images built on busybox, `alpine` and `busybox` of any tag, add
busybox's applets to the PATH of their processes and execs, after the host's
directories: commands from tutorials that the host lacks (`nc -ll -p 80 -e hostname`,
`nslookup`, `httpd`) behave as in those images, and the host's own tools (`ip`,
`ping`) stay what they were. The applets are links to Debian's busybox-static, made
once per machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

BUSYBOX_IMAGES = ("alpine", "busybox")
APPLET_DIR = Path("/var/cache/cnm-emulator/busybox-applets")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_lock = threading.Lock()


def repository(image: str) -> str:
    """`docker.io/library/alpine:3.19@sha256:...` -> `alpine`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name.rsplit(":", 1)[0]
    for prefix in ("docker.io/library/", "library/", "docker.io/"):
        name = name.removeprefix(prefix)
    return name


def is_busybox_image(image: str) -> bool:
    return repository(image) in BUSYBOX_IMAGES


def process_env(image: str, env: Iterable[str]) -> dict[str, str]:
    """The environment a process of the container starts with, from its `KEY=VALUE`
    items: for a busybox image without a PATH of its own, the host's directories,
    then busybox's applets."""
    out = dict(item.partition("=")[::2] for item in env)
    if "PATH" not in out and is_busybox_image(image):
        out["PATH"] = f"{DEFAULT_PATH}:{applet_dir()}"
    return out


def applet_dir() -> Path:
    """The directory of busybox applet links (made on first use; a missing busybox
    says which package provides it)."""
    with _lock:
        if APPLET_DIR.is_dir():
            return APPLET_DIR
        busybox = shutil.which("busybox", path="/bin:/usr/bin")
        if busybox is None:
            raise FileNotFoundError("busybox is not installed (Debian package busybox-static; "
                                    "scripts/install.sh installs it)")
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        APPLET_DIR.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=APPLET_DIR.parent))
        for applet in applets:
            os.symlink(busybox, staging / applet)
        try:
            staging.rename(APPLET_DIR)
        except OSError:  # another process made it first
            shutil.rmtree(staging)
        return APPLET_DIR
