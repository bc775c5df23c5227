"""Benchmark `bench-scale`: a thousand networks on one emulated Docker host.

Figures, in one run on one lab with one Docker host:
- network create latency (median of the last CREATES creates) at 10, 100 and
  1,000 networks, through the Python API;
- beside it, the host firewall's share of a change: the one transaction a create
  sends now, against the old approach measured at the same count (the whole
  ruleset rendered and loaded with one `nft -f`, `fullreload.py`);
- list and inspect latency (p50, p95) under 16 concurrent docker-py clients at 100
  networks: 12 read (network ls, network inspect, ps, inspect) while 4 write
  (network create, run, exec, rm -f, network rm);
- `lab down` of the lab with 1,000 networks, and how long the kernel goes on
  freeing the host's namespace afterwards (a link change anywhere on the machine
  waits for it meanwhile).
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network

from emulator.drivers.hostfirewall import BridgeRules, FirewallPart
from emulator.experiments import fullreload
from emulator.experiments.bench_bringup import bench_topology
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext
from emulator.lab import Lab

STEPS = (10, 100, 1000)
CREATES = 10
READERS, WRITERS, WRITER_ROUNDS = 12, 4, 8
TARGET_CREATE_RATIO = 2.0
TARGET_DOWN_S = 10.0
TARGET_LIST_P50_MS = 50.0
SLOW_PROBE_S = 0.5



def _subnet(i: int) -> str:
    return f"10.{i // 256}.{i % 256}.0/24"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def grow(host, made: list, count: int) -> list[float]:
    """Create networks until there are `count`; the latencies (ms) of the last CREATES."""
    latencies = []
    while len(made) < count:
        i = len(made) + 1
        started = time.perf_counter()
        made.append(host.networks.create(f"s{i}", subnet=_subnet(i)))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies[-CREATES:]


def firewall_change_ms(engine) -> float:
    """The new way: the transaction a create sends, then the one its removal sends."""
    firewall = engine.firewall
    part = FirewallPart((BridgeRules("br-benchprobe", IPv4Network("10.250.0.0/24"), False,
                                     True, True),))
    samples = []
    for _ in range(CREATES):
        started = time.perf_counter()
        firewall.contribute("bench-scale probe", part)
        samples.append((time.perf_counter() - started) * 1000)
        firewall.withdraw("bench-scale probe")
    return statistics.median(samples)


def old_reload_ms(made: list, scratch, ctx: RunContext) -> float:
    rules = [BridgeRules("docker0", IPv4Network("172.17.0.0/16"), False, True, True)]
    rules += [BridgeRules(n.bridge, IPv4Network(n.inspect()["IPAM"]["Config"][0]["Subnet"]),
                          False, True, True) for n in made]
    return statistics.median(fullreload.reload_seconds(rules, scratch, ctx.dir) * 1000
                             for _ in range(3))


def concurrent_clients(url: str, anchor: str, target: str) -> dict[str, list[float]]:
    """READERS clients read while WRITERS clients change the host; latencies (ms) by
    operation, each client with its own docker-py connection."""
    import docker

    samples: dict[str, list[float]] = {}
    lock = threading.Lock()
    writers_done = threading.Event()

    def timed(op: str, call: Callable[[], object]) -> None:
        started = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            samples.setdefault(op, []).append(elapsed)

    def reader(index: int) -> None:
        client = docker.APIClient(base_url=url, version="1.45")
        reads = [("network ls", client.networks),
                 ("network inspect", lambda: client.inspect_network(anchor)),
                 ("ps", lambda: client.containers(all=True)),
                 ("inspect", lambda: client.inspect_container(target))]
        turn = index
        while not writers_done.is_set():
            timed(*reads[turn % len(reads)])
            turn += 1
        client.close()

    def writer(index: int) -> None:
        client = docker.APIClient(base_url=url, version="1.45")
        for r in range(WRITER_ROUNDS):
            net, name = f"w{index}-{r}", f"wc{index}-{r}"
            pool = docker.types.IPAMPool(subnet=f"10.{200 + index}.{r}.0/24")
            timed("network create", lambda net=net, pool=pool: client.create_network(
                net, ipam=docker.types.IPAMConfig(pool_configs=[pool])))

            def run(net: str = net, name: str = name) -> None:
                created = client.create_container(
                    "alpine", ["sleep", "infinity"], name=name,
                    host_config=client.create_host_config(network_mode=net))
                client.start(created["Id"])

            timed("run", run)
            timed("exec", lambda name=name: client.exec_start(
                client.exec_create(name, ["true"])["Id"]))
            timed("rm -f", lambda name=name: client.remove_container(name, force=True))
            timed("network rm", lambda net=net: client.remove_network(net))
        client.close()

    with ThreadPoolExecutor(max_workers=READERS + WRITERS) as pool:
        readers = [pool.submit(reader, i) for i in range(READERS)]
        writers = [pool.submit(writer, i) for i in range(WRITERS)]
        try:
            for future in writers:
                future.result()
        finally:
            writers_done.set()
        for future in readers:
            future.result()
    return samples


def _rtnl_probe_s() -> float:
    """How long one link change takes, in a namespace made for it and dropped after."""
    started = time.perf_counter()
    subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], check=True)
    return time.perf_counter() - started


def kernel_busy_after_down(window_s: float = 3.0, limit_s: float = 60.0) -> float:
    """Seconds after `lab down` during which link changes on the machine wait: the
    kernel frees the host's namespace and its bridges in the background. Probes
    back to back until one that waited has been followed by one that did not, or
    none has waited for `window_s`."""
    started = time.perf_counter()
    busy_until = 0.0
    while time.perf_counter() - started < limit_s:
        took = _rtnl_probe_s()
        now = time.perf_counter() - started
        if took >= SLOW_PROBE_S:
            busy_until = now
        elif busy_until or now >= window_s:
            break
    return busy_until


def measure(lab: Lab, ctx: RunContext) -> dict[str, object]:
    """The steps of networks, with the 16 clients at 100; the lab stays up."""
    figures: dict[str, object] = {"steps": []}
    host = lab.host("h1")
    scratch = host.containers.run("nft-scratch", network="none")
    made: list = []
    for step in STEPS:
        latencies = grow(host, made, step)
        create_ms = statistics.median(latencies)
        new_ms = firewall_change_ms(host.engine)
        old_ms = old_reload_ms(made, scratch, ctx)
        ctx.progress(f"{step} networks: create {create_ms:.1f} ms (median of {CREATES}); "
                     f"firewall per change {new_ms:.2f} ms, the old full reload {old_ms:.1f} ms")
        figures["steps"].append({
            "networks": step, "create_ms": round(create_ms, 3),
            "create_p95_ms": round(_percentile(latencies, 0.95), 3),
            "firewall_change_ms": round(new_ms, 3), "old_full_reload_ms": round(old_ms, 3)})
        if step == 100:
            target = host.containers.run("target", network=made[0].name)
            samples = concurrent_clients(lab.docker_host_url("h1"), made[0].name, target.name)
            figures["clients"] = {
                op: {"n": len(v), "p50_ms": round(statistics.median(v), 2),
                     "p95_ms": round(_percentile(v, 0.95), 2)}
                for op, v in sorted(samples.items())}
            ctx.progress(f"{READERS + WRITERS} clients at 100 networks: " + "; ".join(
                f"{op} p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms"
                for op, s in figures["clients"].items()))
    return figures


def run_scale(ctx: RunContext) -> dict[str, object]:
    lab = Lab(bench_topology(f"bs{ctx.run_id[-4:]}", 1))
    lab.start()
    try:
        figures = measure(lab, ctx)
    except BaseException:
        lab.stop()
        raise
    started = time.perf_counter()
    lab.stop()
    figures["down_s"] = time.perf_counter() - started
    figures["kernel_busy_s"] = kernel_busy_after_down()
    ctx.progress(f"lab down with {STEPS[-1]} networks: {figures['down_s']:.2f} s; the kernel "
                 f"went on freeing the namespace for {figures['kernel_busy_s']:.1f} s")
    return figures


@register("bench-scale", "network create at 10/100/1,000 networks, lab down of 1,000, "
          "list/inspect under 16 clients", kind="benchmark")
def run(ctx: RunContext) -> Outcome:
    figures = run_scale(ctx)
    steps = {row["networks"]: row for row in figures["steps"]}
    clients = figures["clients"]
    ctx.write_rows("creates.csv", figures["steps"])
    ctx.write_rows("clients.csv", [{"operation": op, **s} for op, s in clients.items()])
    ratio = steps[1000]["create_ms"] / steps[10]["create_ms"]
    checks = [
        Check("create", "create at 1,000 networks / create at 10", f"<= {TARGET_CREATE_RATIO}",
              f"{ratio:.2f} ({steps[1000]['create_ms']:.1f} / {steps[10]['create_ms']:.1f} ms)",
              ratio <= TARGET_CREATE_RATIO),
        Check("lab down", "seconds to take down the lab with 1,000 networks",
              f"<= {TARGET_DOWN_S}", f"{figures['down_s']:.2f}",
              figures["down_s"] <= TARGET_DOWN_S),
    ]
    for op in ("network ls", "ps"):
        checks.append(Check("clients", f"p50 {op} under 16 clients (ms)",
                            f"<= {TARGET_LIST_P50_MS}", f"{clients[op]['p50_ms']:.1f}",
                            clients[op]["p50_ms"] <= TARGET_LIST_P50_MS))
    ok = all(c.ok for c in checks)
    ctx.write_checks(checks, "targets.csv")
    table = ["| networks | create ms (median) | create ms (p95) | firewall per change ms | "
             "old full reload ms |", "|---|---|---|---|---|"]
    table += [f"| {r['networks']} | {r['create_ms']:.1f} | {r['create_p95_ms']:.1f} | "
              f"{r['firewall_change_ms']:.2f} | {r['old_full_reload_ms']:.1f} |"
              for r in figures["steps"]]
    table += ["", "| operation (16 clients, 100 networks) | n | p50 ms | p95 ms |",
              "|---|---|---|---|"]
    table += [f"| {op} | {s['n']} | {s['p50_ms']} | {s['p95_ms']} |"
              for op, s in clients.items()]
    headline = (f"create {steps[10]['create_ms']:.1f} ms at 10 networks, "
                f"{steps[1000]['create_ms']:.1f} ms at 1,000 (the old full reload alone: "
                f"{steps[1000]['old_full_reload_ms']:.0f} ms); lab down of 1,000 in "
                f"{figures['down_s']:.1f} s; p50 network ls under 16 clients "
                f"{clients['network ls']['p50_ms']:.0f} ms")
    summary = ("# bench-scale\n\n" + headline + ".\n\n" + "\n".join(table) + "\n\n"
               f"After lab down the kernel went on freeing the host's namespace for "
               f"{figures['kernel_busy_s']:.1f} s (link changes on the machine wait "
               "meanwhile).\n\n"
               + "\n".join(f"- {c.what}: expected {c.expected}, observed {c.observed} — "
                           f"{'ok' if c.ok else 'MISSED'}" for c in checks) + "\n")
    ctx.detail(summary)  # already in summary.md
    outcome = Outcome(ok, headline, checks, {
        "create_10_ms": steps[10]["create_ms"], "create_100_ms": steps[100]["create_ms"],
        "create_1000_ms": steps[1000]["create_ms"],
        "old_reload_1000_ms": steps[1000]["old_full_reload_ms"],
        "down_1000_s": figures["down_s"], "kernel_busy_after_down_s": figures["kernel_busy_s"],
        "network_ls_p50_ms": clients["network ls"]["p50_ms"], "ps_p50_ms": clients["ps"]["p50_ms"],
    })
    ctx.finish(outcome, summary)
    return outcome
