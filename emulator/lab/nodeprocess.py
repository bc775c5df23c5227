"""Programs the lab runs on its nodes (dnsmasq for DHCP on the router, for DNS on
outside, udhcpc on LAN hosts): started in a node's namespace, and a server waited
for until it listens, or until it dies with the last line of its log."""

from __future__ import annotations

import time
from pathlib import Path

from emulator.fabric.netns import Namespace
from emulator.fabric.processes import ProcessId, exit_status, spawn

SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def spawn_in(pid: int, argv: list[str], env: dict[str, str], log: Path | None) -> ProcessId:
    """Start argv in the network namespace of process `pid`."""
    ns = Namespace.of_pid(pid)
    try:
        with ns.entered():
            return spawn(argv, {"PATH": SEARCH_PATH, **env}, log)
    finally:
        ns.close()


def udp_listening(pid: int, port: int) -> bool:
    """Whether a socket in the namespace of pid is bound to UDP `port`."""
    for line in Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]:
        local = line.split()[1]
        if int(local.rsplit(":", 1)[1], 16) == port:
            return True
    return False


def last_log_line(log: Path) -> str:
    try:
        return log.read_text().strip().splitlines()[-1]
    except (FileNotFoundError, IndexError):
        return "no log"


def start_udp_server(node_pid: int, argv: list[str], env: dict[str, str], log: Path,
                     port: int, what: str, error: type[Exception],
                     timeout: float) -> ProcessId:
    """Start a server on a node and return once it listens on UDP `port`; raise `error`
    if it exits first (with its log's last line) or does not listen in time."""
    process = spawn_in(node_pid, argv, env, log)
    deadline = time.monotonic() + timeout
    while not udp_listening(node_pid, port):
        status = exit_status(process.pid)
        if status is not None:
            raise error(f"{what} exited with status {status}: {last_log_line(log)}")
        if time.monotonic() > deadline:
            raise error(f"{what} did not listen on UDP {port} within {timeout:.0f} s")
        time.sleep(0.005)
    return process
