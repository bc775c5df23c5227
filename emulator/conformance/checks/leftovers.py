"""What remains: nothing after a delete, nothing after a failed request."""

from __future__ import annotations

from emulator.cnm.endpoints import AttachRequest
from emulator.conformance.checks.common import expect, needs, refused_container_gone
from emulator.conformance.context import CheckContext
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import INTERNAL, KERNEL, NETWORKS
from emulator.errdefs import DockerError

TAKEN = "Address already in use"


@check("CNM-KERN-01", "nothing of a deleted network remains in the Docker hosts' kernels: "
       "links, addresses, routes, rules, firewall rules and sockets are as before",
       needs(NETWORKS, KERNEL))
def nothing_remains(ctx: CheckContext) -> None:
    before = ctx.snapshots()
    nets = [ctx.network("n")]
    if not ctx.target.caps.missing(INTERNAL):
        nets.append(ctx.network("i", 1, internal=True))
    made = []
    for k, net in enumerate(nets):
        made.append(("h1", ctx.run(f"a{k}", net.name)))
        made.append((ctx.spread, ctx.run(f"b{k}", net.name, host=ctx.spread)))
    for host, container in made:
        container.remove(force=True)
        ctx.forget_container(host, container.name)
    for net in nets:
        ctx.remove_network(net)
    left = ctx.unchanged(before)
    expect(not left, "the deleted networks left kernel state behind: " + " | ".join(left))


@check("CNM-RB-01", "a request that fails part-way leaves nothing behind: the error is "
       "reported and the networks, endpoints, addresses and kernel are as they were",
       needs(NETWORKS, KERNEL))
def rollback(ctx: CheckContext) -> None:
    hosts = sorted({"h1", ctx.spread})
    target = ctx.target
    s0, s1 = ctx.subnet(0), ctx.subnet(1)
    # 1. A network the driver refuses (an option value it cannot take).
    if target.bad_option is not None:
        option, value = target.bad_option
        before = ctx.snapshots(hosts)
        try:
            bad = ctx.network("bad", 0, options={option: value})
        except DockerError as exc:
            expect(bool(exc.message.strip()), "the refused network create gave no error text")
            names = {n.name for n in ctx.host().networks.list()}
            expect(f"ck-{ctx.name('bad')}" not in names,
                   "the refused network is listed: " + exc.message)
            left = ctx.unchanged(before)
            expect(not left, f"the refused network create ({exc.message}) left kernel state "
                   "behind: " + " | ".join(left))
        else:
            ctx.notes.append(f"the driver accepted {option}={value}")
            ctx.remove_network(bad)
    # 2. The refused network's subnet is free again; a join that fails in the driver.
    try:
        n1 = ctx.network("a", 0)
    except DockerError as exc:
        raise CheckFailed(f"subnet {s0} is not free after the refused create: "
                          f"{exc.message}") from None
    n2 = ctx.network("b", 1)
    before = ctx.snapshots(hosts)
    holder, error = ctx.try_run("h", n2.name, ip=str(s1[10]))
    if holder is None:
        # The driver failed the join itself: that failure must be undone completely.
        expect(bool(error.message.strip()), "the failed join gave no error text")
        refused_container_gone(ctx, ctx.name("h"))
        expect(not n2.inspect()["Containers"], "the failed join left an endpoint in "
               f"{n2.name}")
        left = ctx.unchanged(before)
        expect(not left, f"the failed join ({error.message}) left kernel state behind: "
               + " | ".join(left))
        ctx.notes.append(f"a join failed in the driver and was undone: {error.message}")
        return
    # 3. A container whose first join succeeds and whose second one is refused: the
    #    first must be undone (Leave, DeleteEndpoint) and its address freed.
    before = ctx.snapshots(hosts)
    requests = [AttachRequest(n1.name, str(s0[5])), AttachRequest(n2.name, str(s1[10]))]
    made, error = ctx.try_run("x", networks=requests)
    if made is not None:
        raise CheckFailed(f"a container was run with {s1[10]}, which {holder.name} holds")
    expect(TAKEN in error.message, f"the refusal was {error.message!r}, not Docker's {TAKEN!r}")
    refused_container_gone(ctx, ctx.name("x"))
    expect(not n1.inspect()["Containers"], f"the refused container left an endpoint in "
           f"{n1.name}")
    left = ctx.unchanged(before)
    expect(not left, "the refused container left kernel state behind: " + " | ".join(left))
    again, error = ctx.try_run("y", n1.name, ip=str(s0[5]))
    expect(again is not None, f"{s0[5]} was not released by the refused container: "
           f"{error.message if error else ''}")
