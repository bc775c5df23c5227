"""`/networks`: list, inspect, create, remove, prune, connect, disconnect."""

from __future__ import annotations

from emulator.api import bodies, containerfields
from emulator.api.context import HostContext
from emulator.api.router import Request, Response, RouteTable
from emulator.api.shapes.networks import network_json
from emulator.cnm.engine import Engine, NetworkRequest
from emulator.errdefs import Conflict, Forbidden, NotImplementedByEmulator
from emulator.ipam import IpamConfig

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""


def _create_request(body: dict, in_swarm: bool) -> NetworkRequest:
    """What a decoded create body asks for (bodies.decode checked every type). Every
    IPAM config is kept: one per subnet, of either family (the engine splits them)."""
    ipam = body.get("IPAM") or {}
    if ipam.get("Driver") not in (None, "", "default"):
        raise NotImplementedByEmulator(
            f'IPAM driver "{ipam["Driver"]}" is not available; the emulator has "default"')
    configs = tuple(IpamConfig(c.get("Subnet") or None, c.get("IPRange") or None,
                               c.get("Gateway") or None, c.get("AuxiliaryAddresses") or None)
                    for c in ipam.get("Config") or [] if c)
    first = configs[0] if configs else IpamConfig()
    if body.get("Scope") == "swarm" and (body.get("Driver") or "bridge") != "overlay":
        if not in_swarm:
            raise Forbidden("cannot create a swarm scoped network when swarm is not active")
        raise NotImplementedByEmulator(
            "swarm-scoped networks other than overlay are not supported by the emulator")
    return NetworkRequest(
        name=body.get("Name", ""),
        driver=body.get("Driver") or "bridge",
        options=body.get("Options") or {},
        subnet=first.subnet,
        gateway=first.gateway,
        ip_range=first.ip_range,
        aux_addresses=first.aux_addresses,
        internal=bool(body.get("Internal")),
        attachable=bool(body.get("Attachable")),
        labels=body.get("Labels") or {},
        enable_ipv6=body.get("EnableIPv6"),
        enable_ipv4=body.get("EnableIPv4"),
        configs=configs,
    )


def _refuse_ingress(engine: Engine) -> None:
    """swarmkit keeps one ingress network; the emulator cannot make another."""
    present = next((n for n in engine.networks.values() if n.ingress), None)
    if present is not None:
        raise Conflict(f"rpc error: code = AlreadyExists desc = ingress network ({present.id}) "
                       "is already present")
    raise NotImplementedByEmulator("creating an ingress network is not supported by the "
                                   "emulator: swarm init makes the one ingress network")


@ROUTES.add("GET", "/networks")
def list_networks(host: HostContext, request: Request) -> Response:
    return Response(200, [network_json(n, verbose_containers=False)
                          for n in host.engine.list_networks(request.filters())])


@ROUTES.add("GET", "/networks/{id}")
def inspect_network(host: HostContext, request: Request) -> Response:
    return Response(200, network_json(host.engine.network_copy(request.params["id"])))


@ROUTES.add("POST", "/networks/create")
def create_network(host: HostContext, request: Request) -> Response:
    body = bodies.decode(request, bodies.NETWORK_CREATE)
    if body.get("Ingress"):
        _refuse_ingress(host.engine)
    network = host.engine.create_network(
        _create_request(body, in_swarm=host.engine.swarm_node is not None))
    return Response(201, {"Id": network.id, "Warning": "\n".join(network.warnings)})


@ROUTES.add("DELETE", "/networks/{id}")
def remove_network(host: HostContext, request: Request) -> Response:
    host.engine.remove_network(request.params["id"])
    return Response(204)


@ROUTES.add("POST", "/networks/prune")
def prune_networks(host: HostContext, request: Request) -> Response:
    return Response(200, {"NetworksDeleted": host.engine.prune_networks(request.filters())})


@ROUTES.add("POST", "/networks/{id}/connect")
def connect_container(host: HostContext, request: Request) -> Response:
    body = bodies.decode(request, bodies.NETWORK_CONNECT)
    config = body.get("EndpointConfig") or {}
    containerfields.refuse_endpoint(config)
    ipam = config.get("IPAMConfig") or {}
    host.engine.connect(request.params["id"], body.get("Container", ""),
                        ip=ipam.get("IPv4Address") or None,
                        ip6=ipam.get("IPv6Address") or None,
                        aliases=config.get("Aliases") or (),
                        mac=config.get("MacAddress") or None,
                        links=config.get("Links") or ())
    return Response(200)


@ROUTES.add("POST", "/networks/{id}/disconnect")
def disconnect_container(host: HostContext, request: Request) -> Response:
    body = bodies.decode(request, bodies.NETWORK_DISCONNECT)
    host.engine.disconnect(request.params["id"], body.get("Container", ""),
                           force=bool(body.get("Force")))
    return Response(200)
