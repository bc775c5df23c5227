"""`faultyplugin`: the conformance kit's fault catalogue, mistakes a driver author makes.

A bridgeplugin (a Linux bridge per network, a veth pair per endpoint, the plugin's
own NAT) that, with `--fault NAME`, makes one mistake of the catalogue below: each
plausible for someone writing a remote driver from the protocol's description, from
libnetwork's driver tests or from the bug trackers of Weave, Calico and Kuryr. Without
a fault it is healthy and passes the kit. tests/integration/test_kit18_catalogue.py
runs the kit against each fault and names the check and the message that catch it.

Usage: python -m emulator.plugins.faultyplugin SOCKET [--fault NAME]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from ipaddress import ip_interface, ip_network
from pathlib import Path

from emulator.pluginhttp import CallFailed, serve
from emulator.plugins.bridgeplugin import MTU_OPTION, Plugin, ip, nft

FIXED_MAC = "02:42:ac:11:00:02"  # the MAC of a container in Docker's documentation
SLOW_JOIN_S = 1.0

FAULTS: dict[str, str] = {
    "gw-unset": "Join announces the gateway, which is never configured on the bridge",
    "gw-ignored": "the --gateway asked for is ignored: the bridge takes the subnet's first "
                  "address, Join announces the one asked for",
    "gw-prefix32": "the gateway is configured without its prefix length (/32): the host "
                   "has no route back to the subnet",
    "gw-wrong": "Join announces the subnet's last address as gateway, not the network's",
    "no-nat": "no masquerading: containers reach the host but not the outside",
    "mtu-bridge-only": "the MTU option is applied to the bridge and the host ends, not to the "
                       "container's interface",
    "mtu-every-second": "the MTU option is applied to every second endpoint only",
    "mtu-ignored": "the MTU option is ignored (always 1500)",
    "neigh-left": "Join adds a permanent neighbour entry for the endpoint on the host, "
                  "Leave leaves it",
    "proxy-arp": "proxy ARP is on on the plugin's bridges",
    "one-mac": "every endpoint's interface gets the same MAC",
    "shared-bridge": "every network shares one bridge",
    "bridge-left": "DeleteNetwork leaves the bridge behind",
    "nat-left": "DeleteNetwork leaves the network's NAT rules behind",
    "join-halfway": "Join fails after making the veth pair, and leaves it",
    "delete-twice-fails": "DeleteEndpoint of an endpoint it no longer knows answers an error",
    "addr-on-host-end": "the endpoint's address is also put on the host end of the veth",
    "host-end-down": "the host end of the veth is never set up",
    "bridge-down": "the bridge is never set up",
    "fixed-names": "every endpoint's veth pair gets the same names",
    "leave-fails": "Leave answers an error and does nothing (the veth pair stays)",
    "global-scope": "declares Scope global without a data plane across hosts",
    "echo-address": "CreateEndpoint answers the Address it was given (Docker refuses that)",
    "veth-left": "neither Leave nor DeleteEndpoint deletes the veth pair",
    "slow-join": f"Join takes {SLOW_JOIN_S:g} s (blocking work in the call)",
}


def random_mac() -> str:
    """A random locally administered unicast MAC."""
    first = (random.randrange(256) & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in [first, *random.randbytes(5)])


class FaultyPlugin(Plugin):
    name = "faultyplugin"

    def __init__(self, fault: str | None) -> None:
        super().__init__("halfway" if fault == "join-halfway" else None)
        self.mistake = fault
        self.joins = 0
        self.lock = threading.Lock()

    def get_capabilities(self, body: dict) -> dict:
        scope = "global" if self.mistake == "global-scope" else "local"
        return {"Scope": scope, "ConnectivityScope": scope}

    def bridge(self, net_id: str) -> str:
        return "pb-shared" if self.mistake == "shared-bridge" else super().bridge(net_id)

    def veth_names(self, ep_id: str) -> tuple[str, str]:
        if self.mistake == "fixed-names":
            return "pv-endpoint", "pc-endpoint"
        return super().veth_names(ep_id)

    # -- networks -----------------------------------------------------------------

    def create_network(self, body: dict) -> dict:
        if self.mistake == "mtu-ignored":
            generic = (body.get("Options") or {}).get("com.docker.network.generic") or {}
            generic.pop(MTU_OPTION, None)
        answer = super().create_network(body)
        network = self.networks[body["NetworkID"]]
        bridge, gateway, pool = network["bridge"], network["gateway"], network["pool"]
        # A MAC of its own, as Docker gives its bridges: else the bridge takes its lowest
        # port's, and changes it (flushing its neighbour entries) as ports come and go.
        ip("link", "set", bridge, "address", random_mac(), check=False)
        if self.mistake == "gw-unset" and gateway:
            ip("addr", "del", gateway, "dev", bridge, check=False)
        elif self.mistake == "gw-ignored" and gateway and pool:
            first = f"{ip_network(pool)[1]}/{ip_network(pool).prefixlen}"
            if first != gateway:
                ip("addr", "del", gateway, "dev", bridge, check=False)
                ip("addr", "add", first, "dev", bridge, check=False)
        elif self.mistake == "gw-prefix32" and gateway:
            ip("addr", "del", gateway, "dev", bridge, check=False)
            ip("addr", "add", f"{ip_interface(gateway).ip}/32", "dev", bridge, check=False)
        elif self.mistake == "no-nat" and network["nat"]:
            nft(f"delete table ip {network['nat']}\n", check=False)
            network["nat"] = None
        elif self.mistake == "bridge-down":
            ip("link", "set", bridge, "down")
        elif self.mistake == "proxy-arp":
            Path(f"/proc/sys/net/ipv4/conf/{bridge}/proxy_arp").write_text("1\n")
        return answer

    def delete_network(self, body: dict) -> dict:
        network = self.networks.get(body["NetworkID"])
        if network is not None and self.mistake == "bridge-left":
            self.networks.pop(body["NetworkID"])
            if network["nat"]:
                nft(f"delete table ip {network['nat']}\n", check=False)
            return {}
        if network is not None and self.mistake == "nat-left":
            network["nat"] = None
        return super().delete_network(body)

    # -- endpoints ------------------------------------------------------------------

    def create_endpoint(self, body: dict) -> dict:
        answer = super().create_endpoint(body)
        given = (body.get("Interface") or {}).get("Address")
        if self.mistake == "echo-address" and given:
            return {"Interface": {"Address": given}}
        return answer

    def delete_endpoint(self, body: dict) -> dict:
        ep_id = body["EndpointID"]
        if self.mistake == "delete-twice-fails" and ep_id not in self.endpoints:
            raise CallFailed(f"faultyplugin: endpoint {ep_id[:12]} not found")
        if self.mistake not in ("veth-left", "leave-fails", "join-halfway"):
            ip("link", "del", self.veth_names(ep_id)[0], check=False)
        return super().delete_endpoint(body)

    def join(self, body: dict) -> dict:
        if self.mistake == "slow-join":
            threading.Event().wait(SLOW_JOIN_S)
        reply = super().join(body)
        ep_id = body["EndpointID"]
        network = self.networks[body["NetworkID"]]
        host, peer = self.veth_names(ep_id)
        address = self.endpoints.get(ep_id, {}).get("address")
        with self.lock:
            self.joins += 1
            second = self.joins % 2 == 0
        if self.mistake == "mtu-bridge-only" or (self.mistake == "mtu-every-second" and second):
            ip("link", "set", peer, "mtu", "1500")
            if self.mistake == "mtu-every-second":
                ip("link", "set", host, "mtu", "1500")
        elif self.mistake == "one-mac":
            ip("link", "set", peer, "address", FIXED_MAC)
        elif self.mistake == "neigh-left" and address:
            mac = ip("-br", "link", "show", peer).stdout.split()[2]
            ip("neigh", "add", str(ip_interface(address).ip), "lladdr", mac, "dev",
               network["bridge"], "nud", "permanent", check=False)  # "exists": fine, it thinks
        elif self.mistake == "addr-on-host-end" and address:
            ip("addr", "add", address, "dev", host, check=False)
        elif self.mistake == "host-end-down":
            ip("link", "set", host, "down")
        elif self.mistake == "gw-wrong" and network["pool"] and "Gateway" in reply:
            reply["Gateway"] = str(ip_network(network["pool"])[-2])
        return reply

    def leave(self, body: dict) -> dict:
        if self.mistake == "leave-fails":
            raise CallFailed("faultyplugin: Leave failed (on purpose)")
        if self.mistake == "veth-left":
            return {}
        return super().leave(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faultyplugin", description=__doc__.splitlines()[0])
    parser.add_argument("socket")
    parser.add_argument("--fault", choices=sorted(FAULTS))
    args = parser.parse_args(argv)
    serve(args.socket, FaultyPlugin(args.fault))
    return 0


if __name__ == "__main__":
    sys.exit(main())
