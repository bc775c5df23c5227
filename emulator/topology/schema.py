"""The JSON Schema of the topology file: the one statement of its shape.

Editors use the exported schema for completion and checking; the loader checks files
against the same dict (see structure.py), so the two can never disagree. A pattern's
`description` doubles as the "allowed: ..." hint when a value does not match it.
Addresses are only typed strings here: their syntax and meaning are checked in Python,
where the messages can say what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from .model import ADDRESS_FAMILIES, BUILTIN_DRIVERS, ENGINES, LAN_MODES

SHORT_NAME = r"^[a-z][a-z0-9]{0,7}$"
NETWORK_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
CONTAINER_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$"
DRIVER_NAME = r"^[a-z][a-z0-9_.-]*$"
HOSTNAME_MAX = 64


def _ref(name: str, description: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"$ref": f"#/$defs/{name}"}
    if description:
        ref["description"] = description
    return ref


def _mapping(description: str, properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        **more,
    }


def _text(description: str, **more: Any) -> dict[str, Any]:
    return {"description": description, "type": "string", **more}


_DEFS: dict[str, Any] = {
    "engine": _text(
        "emulated (the emulator's engine) or docker (a real dockerd inside the host's "
        "namespace)",
        pattern="^(" + "|".join(ENGINES) + ")$",
    ),
    "shortName": _text(
        "1 to 8 characters: a lowercase letter, then lowercase letters or digits",
        pattern=SHORT_NAME,
    ),
    "networkName": _text(
        "a letter or digit, then letters, digits, '_', '.' or '-'",
        pattern=NETWORK_NAME,
    ),
    "containerName": _text(
        "at least 2 characters: a letter or digit, then letters, digits, '_', '.' or '-'",
        pattern=CONTAINER_NAME,
    ),
    "driverName": _text(
        f"{', '.join(BUILTIN_DRIVERS)}, or a plugin's name: a lowercase letter, then "
        "lowercase letters, digits, '_', '.' or '-'",
        pattern=DRIVER_NAME,
        examples=list(BUILTIN_DRIVERS),
    ),
    "ipv4Address": _text("an IPv4 address, e.g. 192.0.2.11", format="ipv4"),
    "ipv6Address": _text("an IPv6 address, e.g. 2001:db8::11", format="ipv6"),
    "address": _text("an IPv4 or IPv6 address, e.g. 10.10.0.5"),
    "cidr": _text("a network in CIDR notation, e.g. 10.10.0.0/24"),
    "dockerStrings": {
        "description": "Docker's string map; numbers and booleans become strings",
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    },
    "network": _mapping(
        "a user-defined network, created at lab start as `docker network create` would",
        {
            "driver": _ref("driverName", "network driver (default: bridge)")
            | {"default": "bridge"},
            "subnet": _ref("cidr", "--subnet"),
            "gateway": _ref("address", "--gateway"),
            "ip_range": _ref("cidr", "--ip-range"),
            "ipv6": {"description": "--ipv6: the network has IPv6 too (a /64 of the host's "
                     "ULA pool unless subnet6 is given)", "type": "boolean", "default": False},
            "ipv4": {"description": "--ipv4: false for an IPv6-only network (Docker 28)",
                     "type": "boolean", "default": True},
            "subnet6": _ref("cidr", "--subnet for IPv6 (with ipv6: true)"),
            "gateway6": _ref("address", "--gateway for the IPv6 subnet"),
            "aux_addresses": {
                "description": "--aux-address: name -> reserved address",
                "type": "object",
                "additionalProperties": _ref("address"),
            },
            "internal": {"description": "--internal", "type": "boolean", "default": False},
            "attachable": {"description": "--attachable", "type": "boolean", "default": False},
            "options": _ref("dockerStrings", "--opt: driver options"),
            "labels": _ref("dockerStrings", "--label"),
        },
    ),
    "attachment": _mapping(
        "how the container joins this network",
        {
            "ip": _ref("address", "--ip / --ip6: a fixed address on this network"),
            "aliases": {
                "description": "--network-alias: extra DNS names on this network",
                "type": "array",
                "items": _text("a DNS name", minLength=1),
            },
        },
    ),
    "container": _mapping(
        "a container started at lab start, after the host's networks exist",
        {
            "network": _ref("networkName", "the one network to attach (default: bridge)"),
            "networks": {
                "description": "several networks: a list of names, or name -> {ip, aliases}",
                "oneOf": [
                    {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": _ref("networkName"),
                    },
                    {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": _ref("networkName"),
                        "additionalProperties": _ref("attachment"),
                    },
                ],
            },
            "hostname": _text(
                "--hostname (default: Docker's, the container ID)",
                minLength=1,
                maxLength=HOSTNAME_MAX,
            ),
            "command": {
                "description": "the command to run, as a list of strings (exec form)",
                "type": "array",
                "minItems": 1,
                "items": {"type": "string"},
            },
        },
    )
    | {"not": {"required": ["network", "networks"]}},
    "host": _mapping(
        "a Docker host",
        {
            "engine": _ref("engine", "what runs this host (default: the lab's `engine`)"),
            "address": _ref(
                "ipv4Address", "underlay address (default: the next free one from .11 up)"
            ),
            "address6": _ref(
                "ipv6Address", "IPv6 underlay address, with underlay.subnet6 (default: the "
                "same offset in subnet6 as `address` in subnet)"
            ),
            "networks": {
                "description": "user-defined networks created at lab start",
                "type": "object",
                "propertyNames": _ref("networkName"),
                "additionalProperties": _ref("network"),
            },
            "containers": {
                "description": "containers started at lab start, after the networks",
                "type": "object",
                "propertyNames": _ref("containerName"),
                "additionalProperties": _ref("container"),
            },
            "ipv6": {"description": "dockerd's --ipv6: IPv6 on the default bridge network",
                     "type": "boolean", "default": False},
            "fixed-cidr-v6": _ref("cidr", "dockerd's --fixed-cidr-v6: the default bridge's "
                                          "IPv6 subnet (default: a /64 of the host's ULA "
                                          "pool, as Docker 28)"),
        },
    ),
    "lanHost": _mapping(
        "a machine on the LAN standing in for a VM or a physical server",
        {
            "address": _ref(
                "ipv4Address", "a fixed LAN address (default: none, it takes a DHCP lease)"
            ),
        },
    ),
    "lan": _mapping(
        "an emulated physical LAN: a switch every Docker host joins through eth1, a router "
        "running a DHCP server, and LAN hosts",
        {
            "subnet": _text("the LAN's IPv4 network in CIDR notation; default 198.51.100.0/24"),
            "router": _ref("ipv4Address", "the router's address (default: the first usable)"),
            "mode": _text(
                "promiscuous (any MAC is forwarded) or port-security (each switch port "
                "admits only the MAC of the NIC plugged into it)",
                pattern="^(" + "|".join(LAN_MODES) + ")$",
                default=LAN_MODES[0],
            ),
            "dhcp": _mapping(
                "the router's DHCP server (dnsmasq)",
                {
                    "range": _text(
                        "the pool as FIRST-LAST, e.g. 198.51.100.100-198.51.100.199 (default)",
                        pattern=r"^[0-9.]+-[0-9.]+$",
                    ),
                    "lease": _text(
                        "lease time: seconds, or a number with m or h, or infinite "
                        "(default 1h)",
                        pattern=r"^([0-9]+[mh]?|infinite)$",
                    ),
                },
            ),
            "hosts": {
                "description": "LAN hosts, in order",
                "type": "object",
                "propertyNames": _ref("shortName"),
                "additionalProperties": _ref("lanHost"),
            },
        },
    ),
}

TOPOLOGY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cnm-emulator topology",
    **_mapping(
        "Emulated Docker hosts on one underlay link, a host standing in for the internet, "
        "and the networks and containers created at lab start.",
        {
            "name": _ref("shortName", "lab name; it prefixes the lab's kernel objects"),
            "underlay": _mapping(
                "the link that joins the Docker hosts and the outside host",
                {
                    "subnet": _text(
                        "an IPv4 network in CIDR notation, /30 or wider; default 192.0.2.0/24"
                    ),
                    "mtu": {"description": "the underlay links' MTU, 1280 to 9000; default 1500",
                            "type": "number", "default": 1500},
                    "subnet6": _text(
                        "an IPv6 network in CIDR notation, /120 or wider, e.g. 2001:db8::/64: "
                        "every node on the underlay also gets an IPv6 address (dual stack)"
                    ),
                    "advertise": _text(
                        "the family of the address a Docker host advertises to a swarm when "
                        "`swarm init/join` names none (dockerd's --swarm-default-advertise-addr)"
                        ": ipv4 (default) or ipv6, which runs overlay VXLAN over IPv6",
                        pattern="^(" + "|".join(ADDRESS_FAMILIES) + ")$",
                        default=ADDRESS_FAMILIES[0],
                    ),
                },
            ),
            "outside": _mapping(
                "the host standing in for the internet",
                {"address": _ref("ipv4Address", "default: the last usable underlay address"),
                 "address6": _ref("ipv6Address", "with underlay.subnet6; default: the same "
                                  "offset in subnet6 as `address` in subnet")},
            ),
            "hosts": {
                "description": "emulated Docker hosts, in order",
                "type": "object",
                "minProperties": 1,
                "propertyNames": _ref("shortName"),
                "additionalProperties": _ref("host"),
            },
            "lan": _ref("lan"),
            "engine": _ref("engine", "what runs every Docker host unless the host says "
                           "otherwise (default: emulated)"),
        },
        required=["name", "hosts"],
    ),
    "$defs": _DEFS,
}


def export_json_schema() -> str:
    """The schema as JSON text, for editors and other tools."""
    return json.dumps(TOPOLOGY_SCHEMA, indent=2) + "\n"
