"""Out of a network: the gateway, the Docker host and the outside, judged by packets."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from emulator.conformance import observe
from emulator.conformance.checks.common import expect, needs
from emulator.conformance.context import MANAGER, CheckContext, default_route
from emulator.conformance.registry import check
from emulator.conformance.targets import CONNECTIVITY, INTERFACES, NETWORKS
from emulator.probes import ProbeTarget, Verdict

LAN_RANGE = "/28"  # the slice of the LAN's subnet a macvlan check network hands out


def _network(ctx: CheckContext):
    """A non-internal network whose gateway is not its subnet's first address (so a
    driver that ignores --gateway shows), and that gateway."""
    lan = ctx.lab.topology.lan
    if ctx.target.outbound == "lan" and lan is not None:
        last = IPv4Network(f"{lan.subnet.broadcast_address - 15}{LAN_RANGE}", strict=False)
        net = ctx.network("n", subnet=str(lan.subnet), gateway=str(lan.router),
                          ip_range=str(last))
        return net, lan.router
    subnet = ctx.subnet(0)
    gateway = subnet[126]
    return ctx.network("n", subnet=str(subnet), gateway=str(gateway)), gateway


@check("CNM-REACH-02", "a container on a non-internal network reaches its gateway, its "
       "Docker host and the outside host, from every Docker host the network spans",
       needs(NETWORKS, CONNECTIVITY, INTERFACES))
def outbound(ctx: CheckContext) -> None:
    net, gateway = _network(ctx)
    lan_only = ctx.target.outbound == "lan" and ctx.lab.topology.lan is not None
    members = [(MANAGER, ctx.run("a", net.name))]
    if ctx.spread != MANAGER:
        members.append((ctx.spread, ctx.run("b", net.name, host=ctx.spread)))
    told = members[0][1].inspect()["NetworkSettings"]["Networks"][net.name].get("Gateway")
    if told and IPv4Address(told) != gateway:
        ctx.notes.append(f"the endpoint's Gateway is {told}, the network's --gateway {gateway}")
    outside = ctx.lab.outside_address
    problems: list[str] = []
    for host, member in members:
        if default_route(member) is None and not told:
            ctx.notes.append(f"{member.name} has no default route and its endpoint no "
                             "gateway: the driver offers no way out of the network (a Join "
                             "with no gateway and DisableGatewayService); nothing probed")
            continue
        wanted = {"its gateway": ProbeTarget("gateway", ctx.lab.node_pid(host), gateway)}
        if not lan_only:
            wanted[f"its Docker host {host}"] = ctx.node_target(host, ctx.host(host).address)
            wanted["the outside host"] = ctx.node_target("outside", outside)
        results = ctx.probe([ctx.probe_target(member)], list(wanted.values()), ["icmp"])
        by_target = {r.target: r for r in results}
        missed = [(what, t) for what, t in wanted.items()
                  if by_target[t.name].verdict != Verdict.REACHED]
        if missed:
            problems.append(_explain(ctx, host, member, gateway, missed, by_target))
    if lan_only:
        ctx.notes.append("the network's gateway is the LAN's router, which routes nowhere in "
                         "this lab, and a Docker host does not reach its own macvlan "
                         "containers through their parent: only the gateway is probed")
    expect(not problems, " | ".join(problems))


def _explain(ctx: CheckContext, host: str, member, gateway: IPv4Address, missed, by_target
             ) -> str:
    """What did not answer, and what the kernel shows about why."""
    names = ", ".join(f"{what} {t.address} ({by_target[t.name].evidence})" for what, t in missed)
    text = [f"{member.name} on {host} does not reach {names}"]
    route = default_route(member)
    text.append(f"its default route is via {route[0]} dev {route[1]}" if route
                else "it has no default route")
    missed_what = {what for what, _ in missed}
    docker_host = ctx.host(host)
    if "its gateway" in missed_what:
        text.append(observe.where_configured(docker_host, gateway))
        back = observe.route_get(docker_host, member.ip())
        if back:
            text.append(f"{host} routes {member.ip()} as: {back}")
        states = observe.link_states(member)
        if states:
            text.append(f"{member.name}'s links: {states}")
    elif route and route[0] != str(gateway):
        text.append(f"the default route's next hop {route[0]} is not the network's gateway "
                    f"{gateway}")
    elif missed_what == {"the outside host"}:
        code, out = ctx.lab.outside_exec(["ip", "-4", "route", "get", str(member.ip())])
        text.append(f"the outside host routes {member.ip()} as: {' '.join(out.split())}"
                    if code == 0 else f"the outside host has no route to {member.ip()}")
    return "; ".join(text)
