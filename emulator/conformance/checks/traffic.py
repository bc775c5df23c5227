"""Who reaches whom, judged by packets: within a network, across networks, after a
disconnect, out of an internal network; and the MTU a network really carries."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from emulator.conformance import observe
from emulator.conformance.checks.common import expect, needs
from emulator.conformance.context import (
    MANAGER,
    CheckContext,
    cells,
    default_route,
    not_reached,
    reached,
)
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import (
    CONNECTIVITY,
    DOCKER_MTU_OPTION,
    INTERFACES,
    INTERNAL,
    L2_SEGMENT,
    MTU,
    NETWORKS,
)
from emulator.conformance.versions import INTERNAL_GATEWAY
from emulator.probes import ALL_PROTOCOLS, PROTOCOLS, ProbeTarget
from emulator.probes.conflicts import scan_conflicts
from emulator.probes.datagrams import Endpoint, Sender, find_mtu

CONFIGURED_MTU = 1400
LINUX_TTL = 64


@check("CNM-REACH-01", "containers on one network reach each other both ways by ICMP, TCP, "
       "UDP and ARP (across Docker hosts too when the driver spans them)",
       needs(NETWORKS, CONNECTIVITY))
def reachability(ctx: CheckContext) -> None:
    net = ctx.network("n")
    members = [ctx.run("a", net.name), ctx.run("b", net.name)]
    if ctx.target.caps.multi_host:
        members.append(ctx.run("c", net.name, host=ctx.second))
    targets = [ctx.probe_target(m) for m in members]
    failed = not_reached(ctx.probe(targets, targets, ALL_PROTOCOLS))
    expect(not failed, "containers of one network do not reach each other: " + cells(failed))


def _two_networks(ctx: CheckContext):
    """Two networks of the driver, each with a container on h1 and one on `spread`."""
    n1, n2 = ctx.network("n1", 1), ctx.network("n2", 2)
    one = [ctx.run("a1", n1.name), ctx.run("b1", n1.name, host=ctx.spread)]
    two = [ctx.run("a2", n2.name), ctx.run("b2", n2.name, host=ctx.spread)]
    return n1, n2, one, two


@check("CNM-ISO-01", "networks are separate layer-2 segments: no container answers an ARP "
       "probe sent from a container of another network (answers are told apart by MAC)",
       needs(NETWORKS, CONNECTIVITY, INTERFACES, L2_SEGMENT))
def separate_segments(ctx: CheckContext) -> None:
    n1, n2, one, two = _two_networks(ctx)
    scans = []
    for mine, net, theirs in ((one, n1, two), (two, n2, one)):
        for scanner in mine:
            peers = [m for m in mine if m is not scanner]
            targets = [m.ip() for m in [*peers, *theirs]]
            scans.append((scanner, net, peers, theirs, targets))
    ctx.ready((m.name, m.pid) for m in [*one, *two])
    with ThreadPoolExecutor(len(scans)) as pool:
        found = list(pool.map(lambda s: scan_conflicts(s[0].pid, ctx.ifname(s[0], s[1]), s[4],
                                                       window=ctx.window).owners(), scans))
    leaks, deaf = [], []
    for (scanner, _, peers, theirs, _), owners in zip(scans, found, strict=True):
        for other in theirs:
            macs = owners.get(other.ip(), set())
            if other.mac() in macs:
                leaks.append(f"{scanner.name} got an ARP answer from {other.name} "
                             f"({other.ip()}, {other.mac()})")
            elif macs:  # someone else holds that address here: an IPAM matter, noted
                ctx.notes.append(f"{scanner.name}'s segment answers for {other.name}'s "
                                 f"{other.ip()} with {', '.join(sorted(macs))}, not "
                                 f"{other.name}'s MAC (see CNM-IPAM-02)")
        for peer in peers:
            if peer.ip() not in owners:
                deaf.append(f"{scanner.name} got no ARP answer from {peer.name} on its own "
                            "network")
    expect(not leaks, "containers of different networks share a layer-2 segment: "
           + "; ".join(leaks))
    expect(not deaf, "the control failed, so the verdict would mean nothing: " + "; ".join(deaf))


@check("CNM-ISO-02", "no IP packet from a container reaches a container of another network, "
       "either way (ICMP, TCP, UDP)", needs(NETWORKS, CONNECTIVITY))
def no_traffic_between_networks(ctx: CheckContext) -> None:
    _, _, one, two = _two_networks(ctx)
    names = {m.name: 1 for m in one} | {m.name: 2 for m in two}
    targets = [ctx.probe_target(m) for m in [*one, *two]]
    results = ctx.probe(targets, targets, PROTOCOLS)
    crossed = [r for r in reached(results) if names[r.source] != names[r.target]]
    if crossed:
        first = crossed[0]
        by_name = {m.name: m for m in [*one, *two]}
        raise CheckFailed("traffic crosses between networks: " + cells(crossed) + ". "
                          + _path(by_name[first.source], by_name[first.target]))
    control = [r for r in not_reached(results) if names[r.source] == names[r.target]]
    expect(not control, "the control failed (containers of one network do not reach each "
           "other), so the verdict would mean nothing: " + cells(control))


def _path(source, target) -> str:
    """What the first crossing showed of its way, as observed: the TTL of a ping's reply
    (a Linux sender starts at 64, each router takes one) and, when no router was seen,
    the MAC the source's kernel resolved the address to."""
    done = source.exec(["ping", "-c", "1", "-W", "1", str(target.ip())])
    ttl = re.search(r"ttl=(\d+)", done.stdout)
    route = observe.route_get(source, target.ip())
    if ttl is None:
        return (f"observed: a ping from {source.name} to {target.name} got no reply "
                f"(its route: {route})")
    hops = LINUX_TTL - int(ttl.group(1))
    if hops > 0:
        return (f"observed: {target.name}'s reply came back with TTL {ttl.group(1)}, so "
                f"{hops} router(s) forwarded it; {source.name}'s route: {route}")
    held = observe.neighbour(source, target.ip())
    same = target.mac() and target.mac().lower() in held.lower()
    text = f"observed: the reply to {target.ip()} came back with TTL {ttl.group(1)}, not routed; "
    if same:
        return text + (f"{source.name} resolved {target.ip()} by ARP to {target.name}'s own "
                       f"MAC {target.mac()}: they share a layer-2 segment")
    if held:
        return text + f"{source.name}'s ARP entry for it: {held}; its route: {route}"
    return text + (f"{source.name} holds no ARP entry for it (its route: {route}): a "
                   "router on that route answered for the address itself")


@check("CNM-ISO-03", "a container that leaves a network neither reaches it nor is reached at "
       "its old address, and reaches it again once reconnected", needs(NETWORKS, CONNECTIVITY))
def isolation_after_disconnect(ctx: CheckContext) -> None:
    net = ctx.network("n")
    a = ctx.run("a", net.name)
    b = ctx.run("b", net.name, host=ctx.spread)
    old, old_mac = a.ip(net.name), a.mac(net.name)
    net.disconnect(a)
    gone = ProbeTarget(a.name, a.pid, old)  # the namespace is a's, the address no more
    peer = ctx.probe_target(b)
    results = ctx.probe([peer, gone], [gone, peer], ALL_PROTOCOLS)
    sent = [r for r in reached(results) if r.source == a.name]
    expect(not sent, f"after the disconnect {a.name} still reaches the network: "
           + cells(sent))
    answered = [r for r in reached(results) if r.target == a.name]
    arp_macs = {r.evidence.split()[-1] for r in answered if r.protocol == "arp"}
    if answered and (old_mac in arp_macs or not arp_macs):
        raise CheckFailed(f"after the disconnect {a.name} is still reached at {old}: "
                          + cells(answered))
    if answered:  # the old address answers, but with another MAC: not the container
        ctx.notes.append(f"{a.name}'s old address {old} is answered by "
                         f"{', '.join(sorted(arp_macs))}, not by {a.name} ({old_mac})")
    net.connect(a)
    again = [ctx.probe_target(a), ctx.probe_target(b)]
    failed = not_reached(ctx.probe(again, again, ["icmp"]))
    expect(not failed, "after reconnecting, the container does not reach the network again: "
           + cells(failed))


@check("CNM-INT-01", "containers on an --internal network reach each other and nothing "
       "outside it: no Docker host, no outside host, no LAN router",
       needs(NETWORKS, CONNECTIVITY, INTERNAL))
def internal_network(ctx: CheckContext) -> None:
    net = ctx.network("n", internal=True)
    members = [ctx.run("a", net.name), ctx.run("b", net.name, host=ctx.spread)]
    lab = ctx.lab
    outside = [ctx.node_target("outside", lab.outside_address)]
    outside += [ctx.node_target(h, lab.host(h).address) for h in ctx.hosts]
    lan = lab.topology.lan
    if lan is not None:
        outside.append(ctx.node_target("router", lan.router))
    sources = [ctx.probe_target(m) for m in members]
    results = ctx.probe(sources, [*sources, *outside], ALL_PROTOCOLS)
    inside = {m.name for m in members}
    escaped = [r for r in reached(results) if r.target not in inside]
    if escaped and ctx.predates(INTERNAL_GATEWAY):
        own = {members[0].name: MANAGER, members[1].name: ctx.spread}
        to_own_host = [r for r in escaped if own[r.source] == r.target
                       and _routes_via_gateway(members[0] if own[r.source] == MANAGER
                                               else members[1], net)]
        if to_own_host:
            ctx.accept(INTERNAL_GATEWAY, cells(to_own_host))
            escaped = [r for r in escaped if r not in to_own_host]
    expect(not escaped, "an internal network reaches outside itself: " + cells(escaped))
    control = [r for r in not_reached(results) if r.target in inside]
    expect(not control, "the control failed (its containers do not reach each other): "
           + cells(control))


def _routes_via_gateway(container, net) -> bool:
    """Whether the container's default route goes via its network's gateway (the
    bridge's address on its Docker host), as Docker before 25.0 set it up."""
    route = default_route(container)
    gateway = container.inspect()["NetworkSettings"]["Networks"][net.name].get("Gateway")
    return route is not None and bool(gateway) and route[0] == gateway


@check("CNM-MTU-01", f"the MTU set with {DOCKER_MTU_OPTION} ({CONFIGURED_MTU}) is the "
       "largest IP packet that crosses the network with don't-fragment set",
       needs(NETWORKS, CONNECTIVITY, MTU))
def configured_mtu(ctx: CheckContext) -> None:
    net = ctx.network("n", options={DOCKER_MTU_OPTION: str(CONFIGURED_MTU)})
    a = ctx.run("a", net.name)
    b = ctx.run("b", net.name, host=ctx.spread)
    ctx.ready([(a.name, a.pid), (b.name, b.pid)])
    sender = Sender(Endpoint(a.pid, str(a.ip(net.name))), Endpoint(b.pid, str(b.ip(net.name))))
    try:
        found = find_mtu(sender, high=9000)
    finally:
        sender.close()
    iface = a.exec(["ip", "-o", "link", "show", "dev", ctx.ifname(a, net)]).stdout.split()
    link_mtu = iface[iface.index("mtu") + 1] if "mtu" in iface else "?"
    if found < 68:
        raise CheckFailed(f"no datagram crossed from {a.name} to {b.name} with don't-fragment set "
               f"(interface MTU {link_mtu})")
    expect(found == CONFIGURED_MTU, f"configured MTU {CONFIGURED_MTU}, but don't-fragment "
           f"probing from {a.name} to {b.name} finds {found} (interface MTU {link_mtu})")
