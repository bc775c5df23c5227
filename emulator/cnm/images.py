"""Which root filesystem a container's image gives it, and its processes' environment.

There are no images to pull: the image name picks the root. `alpine` and `busybox`
of any tag (and any registry prefix) run on the busybox root (fabric/rootfs:
Debian's busybox-static with the images' applet links and users), so commands
from tutorials (`nc -ll -p 80 -e hostname`, `nslookup`, `httpd`) behave as in
those images. Every other name runs on a read-only view of the machine's root, so
the host's tools (iperf3, tcpdump, python3, the project's checkout) stay usable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from emulator.fabric.base import CONTAINER_PATH

BUSYBOX_IMAGES = ("alpine", "busybox")


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


def root_base(image: str) -> str:
    """"busybox" for the busybox root, "host" for the machine's root, read-only."""
    return "busybox" if is_busybox_image(image) else "host"


DEFAULT_COMMAND = ["sleep", "infinity"]
"""A container's command when none is given: it stays up, as experiments expect."""


def default_command(image: str, interactive: bool) -> list[str]:
    """The command of a container created without one. There is no image config to read
    it from: an interactive (`-i`/`-t`) alpine or busybox container gets the shell those
    images' CMD is, so `docker run -it alpine` is a prompt; anything else stays up."""
    if interactive and is_busybox_image(image):
        return ["/bin/sh"]
    return list(DEFAULT_COMMAND)


def process_env(image: str, env: Iterable[str]) -> dict[str, str]:
    """The environment a process of the container starts with, from its `KEY=VALUE`
    items (the PATH, unless given, is the images' own)."""
    out = dict(item.partition("=")[::2] for item in env)
    out.setdefault("PATH", CONTAINER_PATH)
    return out


def tagged(image: str) -> str:
    """`alpine` -> `alpine:latest`; a name with a tag or digest stays as it is."""
    name = image.split("@", 1)[0]
    return image if ":" in name.rsplit("/", 1)[-1] or "@" in image else f"{image}:latest"


def image_summaries(in_use: list[str]) -> list[dict[str, object]]:
    """`docker image ls`: the busybox images (alpine and busybox, always there) and every
    other image a container of this host names, each with the containers using it."""
    counts: dict[str, int] = {"alpine:latest": 0, "busybox:latest": 0}
    for image in in_use:
        if image:
            key = tagged(image)
            counts[key] = counts.get(key, 0) + 1
    out = []
    for tag, containers in counts.items():
        digest = hashlib.sha256(root_base(tag).encode() + b"\0" + tag.encode()).hexdigest()
        out.append({
            "Id": f"sha256:{digest}", "ParentId": "", "RepoTags": [tag], "RepoDigests": [],
            "Created": 0, "Size": 0, "SharedSize": -1, "Labels": {},
            "Containers": containers,
        })
    return out
