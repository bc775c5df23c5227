"""Scope: a local network is one host's own; a global one is the same on every host."""

from __future__ import annotations

from emulator.conformance.checks.common import expect
from emulator.conformance.context import CheckContext, cells, not_reached, reached
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import CONNECTIVITY, NETWORKS, Target
from emulator.errdefs import DockerError
from emulator.probes import ALL_PROTOCOLS


def _local(target: Target) -> str | None:
    missing = target.caps.missing(NETWORKS, CONNECTIVITY)
    if missing:
        return missing
    if target.caps.multi_host:
        return (f"the driver's networks span Docker hosts (scope {target.caps.scope}): "
                "CNM-SCOPE-02 applies")
    if target.caps.connectivity != "local":
        return ("the driver's data scope is local but its connectivity scope is "
                f"{target.caps.connectivity} (its networks meet on a LAN that spans hosts, "
                "as Docker's macvlan does)")
    return None


def _global(target: Target) -> str | None:
    missing = target.caps.missing(NETWORKS, CONNECTIVITY)
    if missing:
        return missing
    if not target.caps.multi_host:
        return ("local scope: each Docker host's networks are its own (CNM-SCOPE-01 "
                "applies)")
    return None


@check("CNM-SCOPE-01", "a local-scope network is its host's own: same-name networks with "
       "the same subnet on two Docker hosts are distinct and exchange no packets", _local)
def local_scope(ctx: CheckContext) -> None:
    first, second = ctx.hosts[0], ctx.second
    name = f"ck-{ctx.name('same')}"
    n1 = ctx.network("same", host=first, name=name)
    n2 = ctx.network("same", host=second, name=name)
    expect(n1.id != n2.id, f"{name} on {first} and on {second} have the same ID {n1.id[:12]}")
    a = ctx.run("a", name, host=first)
    b = ctx.run("b", name, host=second)
    c = ctx.run("c", name, host=second)
    listed = {h: sorted(x["Name"] for x in n.inspect()["Containers"].values())  # type: ignore
              for h, n in ((first, n1), (second, n2))}
    expect(listed == {first: [a.name], second: sorted([b.name, c.name])},
           f"each host's {name} should list its own containers only: {listed}")
    targets = [ctx.probe_target(x) for x in (a, b, c)]
    results = ctx.probe(targets, targets, ALL_PROTOCOLS)
    # a and b hold the same address, each on its own host: only a probing c's tells.
    crossed = [r for r in reached(results) if (r.source, r.target) == (a.name, c.name)]
    expect(not crossed, f"same-name networks on {first} and {second} exchange packets: "
           + cells(crossed))
    control = [r for r in not_reached(results) if {r.source, r.target} == {b.name, c.name}]
    expect(not control, "the control failed (containers of one host's network do not reach "
           "each other): " + cells(control))


@check("CNM-SCOPE-02", "a global-scope network made on one Docker host is the same network "
       "on every host: same ID, each address handed out once, containers on different hosts "
       "reach each other", _global)
def global_scope(ctx: CheckContext) -> None:
    first, second = ctx.hosts[0], ctx.second
    net = ctx.network("n", host=first)
    a = ctx.run("a", net.name, host=first)
    b = ctx.run("b", net.name, host=second)
    c = ctx.run("c", net.name, host=second)
    try:
        there = ctx.host(second).networks.get(net.name)
    except DockerError as exc:
        raise CheckFailed(f"{second} does not know {net.name}: {exc.message}") from None
    expect(there.id == net.id, f"{net.name} has ID {net.id[:12]} on {first} and "
           f"{there.id[:12]} on {second}")
    addresses = {x.name: x.ip(net.name) for x in (a, b, c)}
    expect(len(set(addresses.values())) == 3, f"an address was handed out twice: {addresses}")
    targets = [ctx.probe_target(x) for x in (a, b, c)]
    failed = not_reached(ctx.probe(targets, targets, ALL_PROTOCOLS))
    expect(not failed, "containers on different hosts do not reach each other: "
           + cells(failed))
