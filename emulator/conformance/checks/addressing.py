"""IPAM: the pool, gateway and addresses asked for are the ones handed out, once each."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from emulator.conformance import observe
from emulator.conformance.checks.common import expect, needs, refused_container_gone
from emulator.conformance.context import (
    CheckContext,
    cells,
    default_route,
    not_reached,
    sandbox_addresses,
)
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import CONNECTIVITY, INTERFACES, IPAM, NETWORKS
from emulator.conformance.versions import IP_OUTSIDE_SUBNET, OLD_IP_OUTSIDE
from emulator.probes.conflicts import scan_conflicts

TAKEN = "Address already in use"
OUTSIDE = "no configured subnet or ip-range contain the IP address"


def _observed(ctx: CheckContext, container, net) -> IPv4Address:
    """The one address the kernel shows on the container's interface of `net`, checked
    against what the CNM says."""
    ifname = ctx.ifname(container, net)
    shown = sandbox_addresses(container).get(ifname, [])
    expect(len(shown) == 1, f"{container.name}'s {ifname} carries {len(shown)} IPv4 addresses "
           f"({', '.join(map(str, shown)) or 'none'}), not one")
    reported = ctx.endpoint(container, net).address
    expect(shown[0] == reported, f"{container.name}'s {ifname} carries {shown[0]}; "
           f"the endpoint says {reported}")
    return shown[0].ip


@check("CNM-IPAM-01", "containers get addresses of the network's --ip-range, exactly the "
       "--ip asked for, never the --gateway; an address outside the subnet or already taken "
       "is refused with Docker's error", needs(NETWORKS, IPAM, INTERFACES))
def pool_gateway_ip(ctx: CheckContext) -> None:
    subnet = ctx.subnet(0)
    gateway, fixed = subnet[254], subnet[200]
    ip_range = IPv4Network(f"{subnet[128]}/25")
    net = ctx.network("n", subnet=str(subnet), gateway=str(gateway), ip_range=str(ip_range))
    config = net.inspect()["IPAM"]["Config"][0]  # type: ignore[index]
    want = {"Subnet": str(subnet), "Gateway": str(gateway), "IPRange": str(ip_range)}
    got = {k: config.get(k) for k in want}
    expect(got == want, f"inspect says IPAM {got}, not {want}")
    a = ctx.run("a", net.name)
    b = ctx.run("b", net.name, host=ctx.spread, ip=str(fixed))
    c = ctx.run("c", net.name)
    observed = {x.name: _observed(ctx, x, net) for x in (a, b, c)}
    expect(observed[b.name] == fixed, f"{b.name} asked for --ip {fixed} and has "
           f"{observed[b.name]}")
    for x in (a, c):
        expect(observed[x.name] in ip_range, f"{x.name} has {observed[x.name]}, outside the "
               f"--ip-range {ip_range}")
    expect(gateway not in observed.values(), f"the gateway {gateway} was handed to a container")
    route = default_route(a)
    if route is not None and route[1] == ctx.ifname(a, net):
        expect(route[0] == str(gateway), f"{a.name}'s default route is via {route[0]}, not "
               f"the network's gateway {gateway}")
    other = ctx.subnet(250)[9]
    for suffix, ip, wanted in (("x", other, OUTSIDE), ("y", fixed, TAKEN)):
        made, error = ctx.try_run(suffix, net.name, ip=str(ip))
        if made is not None:
            raise CheckFailed(f"a container with --ip {ip} was run on {net.name} "
                              f"(wanted refusal: {wanted})")
        if (wanted == OUTSIDE and wanted not in error.message and OLD_IP_OUTSIDE in error.message
                and ctx.predates(IP_OUTSIDE_SUBNET)):
            ctx.accept(IP_OUTSIDE_SUBNET, f"{error.status} {error.message!r}")
        else:
            expect(wanted in error.message, f"--ip {ip} was refused with {error.message!r}, "
                   f"not Docker's {wanted!r}")
        refused_container_gone(ctx, ctx.name(suffix))
    results = ctx.probe([ctx.probe_target(a)], [ctx.probe_target(b), ctx.probe_target(c)],
                        ["icmp", "arp"])
    failed = not_reached(results)
    expect(not failed, "the addresses handed out do not answer: " + cells(failed))


@check("CNM-IPAM-02", "no address is handed out twice: an ARP probe for each container's "
       "address is answered by that container's MAC and no other",
       needs(NETWORKS, IPAM, CONNECTIVITY, INTERFACES))
def no_address_twice(ctx: CheckContext) -> None:
    net = ctx.network("n")
    members = [ctx.run(s, net.name, host=ctx.spread if i % 2 else "h1")
               for i, s in enumerate("abcde")]
    scanner = ctx.run("s", net.name)  # last: a scanner never sees its own address
    addresses = {m.name: m.ip(net.name) for m in members}
    counts: dict[IPv4Address, list[str]] = {}
    for name, address in addresses.items():
        counts.setdefault(address, []).append(name)
    twice = {a: n for a, n in counts.items() if len(n) > 1}
    expect(not twice, f"the IPAM handed out the same address twice: {twice}")
    # The network's gateway, as its containers are told it (Docker's network inspect
    # shows it only when it was asked for, or when the subnet was not).
    told = scanner.inspect()["NetworkSettings"]["Networks"][net.name].get("Gateway")
    gateways = [IPv4Address(told)] if told else []
    ctx.ready((m.name, m.pid) for m in [*members, scanner])
    scan = scan_conflicts(scanner.pid, ctx.ifname(scanner, net),
                          [*addresses.values(), *gateways], window=ctx.window)
    owners_of = _mac_owners(ctx, members, net) if scan.conflicts else {}
    conflicts = [f"{c.address} answered by "
                 + ", ".join(f"{mac} ({owners_of[mac]})" if mac in owners_of else mac
                             for mac in c.macs)
                 for c in scan.conflicts]
    expect(not conflicts, "ARP probes found addresses with two owners: " + "; ".join(conflicts))
    owners = scan.owners()
    for member in members:
        address, mac = addresses[member.name], member.mac(net.name)
        expect(address in owners, f"nobody answered an ARP probe for {member.name}'s "
               f"{address}")
        expect(not mac or owners[address] == {mac}, f"{address} ({member.name}, MAC {mac}) "
               f"was answered by {', '.join(sorted(owners[address]))}")


def _mac_owners(ctx: CheckContext, members, net) -> dict[str, str]:
    """Whose each MAC is: a container of the check, or a Docker host's interface."""
    owners = observe.host_macs(ctx.host(h) for h in ctx.hosts)
    owners.update({(m.mac(net.name) or "").lower(): m.name for m in members})
    return owners
