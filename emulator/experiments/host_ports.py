"""The `host-ports` experiment: port conflicts in host mode, none in bridge mode,
except for published ports.

Two containers on `--network host` share the Docker host's sockets, so a second
listener on the same port fails with EADDRINUSE; two containers on a bridge
each have their own namespace and both bind. Publishing is the host's again:
a second container asking for a host port already published (`-p 8080:80`
twice) is refused at its start with Docker's "port is already allocated",
while the same container port on another host port is fine. Recorded as data,
one row per bind or publish.
"""

from __future__ import annotations

import docker

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
    return checks + publish_checks(lab)


def publish_checks(lab: Lab) -> list[Check]:
    """`docker run -p HOSTPORT:80` after a container published HOSTPORT, through the
    Engine API (docker-py), as a user would meet it."""
    client = lab.host("h1").client
    checks = []
    first = client.containers.run("busybox", ["sleep", "300"], name="publish-first",
                                  ports={"80/tcp": PORT}, detach=True)
    try:
        for step, host_port, expected in (
                ("bridge -p same host port", PORT, "port is already allocated"),
                ("bridge -p other host port", PORT + 1, "published")):
            try:
                second = client.containers.run("busybox", ["sleep", "300"],
                                               name="publish-second",
                                               ports={"80/tcp": host_port}, detach=True)
                second.reload()
                observed, detail = "published", f"{second.ports}"
            except docker.errors.APIError as exc:
                message = str(exc.explanation or exc)
                observed, detail = message.rpartition(": ")[2], message
            checks.append(Check(step, f"a second container publishing port {host_port}",
                                expected, observed, observed == expected, detail))
            client.containers.get("publish-second").remove(force=True)
    finally:
        first.remove(force=True)
    return checks


@register("host-ports", "port conflicts: real in host mode and for published ports, absent "
                        "in bridge mode")
def run(ctx: RunContext) -> Outcome:
    with Lab.default(f"hp{ctx.run_id[-4:]}") as lab:
        checks = host_port_checks(lab)
    ctx.write_checks(checks, "binds.csv")
    ok = all(c.ok for c in checks)
    headline = "; ".join(f"{c.step}{' mode' if c.step in ('host', 'bridge') else ''}: "
                         f"{c.observed}" for c in checks)
    outcome = Outcome(ok, headline, checks)
    ctx.finish(outcome, "# host-ports\n\n" + headline + ".\n\n" + checks_table_md(checks))
    return outcome
