"""Who answers ARP: ordinary requests, as a container's kernel sends them.

The conflict scans elsewhere send RFC 5227 probes (sender 0.0.0.0), which Linux's
proxy ARP never answers; a container's own requests carry its address, and those a
proxy-ARP host does answer, for every address it routes elsewhere.
"""

from __future__ import annotations

import struct
import time
from ipaddress import IPv4Address

from emulator.conformance import observe
from emulator.conformance.checks.common import expect, needs
from emulator.conformance.context import CheckContext
from emulator.conformance.registry import check
from emulator.conformance.targets import CONNECTIVITY, INTERFACES, L2_SEGMENT, NETWORKS
from emulator.fabric import readiness
from emulator.probes.conflicts import arp_socket, parse_arp, receive

ETH_P_ARP, ETH_P_IP = 0x0806, 0x0800
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\0" * 6


def request_frame(mac: bytes, sender: IPv4Address, target: IPv4Address) -> bytes:
    """An ordinary who-has request, Ethernet broadcast, from `sender` at `mac`."""
    return (struct.pack("!6s6sH", BROADCAST, mac, ETH_P_ARP)
            + struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, mac, sender.packed,
                          ZERO_MAC, target.packed))


def ask(pid: int, interface: str, sender: IPv4Address, targets: list[IPv4Address],
        window: float) -> dict[IPv4Address, set[str]]:
    """Send an ordinary request for each target; the MACs that answered, per address."""
    answers: dict[IPv4Address, set[str]] = {}
    wanted = set(targets)
    with arp_socket(pid, interface) as (sock, mac):
        for target in targets:
            sock.send(request_frame(mac, sender, target))
        started = time.perf_counter()
        deadline = time.monotonic() + window
        while (remaining := deadline - time.monotonic()) > 0:
            if not readiness.readable(sock, remaining):
                break
            for _, frame in receive(sock, started):
                packet = parse_arp(frame)
                if packet is not None and packet.op == 2 and packet.sender_ip in wanted:
                    answers.setdefault(packet.sender_ip, set()).add(packet.sender_mac)
    return answers


@check("CNM-ISO-04", "ordinary ARP requests from a container (its own address as sender) "
       "for unused addresses and for other networks' containers get no answer: no proxy "
       "ARP, no stray answers", needs(NETWORKS, CONNECTIVITY, INTERFACES))
def no_stray_arp_answers(ctx: CheckContext) -> None:
    n1, n2 = ctx.network("n1", 1), ctx.network("n2", 2)
    scanner, peer = ctx.run("a", n1.name), ctx.run("p", n1.name)
    other = ctx.run("b", n2.name)
    s1, s2 = ctx.subnet(1), ctx.subnet(2)
    asked: dict[IPv4Address, str] = {
        s1[77]: f"an unused address of {n1.name}",
        s1[78]: f"an unused address of {n1.name}",
        s2[77]: f"an unused address of {n2.name}",
        ctx.subnet(3)[77]: "an address of no network",
        ctx.lab.outside_address: "the outside host's address",
    }
    segment = ctx.target.caps.missing(L2_SEGMENT)
    if segment:
        ctx.notes.append(f"other networks' containers not asked for: {segment}")
    else:
        asked[other.ip(n2.name)] = f"{other.name}'s, on {n2.name}"
    own = {iface.ip for h in ctx.hosts for iface in observe.host_addresses(ctx.host(h))}
    for address in sorted(own & set(asked)):
        ctx.notes.append(f"{address} not asked for: a Docker host holds it (Linux answers "
                         "ARP for any of the host's addresses)")
        del asked[address]
    control = peer.ip(n1.name)
    ctx.ready((m.name, m.pid) for m in (scanner, peer, other))
    answers = ask(scanner.pid, ctx.ifname(scanner, n1), scanner.ip(n1.name),
                  [control, *asked], ctx.window)
    expect(control in answers, f"the control failed: {peer.name} did not answer an ordinary "
           f"ARP request for its {control} from {scanner.name}")
    strays = {a: macs for a, macs in answers.items() if a in asked}
    if not strays:
        return
    owners = observe.host_macs(ctx.host(h) for h in ctx.hosts)
    owners.update({(m.mac(net.name) or "").lower(): m.name for m, net in
                   ((scanner, n1), (peer, n1), (other, n2))})
    lines = []
    for address, macs in sorted(strays.items()):
        who = []
        for mac in sorted(macs):
            owner = owners.get(mac, "an unknown interface")
            proxy = ""
            if "'s " in owner:
                host, ifname = owner.split("'s ", 1)
                if proxy_on(ctx, host, ifname):
                    proxy = ", where proxy_arp is on"
            who.append(f"{owner} ({mac}{proxy})")
        lines.append(f"{address} ({asked[address]}) was answered by {', '.join(who)}")
    kind = "proxy ARP" if any("proxy_arp is on" in line for line in lines) else "stray"
    expect(False, f"{kind} answers to ordinary ARP requests from {scanner.name} on "
           f"{n1.name}: " + "; ".join(lines))


def proxy_on(ctx: CheckContext, host: str, ifname: str) -> bool:
    return host in ctx.hosts and observe.proxy_arp_on(ctx.host(host), ifname)
