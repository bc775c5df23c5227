"""An address handed out again: what the last holder left must not stand in the way."""

from __future__ import annotations

from emulator.conformance import observe
from emulator.conformance.checks.common import expect, needs
from emulator.conformance.context import (
    MANAGER,
    CheckContext,
    cells,
    not_reached,
    sandbox_links,
)
from emulator.conformance.hosts import flush_neighbours
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import CONNECTIVITY, INTERFACES, IPAM, NETWORKS
from emulator.probes import Verdict


@check("CNM-IPAM-03", "an address reused with --ip after its container was removed reaches "
       "the Docker host and a peer, as the first holder did",
       needs(NETWORKS, IPAM, CONNECTIVITY, INTERFACES))
def address_reuse(ctx: CheckContext) -> None:
    net = ctx.network("n")
    address = ctx.subnet(0)[50]
    host = ctx.host(MANAGER)
    first = ctx.run("a", net.name, ip=str(address))
    peer = ctx.run("p", net.name, host=ctx.spread)
    from_host = ctx.node_target(MANAGER, host.address)
    before = ctx.probe([from_host, ctx.probe_target(peer)], [ctx.probe_target(first)], ["icmp"])
    host_reached = any(r.source == MANAGER and r.verdict == Verdict.REACHED for r in before)
    failed = [r for r in not_reached(before) if r.source == peer.name]
    expect(not failed, "the control failed (the peer does not reach the first holder): "
           + cells(failed))
    if not host_reached:
        ctx.notes.append(f"{MANAGER} does not reach {first.name} at {address} at all (the "
                         "driver gives the host no path into the network): only the peer is "
                         "probed")
    old_mac = _mac(ctx, first, net)
    first.remove(force=True)
    ctx.forget_container(MANAGER, first.name)
    second = ctx.run("b", net.name, ip=str(address))
    # The dynamic ARP entries for the first holder's MAC are the engine's matter (Docker 27
    # announces a joined address with unsolicited ARP); permanent ones are a driver's.
    flush_neighbours([host.pid, peer.pid])
    sources = [ctx.probe_target(peer)] + ([from_host] if host_reached else [])
    failed = not_reached(ctx.probe(sources, [ctx.probe_target(second)], ["icmp"]))
    if failed:
        text = [f"{address}, reused by a new container (MAC {_mac(ctx, second, net)}) after its "
                f"first holder (MAC {old_mac}) was removed, is not reached: {cells(failed)}"]
        for who, runner in ((MANAGER, host), (peer.name, peer)):
            held = observe.neighbour(runner, address)
            if held:
                text.append(f"{who}'s neighbour entry for it: {held}")
        raise CheckFailed("; ".join(text))


def _mac(ctx: CheckContext, container, net) -> str:
    """The MAC of the container's interface on `net`, as its namespace shows it."""
    return sandbox_links(container)[ctx.ifname(container, net)][0]
