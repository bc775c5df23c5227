"""The background process behind `cnm lab up`: it owns one lab until told to stop.

Started detached by the CLI, it builds the lab, reports `ready` (or the error)
on a pipe the CLI waits on, then sleeps in sigwait until SIGTERM, SIGINT or
SIGHUP, and removes the lab.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from emulator.lab.lab import Lab
from emulator.topology import default_topology, read_topology


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnm-lab-daemon")
    parser.add_argument("--topology")
    parser.add_argument("--name")
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args(argv)
    stop_signals = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    os.set_inheritable(args.ready_fd, False)  # or every container would hold the CLI's pipe
    ready = os.fdopen(args.ready_fd, "w")
    try:
        topology = read_topology(args.topology) if args.topology else default_topology()
        lab = Lab(topology, args.name)
        lab.start()
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the waiting CLI
        ready.write(f"error: {exc}\n")
        ready.close()
        return 1
    ready.write(f"ready {lab.name}\n")
    ready.close()
    try:
        signal.sigwait(stop_signals)
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
