"""Where the Docker Engine found here (Debian's 20.10) and the Docker 28 the checks
follow answer differently, each with the moby change that made the difference.

A check run against a real engine older than the change accepts the older answer
and says so: the report then names the difference, what each version answers and
where that is written in moby's history. Nothing here applies to an emulated host,
which follows Docker 28.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    id: str
    subject: str
    since: str          # the first release with Docker 28's behaviour
    older: str          # what releases before `since` do
    newer: str          # what `since` and later do (and the emulator)
    source: str

    def note(self) -> str:
        return (f"version difference {self.id} ({self.subject}): before Docker {self.since} "
                f"{self.older}; from {self.since} on {self.newer} [{self.source}]")


ACTIVE_ENDPOINTS = Difference(
    "VD-01", "the refusal to remove a network that has endpoints", "28.1.0",
    'the message is "network NAME id ID has active endpoints"',
    'it is "network NAME has active endpoints (name:"C" id:"…", …)", naming the endpoints',
    "moby 241d685574 'libnet: add ep name in 'has active endpoints' error', in v28.1.0")
IP_OUTSIDE_SUBNET = Difference(
    "VD-02", "a container's --ip outside every subnet of its network", "25.0.0",
    "it is refused when the container starts, 500 \"Invalid address IP: It does not "
    "belong to any of this network's subnets\" (libnetwork endpoint.go), the container "
    "left created",
    "it is refused when the container is created, 400 \"invalid endpoint settings: no "
    "configured subnet or ip-range contain the IP address IP\"",
    "moby 3092b261e2 'daemon: move most of validateEndpointSettings into api/t/net', "
    "in v25.0.0")

INTERNAL_GATEWAY = Difference(
    "VD-03", "the default route of a container on an --internal bridge network", "25.0.0",
    "the container has a default route via the bridge's address, and the Docker host "
    "accepts what it sends to any of its own addresses (only forwarding is dropped), so "
    "the container reaches its Docker host",
    "an internal network gives no default route: what is sent beyond the subnet fails "
    "at once (ENETUNREACH), the host's other addresses are not reached",
    "moby cbc2a71c27 'libnet/d/bridge: Don't set container's gateway when network is "
    "internal', in v25.0.0 (and 419f5a6372, v26.0.0: the bridge keeps its address)")

MACVLAN_SHARED_PARENT = Difference(
    "VD-04", "two macvlan networks on one parent interface", "27.0.1",
    "the second is refused (\"network dm-ID is already using parent interface eth1\"): "
    "each network needs a parent of its own (an 802.1q sub-interface eth1.N or, given no "
    "parent, a dummy link dm-ID, both of which dockerd makes, but this kernel has "
    "neither: the kit gives such networks a veth of the Docker host as parent)",
    "networks share a parent unless one of them is in passthru mode",
    "moby 528ffa9cae 'Allow multiple macvlan networks to share a parent', in v27.0.1")

DIFFERENCES = (ACTIVE_ENDPOINTS, IP_OUTSIDE_SUBNET, INTERNAL_GATEWAY, MACVLAN_SHARED_PARENT)
OLD_IP_OUTSIDE = "It does not belong to any of this network's subnets"


def release(version: str) -> tuple[int, ...]:
    """'20.10.24+dfsg1' -> (20, 10, 24)."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in numbers.group(0).split(".")) if numbers else ()


def before(version: str | None, difference: Difference) -> bool:
    """Whether a real engine of `version` predates the difference (None: emulated)."""
    return version is not None and release(version) < release(difference.since)


NO_SHARED_STORE = (
    "a global-scope plugin's networks need a datastore the Docker hosts share; a real "
    "dockerd has none here (Docker 20.10 and 28 alike answer \"This node is not a swarm "
    "manager\": the classic --cluster-store was deprecated in moby 1470697b67 and removed "
    "in ff2a5301b8, v23.0.0); the emulator's lab datastore has no real counterpart")
