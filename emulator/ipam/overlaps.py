"""Subnets Docker accepts for a network but that will not work as the user expects.

dockerd refuses no IPv4 subnet for being multicast, loopback or link-local, nor for
covering a network the host itself is on; the emulator keeps that verdict and says,
in a warning, what will go wrong: each sentence names the subnet and what it overlaps.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network

SPECIAL_RANGES: tuple[tuple[IPv4Network, str, str], ...] = (
    (IPv4Network("224.0.0.0/4"), "the multicast range",
     "the kernel routes no unicast traffic there, so containers cannot start on it"),
    (IPv4Network("127.0.0.0/8"), "the loopback range",
     "a container keeps traffic for these addresses to itself, so it reaches neither its "
     "gateway nor other containers"),
    (IPv4Network("169.254.0.0/16"), "the link-local range",
     "these addresses are for one link only (address autoconfiguration, cloud metadata "
     "at 169.254.169.254) and are not routed beyond it"),
)


def subnet_warnings(subnet: IPv4Network, host_networks: Iterable[IPv4Network] = ()
                    ) -> list[str]:
    """One sentence for each host network and special range that `subnet` overlaps;
    `host_networks` are the networks the Docker host itself is attached to."""
    warnings = [
        f"subnet {subnet} overlaps {network}, a network this Docker host is attached to: "
        + _host_consequence(subnet, network)
        for network in host_networks if network.overlaps(subnet)
    ]
    warnings += [f"subnet {subnet} overlaps {name} {network}: {consequence}"
                 for network, name, consequence in SPECIAL_RANGES if network.overlaps(subnet)]
    return warnings


def _host_consequence(subnet: IPv4Network, network: IPv4Network) -> str:
    if subnet.subnet_of(network):
        return (f"the host will send traffic for {subnet} to this network, no longer to "
                f"the machines of {network} in it")
    return (f"containers on this network will look for the machines of {network} on it "
            "and not reach them")
