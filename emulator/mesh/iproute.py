"""The only code of the mesh that touches the kernel: iproute2's `ip` and `bridge`.

Every command runs in the calling process's network namespace (the emulated Docker
host the daemon was launched in). Several steps go to one `ip -batch` process where
they can, because each process costs a few milliseconds.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable

MISSING = ("Cannot find device", "does not exist", "No such file or directory",
           "No such device")


class IprouteError(RuntimeError):
    """An `ip` or `bridge` command failed; the message is the command and its error."""


def run(tool: str, args: Iterable[str], missing_ok: bool = False) -> str:
    argv = [tool, *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise IprouteError(f"{tool}: not found (mesh needs iproute2)") from None
    if done.returncode != 0:
        error = (done.stderr or done.stdout).strip()
        if missing_ok and any(text in error for text in MISSING):
            return ""
        raise IprouteError(f"{' '.join(argv)}: {error or f'exit status {done.returncode}'}")
    return done.stdout


def ip(*args: str, missing_ok: bool = False) -> str:
    return run("ip", args, missing_ok)


def bridge(*args: str, missing_ok: bool = False) -> str:
    return run("bridge", args, missing_ok)


def batch(tool: str, lines: list[str], force: bool = False) -> None:
    """Run several commands in one process. With force, every line is tried and errors
    are ignored (for removals of what may already be gone)."""
    if not lines:
        return
    argv = [tool, *(["-force"] if force else []), "-batch", "-"]
    done = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0 and not force:
        raise IprouteError(f"{tool} -batch: {(done.stderr or done.stdout).strip()}")


def ip_json(*args: str) -> list[dict]:
    out = ip("-j", *args)
    return json.loads(out) if out.strip() else []


def link_exists(name: str) -> bool:
    """(Not /sys/class/net: sysfs shows the namespace it was mounted in, and the emulated
    hosts share the machine's mounts.)"""
    return bool(ip("-o", "link", "show", "dev", name, missing_ok=True).strip())


def links() -> list[dict]:
    """Every link of this namespace, with its kind (`ip -d -j link show`)."""
    return ip_json("-d", "link", "show")


def default_route_device() -> str | None:
    for route in ip_json("-4", "route", "show", "default"):
        if route.get("dev"):
            return str(route["dev"])
    return None


def ipv4_addresses() -> list[tuple[str, str, int]]:
    """(address, device, device MTU) of every global IPv4 address in this namespace."""
    found = []
    for link in ip_json("-4", "addr", "show"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet" and info.get("scope") == "global":
                found.append((str(info["local"]), str(link["ifname"]), int(link.get("mtu", 1500))))
    return found
