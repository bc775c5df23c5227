"""Docker's JSON for networks: inspect and list, and a container's networks."""

from __future__ import annotations

from emulator.cnm.model import Attachment, Container, Network


def network_json(network: Network, verbose_containers: bool = True) -> dict[str, object]:
    """`docker network inspect`; the listing leaves out the containers."""
    containers = {}
    if verbose_containers:
        for ep in network.endpoints.values():
            containers[ep.container_id] = {
                "Name": ep.name,
                "EndpointID": ep.id,
                "MacAddress": ep.mac,
                "IPv4Address": str(ep.address) if ep.address else "",
                "IPv6Address": str(ep.address6) if ep.address6 else "",
            }
    config = [{k: v for k, v in c.items() if not k.startswith("_")} for c in network.ipam_config]
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": network.scope,
        "Driver": network.driver,
        "EnableIPv4": network.enable_ipv4,
        "EnableIPv6": network.enable_ipv6,
        "IPAM": {"Driver": "default", "Options": None if network.predefined else {},
                 "Config": config},
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Ingress": network.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }


def container_networks_json(container: Container, networks: dict[str, Network]) -> dict:
    """A container's `NetworkSettings.Networks`, keyed by network name."""
    result = {}
    for net_id, attachment in container.attachments.items():
        network = networks.get(net_id)
        if network is None:
            continue
        ep = container.endpoints.get(net_id)
        result[network.name] = {
            "IPAMConfig": _endpoint_ipam(attachment),
            "Links": list(attachment.links) or None,
            "Aliases": list(attachment.aliases) or None,
            "MacAddress": ep.mac if ep else "",
            "DriverOpts": None,
            "NetworkID": net_id,
            "EndpointID": ep.id if ep else "",
            "Gateway": str(ep.gateway) if ep and ep.gateway else "",
            "IPAddress": str(ep.address.ip) if ep and ep.address else "",
            "IPPrefixLen": ep.address.network.prefixlen if ep and ep.address else 0,
            "IPv6Gateway": str(ep.gateway6) if ep and ep.gateway6 else "",
            "GlobalIPv6Address": str(ep.address6.ip) if ep and ep.address6 else "",
            "GlobalIPv6PrefixLen": ep.address6.network.prefixlen if ep and ep.address6 else 0,
            "DNSNames": _dns_names(container, attachment.aliases) if not network.predefined
            else None,
        }
    return result


def _endpoint_ipam(attachment: Attachment) -> dict[str, str] | None:
    """EndpointIPAMConfig as asked (--ip, --ip6), empty parts left out; null if none."""
    asked = {"IPv4Address": attachment.ip, "IPv6Address": attachment.ip6}
    return {k: v for k, v in asked.items() if v} or None


def _dns_names(container: Container, aliases: tuple[str, ...]) -> list[str]:
    """moby's buildEndpointDNSNames: name, aliases, short ID, hostname, without repeats."""
    return list(dict.fromkeys([container.name, *aliases, container.short_id,
                               container.hostname]))
