"""The `host-ports` experiment: port conflicts in host mode, none in bridge mode.

Two containers on `--network host` share the Docker host's sockets, so a second
listener on the same port fails with EADDRINUSE; two containers on a bridge
each have their own namespace and both bind. Recorded as data, one row per bind.
"""

from __future__ import annotations

from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext, checks_table_md
from emulator.lab import Lab

PORT = 8080
LISTEN = (
    "import socket\n"
    f"s = socket.socket(); s.bind(('0.0.0.0', {PORT})); s.listen()\n"
    "s.accept()\n"
)
BIND = (
    "import socket\n"
    "s = socket.socket()\n"
    "try:\n"
    f"    s.bind(('0.0.0.0', {PORT})); print('bound')\n"
    "except OSError as exc:\n"
    "    print(exc.strerror); raise SystemExit(1)\n"
)


def _wait_listening(container) -> None:
    for _ in range(300):
        if container.exec(["ss", "-ltnH", f"sport = :{PORT}"]).stdout.strip():
            return
    raise RuntimeError(f"the listener on port {PORT} never appeared")


def host_port_checks(lab: Lab) -> list[Check]:
    h1 = lab.host("h1")
    checks = []
    for mode, expected in (("host", "Address already in use"), ("bridge", "bound")):
        first = h1.containers.run(f"{mode}-first", network=mode,
                                  command=["python3", "-c", LISTEN])
        second = h1.containers.run(f"{mode}-second", network=mode)
        _wait_listening(first)
        done = second.exec(["python3", "-c", BIND])
        checks.append(Check(mode, f"second bind of port {PORT} while the first listens",
                            expected, done.stdout.strip(), done.stdout.strip() == expected,
                            f"exit {done.exit_code}"))
        first.remove(force=True)
        second.remove(force=True)
    return checks


@register("host-ports", "port conflicts: real in host mode, absent in bridge mode")
def run(ctx: RunContext) -> Outcome:
    with Lab.default(f"hp{ctx.run_id[-4:]}") as lab:
        checks = host_port_checks(lab)
    ctx.write_checks(checks, "binds.csv")
    ok = all(c.ok for c in checks)
    headline = "; ".join(f"{c.step} mode: {c.observed}" for c in checks)
    outcome = Outcome(ok, headline, checks)
    ctx.finish(outcome, "# host-ports\n\n" + headline + ".\n\n" + checks_table_md(checks))
    return outcome
