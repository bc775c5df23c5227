"""The `tour` experiment: Docker's networking walkthrough, replayed and checked.

Each step does what the walkthrough does (`docker network ls`, `docker run
--network host|none|bridge`, two user bridges, a second listener on a port in
host mode) and records what the emulated host really showed next to what
Docker shows.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext, checks_table_md
from emulator.lab import Lab
from emulator.lab.dockerhost import DockerHost

LISTEN_8080 = (
    "import socket\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 8080))\n"
    "s.listen()\n"
    "print('listening', flush=True)\n"
    "s.accept()\n"
)
BIND_8080 = (
    "import socket\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "try:\n"
    "    s.bind(('0.0.0.0', 8080))\n"
    "    print('bound')\n"
    "except OSError as exc:\n"
    "    print(exc.strerror)\n"
    "    raise SystemExit(1)\n"
)


def _links(result_stdout: str) -> list[str]:
    return sorted(line.split()[0].split("@")[0] for line in result_stdout.splitlines() if line)


def _ping(container, target: str) -> bool:
    return container.exec(["ping", "-c", "1", "-W", "1", target]).exit_code == 0


def _wait_listening(container) -> None:
    """Wait until the container's listener shows in the socket table (ss reads the kernel)."""
    for _ in range(200):
        out = container.exec(["ss", "-ltnH", "sport = :8080"]).stdout
        if out.strip():
            return
    raise RuntimeError("listener on port 8080 never appeared")


def tour_checks(lab: Lab) -> list[Check]:
    h1: DockerHost = lab.host("h1")
    checks: list[Check] = []

    def check(step: str, what: str, expected: object, observed: object, evidence: str = "") -> None:
        checks.append(Check(step, what, str(expected), str(observed), expected == observed,
                            evidence.strip()[:300]))

    nets = {(n.name, n.inspect()["Driver"], n.inspect()["Scope"]) for n in h1.networks.list()}
    check("1 network ls", "predefined networks", "bridge/bridge, host/host, none/null (local)",
          ", ".join(f"{n}/{d}" for n, d, _ in sorted(nets)) + " (local)"
          if all(s == "local" for *_, s in nets) else sorted(nets))

    host_links = _links(h1.exec(["ip", "-br", "link"]).stdout)
    on_host = h1.containers.run("container-host-net", network="host")
    seen = _links(on_host.exec(["ip", "-br", "link"]).stdout)
    check("2 --network host", "container sees the Docker host's interfaces",
          " ".join(host_links), " ".join(seen))

    on_none = h1.containers.run("container-none", network="none")
    check("3 --network none", "only loopback", "lo",
          " ".join(_links(on_none.exec(["ip", "-br", "link"]).stdout)))

    on_bridge = h1.containers.run("container-bridge", network="bridge")
    addr = on_bridge.ip()
    in_range = addr is not None and addr in IPv4Network("172.17.0.0/16")
    check("4 --network bridge", "eth0 address in 172.17.0.0/16", True, in_range, str(addr))
    route = on_bridge.exec(["ip", "route", "show", "default"]).stdout
    check("4 --network bridge", "default route", "via 172.17.0.1 dev eth0",
          " ".join(route.split()[1:5]), route)
    check("4 --network bridge", "reaches the outside host (masquerade)", True,
          _ping(on_bridge, str(lab.outside_address)))

    h1.networks.create("front")
    h1.networks.create("back")
    web = h1.containers.run("web", network="front")
    db = h1.containers.run("db", network="front")
    api = h1.containers.run("api", network="back")
    check("5 user bridge", "web -> db on the same network (ping)", True, _ping(web, str(db.ip())))
    check("6 two bridges", "web (front) -> api (back) (ping)", False, _ping(web, str(api.ip())))
    check("6 two bridges", "api (back) -> web (front) (ping)", False, _ping(api, str(web.ip())))

    h1.containers.run("listener-1", network="host", command=["python3", "-c", LISTEN_8080])
    _wait_listening(on_host)
    second = on_host.exec(["python3", "-c", BIND_8080])
    check("7 host ports", "second bind of port 8080 in host mode", "Address already in use",
          second.stdout.strip(), f"exit {second.exit_code}")
    bridged = on_bridge.exec(["python3", "-c", BIND_8080])
    check("7 host ports", "bind of 8080 in a bridge container meanwhile", "bound",
          bridged.stdout.strip())
    return checks


@register("tour", "Docker's networking walkthrough on the default lab, step by step",
          params=("lab",))
def run(ctx: RunContext) -> Outcome:
    ctx.progress("bringing up the default lab")
    with Lab.default(str(ctx.params.get("lab") or f"tour{ctx.run_id[-4:]}")) as lab:
        ctx.progress("replaying the walkthrough on h1")
        checks = tour_checks(lab)
    ok = all(c.ok for c in checks)
    ctx.write_checks(checks)
    bad = sum(1 for c in checks if not c.ok)
    headline = f"{len(checks) - bad}/{len(checks)} walkthrough checks as Docker"
    summary = f"# tour\n\n{headline}.\n\n" + checks_table_md(checks)
    outcome = Outcome(ok, headline, checks)
    ctx.finish(outcome, summary)
    return outcome
