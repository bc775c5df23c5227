"""What the kernel shows, to say what was observed when a check fails.

A verdict comes from packets; these facts only explain one: where an address is
configured on a Docker host, which way the host routes to an address, which
neighbour entry it holds for it, whose interface a MAC is, whether proxy ARP is on.
Each reads the Docker host's own namespace (or the outside host's) with one command,
and answers text fit for a failure message, or "" when there is nothing to say.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface


def host_addresses(host) -> dict[IPv4Interface, str]:
    """Every IPv4 address of a Docker host's namespace, with its interface."""
    done = host.exec(["ip", "-o", "-4", "addr", "show"])
    out: dict[IPv4Interface, str] = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            out[IPv4Interface(fields[3])] = fields[1]
    return out


def where_configured(host, address: IPv4Address) -> str:
    """'10.1.0.1/32 on pb-12ab' or 'configured on no interface of h1'."""
    found = [f"{iface} on {dev} ({link_state(host, dev)})"
             for iface, dev in host_addresses(host).items() if iface.ip == address]
    if found:
        return f"{host.name} has {', '.join(found)}"
    return f"{address} is configured on no interface of {host.name}"


def link_state(host, ifname: str) -> str:
    """'state UP' or 'state DOWN' (`ip link`'s operational state) of one of the host's links."""
    fields = host.exec(["ip", "-o", "link", "show", "dev", ifname]).stdout.split()
    return f"state {fields[fields.index('state') + 1]}" if "state" in fields else "state ?"


def route_get(runner, address: IPv4Address) -> str:
    """How a namespace routes to `address` (`ip route get`, first line)."""
    done = runner.exec(["ip", "-4", "route", "get", str(address)])
    text = (done.stdout or done.stderr or "").strip().splitlines()
    return " ".join(text[0].split()) if text else ""


def neighbour(runner, address: IPv4Address) -> str:
    """The neighbour entries a namespace holds for `address` (`ip neigh show`)."""
    done = runner.exec(["ip", "-4", "neigh", "show", "to", str(address)])
    return "; ".join(" ".join(line.split()) for line in done.stdout.splitlines() if line.strip())


def host_macs(hosts) -> dict[str, str]:
    """MAC -> 'h1's pb-12ab' for every link of the Docker hosts' own namespaces."""
    out: dict[str, str] = {}
    for host in hosts:
        done = host.exec(["ip", "-o", "link", "show"])
        for line in done.stdout.splitlines():
            fields = line.split()
            if "link/ether" in fields:
                mac = fields[fields.index("link/ether") + 1].lower()
                name = fields[1].rstrip(":").split("@")[0]
                out.setdefault(mac, f"{host.name}'s {name}")
    return out


def proxy_arp_on(host, ifname: str) -> bool:
    done = host.exec(["cat", f"/proc/sys/net/ipv4/conf/{ifname}/proxy_arp"])
    return done.stdout.strip() == "1"


def link_states(container) -> str:
    """Each interface of a container with its flags and state, e.g. 'eth0
    <NO-CARRIER,BROADCAST,MULTICAST,UP> state LOWERLAYERDOWN'."""
    done = container.exec(["ip", "-o", "link", "show"])
    rows = []
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        name = fields[1].rstrip(":").split("@")[0]
        if name == "lo":
            continue
        state = fields[fields.index("state") + 1] if "state" in fields else "?"
        rows.append(f"{name} {fields[2]} state {state}")
    return "; ".join(rows)
