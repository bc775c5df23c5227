"""The container's interface itself: its MTU on every endpoint, its MAC unique."""

from __future__ import annotations

from emulator.conformance.checks.common import expect, needs
from emulator.conformance.context import MANAGER, CheckContext, sandbox_links
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import (
    CONNECTIVITY,
    DOCKER_MTU_OPTION,
    INTERFACES,
    MTU,
    NETWORKS,
)
from emulator.probes.datagrams import IPV4, UDP, Endpoint, Sender

CONFIGURED_MTU = 1400
MEMBERS = 3  # on the option's network: "every second endpoint" shows in three


def _members(ctx: CheckContext, net, suffix: str, count: int) -> list:
    """`count` containers on `net`, every second one on the spread host."""
    return [ctx.run(f"{suffix}{k}", net.name, host=ctx.spread if k % 2 else MANAGER)
            for k in range(count)]


def _default_mtu(ctx: CheckContext) -> tuple[int, str]:
    """The MTU the driver documents without the option, and where it comes from."""
    wanted = ctx.target.default_mtu
    if wanted == "parent":
        parent = ctx.target.network_options.get("parent", "")
        done = ctx.host().exec(["ip", "-o", "link", "show", "dev", parent])
        fields = done.stdout.split()
        if "mtu" not in fields:
            raise CheckFailed(f"the parent link {parent} of {ctx.host().name} has no MTU: "
                              f"{done.stderr.strip()}")
        return int(fields[fields.index("mtu") + 1]), f"the parent {parent}'s MTU"
    return int(wanted), f"the {ctx.target.driver} driver's default"


def _df_crosses(a, b, net, size: int) -> str:
    """'' if a datagram of `size` bytes (IP) with don't-fragment set goes from a to b,
    else what happened to it."""
    sender = Sender(Endpoint(a.pid, str(a.ip(net.name))), Endpoint(b.pid, str(b.ip(net.name))))
    try:
        outcome, _ = sender.send(size - IPV4 - UDP, dont_fragment=True)
    finally:
        sender.close()
    return "" if outcome == "delivered" else outcome


@check("CNM-MTU-02", f"every endpoint's interface has the network's MTU ({DOCKER_MTU_OPTION}, "
       "else the driver's documented default), and datagrams of that size with "
       "don't-fragment set cross both ways", needs(NETWORKS, CONNECTIVITY, INTERFACES))
def interface_mtu(ctx: CheckContext) -> None:
    plans = []
    if not ctx.target.caps.missing(MTU):
        net = ctx.network("o", 0, options={DOCKER_MTU_OPTION: str(CONFIGURED_MTU)})
        plans.append((net, CONFIGURED_MTU, f"the network's {DOCKER_MTU_OPTION}",
                      _members(ctx, net, "o", MEMBERS)))
    else:
        ctx.notes.append(f"{DOCKER_MTU_OPTION} not checked: {ctx.target.caps.missing(MTU)}")
    default, source = _default_mtu(ctx)
    plain = ctx.network("d", 1)
    plans.append((plain, default, source, _members(ctx, plain, "d", 2)))
    ctx.ready((m.name, m.pid) for _, _, _, members in plans for m in members)
    wrong, lost = [], []
    for net, wanted, source, members in plans:
        mtus = {}
        for m in members:
            ifname = ctx.ifname(m, net)
            mtus[m.name] = sandbox_links(m)[ifname][1]
            if mtus[m.name] != wanted:
                wrong.append(f"{m.name}'s {ifname} on {net.name} has MTU {mtus[m.name]}, not "
                             f"{wanted} ({source})")
        first = members[0]
        for other in members[1:]:
            for a, b in ((first, other), (other, first)):
                outcome = _df_crosses(a, b, net, mtus[a.name])
                if outcome:
                    lost.append(f"{a.name} -> {b.name}: {mtus[a.name]} bytes {outcome}")
    message = []
    if wrong:
        message.append("interface MTUs differ from the network's: " + "; ".join(wrong))
    if lost:
        message.append("datagrams of the sender's interface MTU with don't-fragment set do "
                       "not cross: " + "; ".join(lost))
    expect(not message, " | ".join(message))


@check("CNM-EP-02", "no two endpoints of a network share a MAC address, on one Docker host "
       "or across the network's hosts", needs(NETWORKS, INTERFACES))
def unique_macs(ctx: CheckContext) -> None:
    net = ctx.network("n")
    count = 3
    members = _members(ctx, net, "m", count)
    holders: dict[str, list[str]] = {}
    for m, host in zip(members, [ctx.spread if k % 2 else MANAGER for k in range(count)],
                       strict=True):
        ifname = ctx.ifname(m, net)
        mac = sandbox_links(m)[ifname][0].lower()
        holders.setdefault(mac, []).append(f"{m.name} ({host} {ifname})")
        reported = (m.mac(net.name) or "").lower()
        if reported and reported != mac:
            ctx.notes.append(f"{m.name}'s inspect says MAC {reported}, its interface has {mac}")
    shared = {mac: who for mac, who in holders.items() if len(who) > 1}
    expect(not shared, "endpoints share a MAC address on " + net.name + ": " + "; ".join(
        f"MAC {mac} is held by {', '.join(who)}" for mac, who in sorted(shared.items())))
