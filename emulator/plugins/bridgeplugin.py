"""`bridgeplugin`: a minimal local-scope remote network driver, and its broken twins.

Per network a Linux bridge `pb-<id8>` in the host's namespace (with the gateway
address) and, unless the network is internal, an nftables table `ip pb-<id8>` that
masquerades what leaves the host from its subnet (Docker NATs only its own bridge
networks: a plugin's containers reach the outside through the plugin's own NAT, as
Weave's do); per endpoint a veth pair whose free end Join hands to Docker. Under a real
dockerd, whose FORWARD policy is DROP and whose bridged frames pass iptables
(br_netfilter), each bridge's own traffic is accepted in Docker's DOCKER-USER chain,
as third-party bridge plugins do. A network with IPv6 (IPv6Data) gets the IPv6
gateway on its bridge too and names it in Join's GatewayIPv6: IPv6 is bridged among
its containers and routed to the host, never masqueraded (no NAT66; Docker itself
gives plugins' networks none). With --break
it misbehaves on purpose, so the conformance kit can be shown to catch each fault:

  leak      every network shares one bridge: traffic crosses networks
  dup       the host side of each bridge also takes the first endpoint's address
  mtu       ignores com.docker.network.driver.mtu (always 1500)
  leftover  never deletes bridges or veths
  halfway   Join makes the veth, then fails, and leaves it behind

Usage: python -m emulator.plugins.bridgeplugin SOCKET [--name NAME] [--break FAULT]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from ipaddress import ip_interface

from emulator.pluginhttp import CallFailed, Handler, Method, serve

FAULTS = ("leak", "dup", "mtu", "leftover", "halfway")
MTU_OPTION = "com.docker.network.driver.mtu"
INTERNAL_OPTION = "com.docker.network.internal"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def accept_bridged(bridge: str, add: bool) -> None:
    """Let frames between ports of `bridge`, and what its containers send out and get
    back, through a real dockerd's firewall (no-op where there is no DOCKER-USER chain,
    as on an emulated host)."""
    rules = [["-i", bridge, "-o", bridge, "-j", "ACCEPT"]]
    uplink = ip("-4", "route", "show", "default", check=False).stdout.split()
    if "dev" in uplink:  # out through the host's uplink only: never to another network
        dev = uplink[uplink.index("dev") + 1]
        rules += [["-i", bridge, "-o", dev, "-j", "ACCEPT"],
                  ["-i", dev, "-o", bridge, "-m", "conntrack", "--ctstate",
                   "RELATED,ESTABLISHED", "-j", "ACCEPT"]]
    if subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True).returncode == 0:
        for rule in rules:
            subprocess.run(["iptables", "-I" if add else "-D", "DOCKER-USER", *rule],
                           capture_output=True)


def enable_ipv6(link: str) -> None:
    """IPv6 on a link of a namespace where new links are born without it (the
    emulator's hosts, Docker hosts with IPv6 off by default)."""
    with open(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6", "w") as knob:
        knob.write("0\n")


def nft(script: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, "nft", done.stdout, done.stderr)
    return done


def internal(options: dict) -> bool:
    """Whether CreateNetwork's options mark the network --internal (Docker sends the
    label among the options; an older engine in its generic options)."""
    generic = options.get("com.docker.network.generic") or {}
    return str(options.get(INTERNAL_OPTION, generic.get(INTERNAL_OPTION, ""))).lower() == "true"


def _failing_cleanly(method: Method, name: str) -> Method:
    """A failed `ip` or a missing key answered as {"Err": ...}, prefixed with `name`."""
    def call(body: dict):
        try:
            return method(body)
        except subprocess.CalledProcessError as exc:
            raise CallFailed(f"{name}: {exc.stderr.strip()}") from None
        except KeyError as exc:
            raise CallFailed(f"{name}: missing {exc}") from None
    return call


class Plugin(Handler):
    name = "bridgeplugin"

    def __init__(self, fault: str | None) -> None:
        self.fault = fault
        self.networks: dict[str, dict] = {}
        self.endpoints: dict[str, dict] = {}

    def bridge(self, net_id: str) -> str:
        return "pb-shared" if self.fault == "leak" else f"pb-{net_id[:8]}"

    def method(self, call: str) -> Method | None:
        method = super().method(call)
        return None if method is None else _failing_cleanly(method, self.name)

    def activate(self, body: dict) -> dict:
        return {"Implements": ["NetworkDriver"]}

    def get_capabilities(self, body: dict) -> dict:
        return {"Scope": "local", "ConnectivityScope": "local"}

    def create_network(self, body: dict) -> dict:
        net_id = body["NetworkID"]
        options = body.get("Options") or {}
        generic = options.get("com.docker.network.generic") or {}
        mtu = "1500" if self.fault == "mtu" else str(generic.get(MTU_OPTION) or 1500)
        ipv4 = (body.get("IPv4Data") or [{}])[0]
        bridge = self.bridge(net_id)
        if ip("link", "show", bridge, check=False).returncode != 0:
            ip("link", "add", bridge, "mtu", mtu, "type", "bridge", "forward_delay", "0")
            ip("link", "set", bridge, "up")
            accept_bridged(bridge, add=True)
        if ipv4.get("Gateway"):
            ip("addr", "add", ipv4["Gateway"], "dev", bridge, check=False)
        ipv6 = (body.get("IPv6Data") or [{}])[0]
        if ipv6.get("Gateway"):
            enable_ipv6(bridge)
            ip("-6", "addr", "add", ipv6["Gateway"], "dev", bridge, "nodad", check=False)
        network = {"bridge": bridge, "mtu": mtu, "gateway": ipv4.get("Gateway"),
                   "pool": ipv4.get("Pool"), "nat": None, "gateway6": ipv6.get("Gateway")}
        if ipv4.get("Pool") and not internal(options):
            network["nat"] = self.masquerade(net_id, bridge, ipv4["Pool"])
        self.networks[net_id] = network
        return {}

    def masquerade(self, net_id: str, bridge: str, pool: str) -> str:
        """The network's NAT table: what leaves the host from its subnet, not through its
        own bridge, is masqueraded."""
        table = f"pb-{net_id[:8]}"
        nft(f"table ip {table} {{\n chain postrouting {{\n"
            "  type nat hook postrouting priority srcnat; policy accept;\n"
            f'  ip saddr {pool} oifname != "{bridge}" masquerade\n }}\n}}\n')
        return table

    def delete_network(self, body: dict) -> dict:
        network = self.networks.pop(body["NetworkID"], None)
        if network and self.fault != "leftover":
            if network["nat"]:
                nft(f"delete table ip {network['nat']}\n", check=False)
            if not any(n["bridge"] == network["bridge"] for n in self.networks.values()):
                ip("link", "del", network["bridge"], check=False)
                accept_bridged(network["bridge"], add=False)
        return {}

    def create_endpoint(self, body: dict) -> dict:
        self.endpoints[body["EndpointID"]] = {
            "network": body["NetworkID"], "address": (body.get("Interface") or {}).get("Address")}
        return {"Interface": {}}

    def endpoint_oper_info(self, body: dict) -> dict:
        return {"Value": {}}

    def delete_endpoint(self, body: dict) -> dict:
        self.endpoints.pop(body["EndpointID"], None)
        return {}

    def join(self, body: dict) -> dict:
        ep_id, net_id = body["EndpointID"], body["NetworkID"]
        network = self.networks[net_id]
        host, peer = self.veth_names(ep_id)
        ip("link", "add", host, "mtu", network["mtu"], "type", "veth", "peer", "name", peer,
           "mtu", network["mtu"])
        ip("link", "set", host, "master", network["bridge"], "up")
        if self.fault == "halfway":
            return {"Err": f"{self.name}: Join failed halfway (on purpose)"}
        address = self.endpoints.get(ep_id, {}).get("address")
        if self.fault == "dup" and address and not network.get("dup"):
            network["dup"] = str(ip_interface(address))
            ip("addr", "add", network["dup"], "dev", network["bridge"], check=False)
        reply: dict = {"InterfaceName": {"SrcName": peer, "DstPrefix": "eth"}}
        if network.get("gateway"):
            reply["Gateway"] = str(ip_interface(network["gateway"]).ip)
        if network.get("gateway6"):
            reply["GatewayIPv6"] = str(ip_interface(network["gateway6"]).ip)
        return reply

    def veth_names(self, ep_id: str) -> tuple[str, str]:
        """(host end, container end) of the endpoint's veth pair."""
        return f"pv{ep_id[:8]}", f"pc{ep_id[:8]}"

    def leave(self, body: dict) -> dict:
        if self.fault != "leftover":
            ip("link", "del", self.veth_names(body["EndpointID"])[0], check=False)
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bridgeplugin", description=__doc__.splitlines()[0])
    parser.add_argument("socket")
    parser.add_argument("--break", dest="fault", choices=FAULTS)
    args = parser.parse_args(argv)
    serve(args.socket, Plugin(args.fault))
    return 0


if __name__ == "__main__":
    sys.exit(main())
