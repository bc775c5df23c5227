"""A resolved topology written back in the file format, with every default explicit.

Results record the topology they ran on (meta.json); loading this data again gives an
equal Topology, so a run can be repeated from its record.
"""

from __future__ import annotations

from typing import Any

from .model import ContainerSpec, HostSpec, LanSpec, NetworkSpec, Topology


def topology_to_data(topology: Topology) -> dict[str, Any]:
    """Plain JSON/YAML-ready data that loads back to an equal Topology."""
    underlay: dict[str, Any] = {"subnet": str(topology.underlay.subnet),
                                "mtu": topology.underlay.mtu}
    outside = {"address": str(topology.outside.address)}
    if topology.underlay.subnet6 is not None:
        underlay["subnet6"] = str(topology.underlay.subnet6)
        underlay["advertise"] = topology.underlay.advertise
        if topology.outside.address6 is not None:
            outside["address6"] = str(topology.outside.address6)
    data = {
        "name": topology.name,
        "underlay": underlay,
        "outside": outside,
        "hosts": {host.name: _host(host) for host in topology.hosts},
    }
    if topology.lan is not None:
        data["lan"] = _lan(topology.lan)
    return data


def _lan(lan: LanSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"subnet": str(lan.subnet), "router": str(lan.router),
                            "mode": lan.mode}
    if lan.dhcp is not None:
        data["dhcp"] = {"range": f"{lan.dhcp.first}-{lan.dhcp.last}", "lease": lan.dhcp.lease}
    data["hosts"] = {host.name: {} if host.address is None else {"address": str(host.address)}
                     for host in lan.hosts}
    return data


def _host(host: HostSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"address": str(host.address)}
    if host.address6 is not None:
        data["address6"] = str(host.address6)
    if host.networks:
        data["networks"] = {network.name: _network(network) for network in host.networks}
    if host.containers:
        data["containers"] = {
            container.name: _container(container) for container in host.containers
        }
    return data


def _network(network: NetworkSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"driver": network.driver}
    for key in ("subnet", "gateway", "ip_range"):
        if getattr(network, key) is not None:
            data[key] = getattr(network, key)
    for key in ("aux_addresses", "options", "labels"):
        if getattr(network, key):
            data[key] = dict(getattr(network, key))
    data["internal"] = network.internal
    data["attachable"] = network.attachable
    return data


def _container(container: ContainerSpec) -> dict[str, Any]:
    networks: dict[str, Any] = {}
    for attachment in container.attachments:
        settings: dict[str, Any] = {}
        if attachment.ip is not None:
            settings["ip"] = attachment.ip
        if attachment.aliases:
            settings["aliases"] = list(attachment.aliases)
        networks[attachment.network] = settings
    data: dict[str, Any] = {"networks": networks}
    if container.hostname is not None:
        data["hostname"] = container.hostname
    if container.command is not None:
        data["command"] = list(container.command)
    return data
