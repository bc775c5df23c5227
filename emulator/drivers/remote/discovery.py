"""Finding a plugin by name, as Docker does, in a host's plugin directory.

Docker looks for /run/docker/plugins/NAME.sock, then NAME.spec (a URL) or NAME.json
({"Name", "Addr"}) in /etc/docker/plugins; each emulated host has one directory
holding all three kinds (the lab's run directory: plugins/HOST/).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

from emulator.drivers.remote.client import PluginAddress, PluginError


def _from_url(name: str, url: str, source: Path) -> PluginAddress:
    parsed = urlparse(url.strip())
    if parsed.scheme == "unix" and parsed.path:
        return PluginAddress(name, unix=parsed.path)
    if parsed.scheme == "tcp" and parsed.hostname and parsed.port:
        return PluginAddress(name, tcp=(parsed.hostname, parsed.port))
    raise PluginError(f"{source}: unsupported plugin address {url.strip()!r} "
                      "(expected unix:///path or tcp://host:port)")


def discover(directory: Path | None, name: str) -> PluginAddress | None:
    """The address of plugin `name`, or None when there is none."""
    if directory is None or "/" in name or name.startswith("."):
        return None
    sock = directory / f"{name}.sock"
    if sock.is_socket():
        return PluginAddress(name, unix=str(sock))
    spec = directory / f"{name}.spec"
    if spec.is_file():
        return _from_url(name, spec.read_text(), spec)
    described = directory / f"{name}.json"
    if described.is_file():
        try:
            data = json.loads(described.read_text())
            return _from_url(name, data["Addr"], described)
        except (ValueError, KeyError, TypeError):
            raise PluginError(f"{described}: not a plugin description "
                              '({"Name": ..., "Addr": "unix:///..."})') from None
    return None
