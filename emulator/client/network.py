"""`cnm network ...`: the docker CLI's `docker network` over the Engine API."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from emulator.client import format as fmt
from emulator.client.command import (
    ClientError,
    ClientParser,
    daemon_message,
    filter_arg,
    filters,
    inspect_objects,
    key_values,
    run,
    write,
)
from emulator.client.target import target_options

TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
TITLES = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
          "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
          "CreatedAt": "CREATED AT"}
PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one "
                 "container.\nAre you sure you want to continue? [y/N] ")


def _bool(value: object) -> str:
    return "true" if value else "false"


def network_row(network: dict, trunc: bool = True) -> fmt.Row:
    labels = network.get("Labels") or {}
    ident = network.get("Id", "")
    return fmt.Row("*network.networkContext", {
        "ID": fmt.truncate_id(ident) if trunc else ident,
        "Name": network.get("Name", ""),
        "Driver": network.get("Driver", ""),
        "Scope": network.get("Scope", ""),
        "IPv4": _bool(network.get("EnableIPv4")),
        "IPv6": _bool(network.get("EnableIPv6")),
        "Internal": _bool(network.get("Internal")),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "CreatedAt": fmt.go_time(network.get("Created", "")),
    }, labels)


def list_format(source: str, quiet: bool) -> str:
    """network.NewFormat: the table (or IDs for -q) unless a template is given."""
    if source == "table":
        return "{{.ID}}" if quiet else TABLE
    if source == "raw":
        if quiet:
            return "network_id: {{.ID}}"
        return "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n"
    return source


def _ls(args: argparse.Namespace, api) -> int:
    networks = api.networks(filters=filters(args.filter))
    networks = fmt.natural_sorted(networks, key=lambda n: n.get("Name", ""))
    rows = [network_row(n, trunc=not args.no_trunc) for n in networks]
    try:
        write(fmt.write_list(list_format(args.format or "table", args.quiet), rows, TITLES))
    except fmt.FormatError as exc:
        raise ClientError(exc.message, exc.status) from None
    return 0


# -- create ---------------------------------------------------------------------------


def _cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if "/" not in text:
        raise ClientError(f"invalid CIDR address: {text}")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ClientError(f"invalid CIDR address: {text}") from None


def _matches(subnet: str, data: str) -> bool:
    """docker/cli's subnetMatches: does `subnet` hold the address of `data`?"""
    network = _cidr(subnet)
    try:
        address = (ipaddress.ip_interface(data).ip if "/" in data
                   else ipaddress.ip_address(data))
    except ValueError:
        if "/" in data:
            raise ClientError(f"invalid CIDR address: {data}") from None
        return False
    return address.version == network.version and address in network


def ipam_pools(subnets: list[str], ranges: list[str], gateways: list[str],
               aux: dict[str, str]) -> list[dict]:
    """createIPAMConfig's checks and grouping: one pool per subnet."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise ClientError("every ip-range or gateway must have a corresponding subnet")
    pools: dict[str, dict] = {}
    for subnet in subnets:
        for other in pools:
            if _matches(subnet, other) or _matches(other, subnet):
                raise ClientError("multiple overlapping subnet configuration is not supported")
        if subnet in pools:
            raise ClientError("multiple overlapping subnet configuration is not supported")
        pools[subnet] = {"Subnet": subnet, "AuxiliaryAddresses": {}}
    for key, flag, label in ((ranges, "IPRange", "range"), (gateways, "Gateway", "gateway")):
        for value in key:
            match = False
            for subnet in subnets:
                if not _matches(subnet, value):
                    continue
                if pools[subnet].get(flag):
                    what = ("cannot configure multiple ranges ({}, {}) on the same subnet ({})"
                            if flag == "IPRange" else "cannot configure multiple gateways "
                            "({}, {}) for the same subnet ({})")
                    raise ClientError(what.format(value, pools[subnet][flag], subnet))
                pools[subnet][flag] = value
                match = True
            if not match:
                raise ClientError(f"no matching subnet for {label} {value}")
    for name, address in aux.items():
        match = False
        for subnet in subnets:
            if _matches(subnet, address):
                pools[subnet]["AuxiliaryAddresses"][name] = address
                match = True
        if not match:
            raise ClientError(f"no matching subnet for aux-address {address}")
    return list(pools.values())


def _create(args: argparse.Namespace, api) -> int:
    from docker.types import IPAMConfig, IPAMPool

    pools = ipam_pools(args.subnet or [], args.ip_range or [], args.gateway or [],
                       key_values(args.aux_address))
    ipam = IPAMConfig(driver=args.ipam_driver, pool_configs=[
        IPAMPool(subnet=p["Subnet"], iprange=p.get("IPRange"), gateway=p.get("Gateway"),
                 aux_addresses=p["AuxiliaryAddresses"] or None) for p in pools])
    result = api.create_network(args.name, driver=args.driver, options=key_values(args.opt),
                                ipam=ipam, internal=args.internal,
                                labels=key_values(args.label), enable_ipv6=args.ipv6,
                                attachable=args.attachable)
    write(result["Id"] + "\n")
    return 0


# -- inspect, rm, prune, connect, disconnect ----------------------------------------------


def _inspect(args: argparse.Namespace, api) -> int:
    return inspect_objects(api, "/networks/{0}", args.network, args.format,
                           {"verbose": "true"} if args.verbose else None)


def _rm(args: argparse.Namespace, api) -> int:
    import docker.errors

    status = 0
    for name in args.network:
        try:
            api.remove_network(name)
        except docker.errors.APIError as exc:
            if args.force and exc.status_code == 404:
                continue
            print(daemon_message(exc), file=sys.stderr)
            status = 1
            continue
        write(name + "\n")
    if status:
        raise ClientError(f"exit status {status}", status)
    return 0


def confirm(warning: str) -> bool:
    write(warning)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _prune(args: argparse.Namespace, api) -> int:
    if not args.force and not confirm(PRUNE_WARNING):
        return 0
    report = api.prune_networks(filters=filters(args.filter))
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        write("Deleted Networks:\n" + "".join(name + "\n" for name in deleted) + "\n")
    return 0


def _connect(args: argparse.Namespace, api) -> int:
    api.connect_container_to_network(args.container, args.network, ipv4_address=args.ip,
                                     aliases=args.alias or None)
    return 0


def _disconnect(args: argparse.Namespace, api) -> int:
    api.disconnect_container_from_network(args.container, args.network, force=args.force)
    return 0


# -- arguments ---------------------------------------------------------------------------


def add_parser(sub) -> None:
    """`cnm network ...` under the top-level subparsers."""
    parent = target_options()
    network = sub.add_parser("network", help="manage a Docker host's networks (docker network, "
                             "for machines without the docker CLI)")
    cmds = network.add_subparsers(dest="network_command", required=True,
                                  parser_class=ClientParser, metavar="COMMAND")

    ls = cmds.add_parser("ls", aliases=["list"], parents=[parent], help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true", help="only display network IDs")
    ls.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
    ls.add_argument("-f", "--filter", action="append", type=filter_arg,
                    help='filter values (e.g. "driver=bridge")')
    ls.add_argument("--format", help="'table', 'table TEMPLATE', 'json' or a Go template")
    ls.set_defaults(func=run(_ls))

    create = cmds.add_parser("create", parents=[parent], help="create a network")
    create.add_argument("name", metavar="NETWORK")
    create.add_argument("-d", "--driver", default="bridge", help="driver (default bridge)")
    create.add_argument("-o", "--opt", action="append", metavar="K=V", help="driver options")
    create.add_argument("--label", action="append", metavar="K=V", help="metadata")
    create.add_argument("--internal", action="store_true", help="no external access")
    create.add_argument("--attachable", action="store_true", help="manual attachment")
    create.add_argument("--ipv6", action="store_true", help="enable IPv6")
    create.add_argument("--ipam-driver", default="default", help="IPAM driver")
    create.add_argument("--subnet", action="append", help="subnet in CIDR format")
    create.add_argument("--gateway", action="append", help="gateway of the subnet")
    create.add_argument("--ip-range", action="append", help="allocate from this sub-range")
    create.add_argument("--aux-address", action="append", metavar="NAME=IP",
                        help="addresses the driver reserves")
    create.set_defaults(func=run(_create))

    inspect = cmds.add_parser("inspect", parents=[parent], help="show networks as JSON")
    inspect.add_argument("network", nargs="+", metavar="NETWORK")
    inspect.add_argument("-f", "--format", help="'json' or a Go template")
    inspect.add_argument("-v", "--verbose", action="store_true", help="verbose output")
    inspect.set_defaults(func=run(_inspect))

    rm = cmds.add_parser("rm", aliases=["remove"], parents=[parent], help="remove networks")
    rm.add_argument("network", nargs="+", metavar="NETWORK")
    rm.add_argument("-f", "--force", action="store_true", help="no error if it does not exist")
    rm.set_defaults(func=run(_rm))

    prune = cmds.add_parser("prune", parents=[parent], help="remove all unused networks")
    prune.add_argument("-f", "--force", action="store_true", help="do not prompt")
    prune.add_argument("--filter", action="append", type=filter_arg, help="e.g. 'until=24h'")
    prune.set_defaults(func=run(_prune))

    connect = cmds.add_parser("connect", parents=[parent], help="connect a container")
    connect.add_argument("network", metavar="NETWORK")
    connect.add_argument("container", metavar="CONTAINER")
    connect.add_argument("--ip", help="IPv4 address")
    connect.add_argument("--alias", action="append", help="network-scoped alias")
    connect.set_defaults(func=run(_connect))

    disconnect = cmds.add_parser("disconnect", parents=[parent], help="disconnect a container")
    disconnect.add_argument("network", metavar="NETWORK")
    disconnect.add_argument("container", metavar="CONTAINER")
    disconnect.add_argument("-f", "--force", action="store_true", help="force disconnect")
    disconnect.set_defaults(func=run(_disconnect))
