"""iperf3 between two lab namespaces, for experiments that measure throughput.

The server and the client run inside the namespaces of the given processes (see
`emulator.probes.namespaced`), never in the machine's own.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from emulator.probes.namespaced import popen_in, run_in

IPERF_PORT = 5201


def tcp_listening(pid: int, port: int) -> bool:
    """Whether a socket in the namespace of pid listens on TCP `port` (IPv4 or IPv6)."""
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False


def iperf3(server_pid: int, client_pid: int, server_ip: str, seconds: float,
           env: dict[str, str], udp_length: int | None = None) -> dict:
    """One iperf3 run (TCP, or UDP at full speed with `udp_length`-byte datagrams);
    the client's JSON report, which carries the receiver's CPU use too."""
    server = popen_in(server_pid, ["iperf3", "-s", "-1", "-J", "-p", str(IPERF_PORT)], env)
    try:
        deadline = time.monotonic() + 10
        while not tcp_listening(server.pid, IPERF_PORT):
            if server.poll() is not None:
                raise RuntimeError(f"iperf3 server exited: {server.stderr.read().strip()}")
            if time.monotonic() > deadline:
                raise RuntimeError("iperf3 server did not listen within 10 s")
            time.sleep(0.002)
        argv = ["iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t", str(seconds), "-J"]
        if udp_length is not None:
            argv += ["-u", "-l", str(udp_length), "-b", "0"]
        client = run_in(client_pid, argv, env, timeout=seconds + 30)
        report = json.loads(client.stdout)
        if "error" in report:
            raise RuntimeError(f"iperf3: {report['error']}")
        return report
    finally:
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
