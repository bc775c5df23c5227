"""The CNM engine's containers: addresses, gateways, connect/disconnect, stop, rm, exec.

Docker Engine v25-v28 is the oracle (/tmp/research/docker-network-semantics.md,
connect/disconnect texts of v28.0.2+). The kernel is a FakeFabric: what a user
would see inside the container (interfaces, addresses, default route) is read
from the plugs it recorded.
"""

from __future__ import annotations

import itertools
import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from engine_helpers import docker_error, engine_state

import emulator.cnm.containers as engine_module
from emulator import errdefs as err
from emulator.api.shapes.networks import network_json
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.ids import new_id

NOT_SUPPORTED_WITHOUT_SUBNET = (
    "user specified IP address is supported only when connecting to networks with user "
    "configured subnets"
)
SHARED_NAMESPACE = (
    "container sharing network namespace with another container or host cannot be connected "
    "to any other network"
)
PRIVATE_NONE = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)
CONNECT_HOST = (
    "cannot connect container to host network - container must be created in host network mode"
)
DISCONNECT_HOST = (
    "cannot disconnect container from host network - container was created in host network mode"
)


def plugs(fabric: FakeFabric, container) -> dict:
    """The container's interfaces as the kernel has them: ifname -> Plug."""
    return dict(fabric.sandbox_ifaces.get(container.id, {}))


def default_routes(fabric: FakeFabric, container) -> list[tuple[str, IPv4Address]]:
    """The sandbox's one default route, named by the interface whose subnet holds it."""
    gateway = fabric.default_routes.get(container.id)
    if gateway is None:
        return []
    return [(name, gateway) for name, p in plugs(fabric, container).items()
            if p.address is not None and gateway in p.address.network]


def address(container, network) -> IPv4Interface:
    return container.endpoints[network.id].address


def ids_starting_with(*prefixes: str):
    fixed = [p + "0" * (64 - len(p) - 2) + f"{i:02x}" for i, p in enumerate(prefixes)]
    return itertools.chain(fixed, iter(new_id, None))


# -- addresses on the default bridge and user networks -------------------------


def test_run_on_default_bridge(engine: Engine, fabric: FakeFabric) -> None:
    web = engine.run_container("web")
    bridge = engine.get_network("bridge")
    assert web.running
    assert address(web, bridge) == IPv4Interface("172.17.0.2/16")
    assert web.endpoints[bridge.id].gateway == IPv4Address("172.17.0.1")
    eth0 = plugs(fabric, web)["eth0"]
    assert eth0.bridge == "docker0"
    assert eth0.address == IPv4Interface("172.17.0.2/16")
    assert eth0.gateway == IPv4Address("172.17.0.1")
    assert eth0.mtu == 1500
    assert fabric.links[eth0.host_ifname].master == "docker0"
    assert re.fullmatch(r"veth[0-9a-f]{7}", eth0.host_ifname)
    assert fabric.sandbox_links(web.sandbox) == ["lo", "eth0"]
    assert network_json(bridge)["Containers"][web.id]["IPv4Address"] == "172.17.0.2/16"
    # docker0, a veth and a sandbox.
    assert fabric.kernel_objects() == 3


def test_two_containers_get_distinct_addresses(engine: Engine) -> None:
    bridge = engine.get_network("bridge")
    a = engine.run_container("aa")
    b = engine.run_container("bb")
    assert address(a, bridge) == IPv4Interface("172.17.0.2/16")
    assert address(b, bridge) == IPv4Interface("172.17.0.3/16")


def test_user_network_addresses_and_gateway(engine: Engine, fabric: FakeFabric) -> None:
    front = engine.create_network(NetworkRequest("front"))
    web = engine.run_container("web", [AttachRequest("front")])
    assert address(web, front) == IPv4Interface("172.18.0.2/16")
    eth0 = plugs(fabric, web)["eth0"]
    assert eth0.bridge == "br-" + front.id[:12]
    assert eth0.gateway == IPv4Address("172.18.0.1")


def test_gateway_and_aux_addresses_never_handed_out(engine: Engine) -> None:
    net = engine.create_network(NetworkRequest(
        "front", subnet="10.20.0.0/24", gateway="10.20.0.1",
        aux_addresses={"a": "10.20.0.2", "b": "10.20.0.4"},
    ))
    got = [address(engine.run_container(f"c{i}", [AttachRequest("front")]), net).ip
           for i in range(5)]
    assert got == [IPv4Address(f"10.20.0.{n}") for n in (3, 5, 6, 7, 8)]
    assert not {IPv4Address("10.20.0.1"), IPv4Address("10.20.0.2"),
                IPv4Address("10.20.0.4")} & set(got)


def test_custom_gateway_is_skipped(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", subnet="10.21.0.0/24",
                                               gateway="10.21.0.2"))
    a = engine.run_container("aa", [AttachRequest("front")])
    b = engine.run_container("bb", [AttachRequest("front")])
    assert [address(a, net).ip, address(b, net).ip] == [IPv4Address("10.21.0.1"),
                                                         IPv4Address("10.21.0.3")]
    assert plugs(fabric, a)["eth0"].gateway == IPv4Address("10.21.0.2")


def test_addresses_come_from_the_ip_range(engine: Engine) -> None:
    net = engine.create_network(NetworkRequest("front", subnet="10.22.0.0/16",
                                               gateway="10.22.0.1", ip_range="10.22.7.0/24"))
    for i in range(3):
        ip = address(engine.run_container(f"c{i}", [AttachRequest("front")]), net)
        assert ip.network.prefixlen == 16
        assert ip.ip in IPv4Network("10.22.7.0/24")


def test_requested_ip_is_honoured(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", subnet="10.30.0.0/24"))
    pinned = engine.run_container("pinned", [AttachRequest("front", ip="10.30.0.50")])
    other = engine.run_container("other", [AttachRequest("front")])
    assert address(pinned, net) == IPv4Interface("10.30.0.50/24")
    assert plugs(fabric, pinned)["eth0"].address == IPv4Interface("10.30.0.50/24")
    assert address(other, net) == IPv4Interface("10.30.0.2/24")
    # Restarting keeps the requested address.
    engine.stop_container("pinned")
    engine.start_container("pinned")
    assert address(pinned, net) == IPv4Interface("10.30.0.50/24")


def test_requested_ip_in_use_is_refused_and_rolled_back(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front", subnet="10.30.0.0/24"))
    engine.run_container("first", [AttachRequest("front", ip="10.30.0.50")])
    before = engine_state(engine)
    with pytest.raises(err.Forbidden) as info:
        engine.run_container("second", [AttachRequest("front", ip="10.30.0.50")])
    assert info.value.status == 403
    assert "Address already in use" in info.value.message
    assert engine_state(engine) == before


def test_requested_ip_equal_to_gateway_is_refused(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front", subnet="10.30.0.0/24"))
    before = engine_state(engine)
    with pytest.raises(err.Forbidden) as info:
        engine.run_container("web", [AttachRequest("front", ip="10.30.0.1")])
    assert "Address already in use" in info.value.message
    assert engine_state(engine) == before


def test_requested_ip_outside_subnet_is_refused(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front", subnet="10.30.0.0/24"))
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400,
                      "invalid config for network front: invalid endpoint settings:\n"
                      "no configured subnet or ip-range contain the IP address 10.99.0.5"):
        engine.run_container("web", [AttachRequest("front", ip="10.99.0.5")])
    assert engine_state(engine) == before
    assert engine.list_containers(all=True) == []


def test_requested_ip_without_user_subnet_is_refused(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400,
                      "invalid config for network front: invalid endpoint settings:\n"
                      + NOT_SUPPORTED_WITHOUT_SUBNET):
        engine.run_container("web", [AttachRequest("front", ip="172.18.0.9")])
    assert engine_state(engine) == before
    assert engine.list_containers(all=True) == []


def test_requested_ip_on_default_bridge_is_refused(engine: Engine) -> None:
    with pytest.raises(err.InvalidParameter) as info:
        engine.run_container("web", [AttachRequest("bridge", ip="172.17.0.9")])
    assert info.value.message.startswith(
        "invalid config for network bridge: invalid endpoint settings:\n")
    assert "user specified IP address is supported on user defined networks only" in (
        info.value.message)


def test_requested_ip_on_connect_has_no_run_prefix(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web")
    with docker_error(err.InvalidParameter, 400,
                      "invalid endpoint settings:\n" + NOT_SUPPORTED_WITHOUT_SUBNET):
        engine.connect("front", "web", ip="172.18.0.9")


def test_alias_on_default_bridge_is_refused(engine: Engine) -> None:
    with pytest.raises(err.InvalidParameter) as info:
        engine.run_container("web", [AttachRequest("bridge", aliases=("www",))])
    assert info.value.message == (
        "invalid config for network bridge: invalid endpoint settings:\n"
        "network-scoped alias is supported only for containers in user defined networks")


def test_unknown_network_at_run(engine: Engine) -> None:
    before = engine_state(engine)
    with docker_error(err.NotFound, 404, "network nope not found"):
        engine.run_container("web", [AttachRequest("nope")])
    assert engine_state(engine) == before


# -- names ------------------------------------------------------------------------


def test_container_name_conflict(engine: Engine) -> None:
    first = engine.run_container("web")
    before = engine_state(engine)
    with docker_error(err.Conflict, 409,
                      f'Conflict. The container name "/web" is already in use by container '
                      f'"{first.id}". You have to remove (or rename) that container to be able '
                      "to reuse that name."):
        engine.run_container("web")
    assert engine_state(engine) == before


@pytest.mark.parametrize("name", ["-web", "w", "we b", "web/1", "_web"])
def test_invalid_container_name(engine: Engine, name: str) -> None:
    with docker_error(err.InvalidParameter, 400,
                      f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                      "allowed"):
        engine.run_container(name)


def test_generated_names_are_unique(engine: Engine) -> None:
    names = {engine.run_container().name for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(r"[a-z]+_[a-z]+\d*", n) for n in names)


# -- several networks -----------------------------------------------------------------


def test_multi_network_container_has_eth0_eth1_and_one_default_route(
        engine: Engine, fabric: FakeFabric) -> None:
    front = engine.create_network(NetworkRequest("front"))
    back = engine.create_network(NetworkRequest("back"))
    web = engine.run_container("web", [AttachRequest("front"), AttachRequest("back")])
    ifaces = plugs(fabric, web)
    assert set(ifaces) == {"eth0", "eth1"}
    assert ifaces["eth0"].bridge == "br-" + front.id[:12]
    assert ifaces["eth1"].bridge == "br-" + back.id[:12]
    assert ifaces["eth0"].address == IPv4Interface("172.18.0.2/16")
    assert ifaces["eth1"].address == IPv4Interface("172.19.0.2/16")
    assert len(default_routes(fabric, web)) == 1
    assert fabric.sandbox_links(web.sandbox) == ["lo", "eth0", "eth1"]


def test_connect_running_container_adds_eth1_without_second_default_route(
        engine: Engine, fabric: FakeFabric) -> None:
    zeta = engine.create_network(NetworkRequest("zeta"))
    web = engine.run_container("web")
    engine.connect("zeta", "web")
    ifaces = plugs(fabric, web)
    assert ifaces["eth1"].bridge == "br-" + zeta.id[:12]
    assert ifaces["eth1"].address == IPv4Interface("172.18.0.2/16")
    # "bridge" sorts before "zeta": the default route stays on eth0.
    assert default_routes(fabric, web) == [("eth0", IPv4Address("172.17.0.1"))]
    assert {c["Name"] for c in network_json(zeta)["Containers"].values()} == {"web"}


def test_default_route_goes_to_the_network_whose_name_sorts_first(
        engine: Engine, fabric: FakeFabric) -> None:
    """libnetwork Endpoint.Less orders a sandbox's endpoints by priority, internal
    last, has-gateway, then network name; the first one is the gateway endpoint."""
    engine.create_network(NetworkRequest("front"))  # 172.18.0.0/16
    engine.create_network(NetworkRequest("back"))   # 172.19.0.0/16
    web = engine.run_container("web", [AttachRequest("front"), AttachRequest("back")])
    assert default_routes(fabric, web) == [("eth1", IPv4Address("172.19.0.1"))]


def test_connect_moves_the_default_route_to_a_network_sorting_first(
        engine: Engine, fabric: FakeFabric) -> None:
    """sbJoin: when the new endpoint becomes the sandbox's gateway endpoint,
    sb.updateGateway moves the default route to it."""
    engine.create_network(NetworkRequest("back"))
    web = engine.run_container("web")
    engine.connect("back", "web")  # "back" < "bridge"
    assert default_routes(fabric, web) == [("eth1", IPv4Address("172.18.0.1"))]


def test_connect_stopped_container_applies_at_start(engine: Engine, fabric: FakeFabric) -> None:
    back = engine.create_network(NetworkRequest("back"))
    web = engine.create_container("web", [AttachRequest("bridge")])
    engine.connect("back", "web")
    assert network_json(back)["Containers"] == {}
    engine.start_container("web")
    assert set(plugs(fabric, web)) == {"eth0", "eth1"}
    assert address(web, back) == IPv4Interface("172.18.0.2/16")


def test_disconnect_releases_address_and_interface(engine: Engine, fabric: FakeFabric) -> None:
    back = engine.create_network(NetworkRequest("back"))
    web = engine.run_container("web", [AttachRequest("bridge"), AttachRequest("back")])
    veth = plugs(fabric, web)["eth1"].host_ifname
    engine.disconnect("back", "web")
    assert set(plugs(fabric, web)) == {"eth0"}
    assert veth not in fabric.links
    assert network_json(back)["Containers"] == {}
    other = engine.run_container("other", [AttachRequest("back")])
    assert address(other, back) == IPv4Interface("172.18.0.2/16")


def test_reconnect_takes_the_next_interface_index(engine: Engine, fabric: FakeFabric) -> None:
    """libnetwork osl Namespace.AddInterface names the interface
    `dstPrefix + nextIfIndex[dstPrefix]` and only ever increments the counter, so a
    running container that leaves and rejoins a network gets eth2, not eth1 again."""
    engine.create_network(NetworkRequest("back"))
    web = engine.run_container("web", [AttachRequest("bridge"), AttachRequest("back")])
    engine.disconnect("back", "web")
    engine.connect("back", "web")
    assert set(plugs(fabric, web)) == {"eth0", "eth2"}
    # A restart makes a new sandbox, whose counter starts again at 0.
    engine.stop_container("web")
    engine.start_container("web")
    assert set(plugs(fabric, web)) == {"eth0", "eth1"}


def test_disconnecting_the_gateway_network_moves_the_default_route(
        engine: Engine, fabric: FakeFabric) -> None:
    """libnetwork sandbox clearNetworkResources: when the gateway endpoint leaves,
    `sb.updateGateway(gwepAfter)` gives the default route to the next endpoint."""
    engine.create_network(NetworkRequest("alpha"))
    beta = engine.create_network(NetworkRequest("beta"))
    web = engine.run_container("web", [AttachRequest("alpha"), AttachRequest("beta")])
    engine.disconnect("alpha", "web")
    assert web.endpoints[beta.id].gateway == IPv4Address("172.19.0.1")


def test_internal_network_gives_no_gateway(engine: Engine, fabric: FakeFabric) -> None:
    internal = engine.create_network(NetworkRequest("secret", internal=True))
    db = engine.run_container("db", [AttachRequest("secret")])
    assert address(db, internal) == IPv4Interface("172.18.0.2/16")
    assert db.endpoints[internal.id].gateway is None
    assert default_routes(fabric, db) == []
    # The bridge still has the gateway address.
    assert fabric.links["br-" + internal.id[:12]].address == IPv4Interface("172.18.0.1/16")


def test_internal_then_external_network_gets_the_gateway(
        engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(NetworkRequest("secret", internal=True))
    front = engine.create_network(NetworkRequest("front"))
    db = engine.run_container("db", [AttachRequest("secret"), AttachRequest("front")])
    assert default_routes(fabric, db) == [("eth1", IPv4Address("172.19.0.1"))]
    assert db.endpoints[front.id].gateway == IPv4Address("172.19.0.1")


# -- host and none ----------------------------------------------------------------------


def test_host_network_container_shares_host_namespace(engine: Engine, fabric: FakeFabric) -> None:
    web = engine.run_container("web", [AttachRequest("host")])
    assert web.sandbox.shares_host
    assert plugs(fabric, web) == {}
    assert web.endpoints[engine.get_network("host").id].address is None


def test_none_network_container_has_only_lo(engine: Engine, fabric: FakeFabric) -> None:
    web = engine.run_container("web", [AttachRequest("none")])
    assert not web.sandbox.shares_host
    assert fabric.sandbox_links(web.sandbox) == ["lo"]


def test_host_container_cannot_connect_to_other_networks(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("host")])
    before = engine_state(engine)
    for network in ("bridge", "front", "none"):
        with docker_error(err.InvalidParameter, 400, SHARED_NAMESPACE):
            engine.connect(network, "web")
    assert engine_state(engine) == before


def test_bridge_container_cannot_connect_to_host(engine: Engine) -> None:
    engine.run_container("web")
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400, CONNECT_HOST):
        engine.connect("host", "web")
    assert engine_state(engine) == before


def test_container_without_networks_cannot_connect_to_host(engine: Engine) -> None:
    """The check is `!container.HostConfig.NetworkMode.IsHost()`: a container created
    on the bridge stays out of host mode even after leaving every network."""
    engine.create_container("web", [AttachRequest("bridge")])
    engine.disconnect("bridge", "web")
    with docker_error(err.InvalidParameter, 400, CONNECT_HOST):
        engine.connect("host", "web")


def test_none_container_cannot_connect_elsewhere(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("none")])
    with docker_error(err.InvalidParameter, 400, PRIVATE_NONE):
        engine.connect("front", "web")
    with docker_error(err.InvalidParameter, 400, PRIVATE_NONE):
        engine.connect("bridge", "web")


def test_bridge_container_cannot_connect_to_none(engine: Engine) -> None:
    engine.run_container("web")
    with docker_error(err.InvalidParameter, 400, PRIVATE_NONE):
        engine.connect("none", "web")


def test_none_with_another_network_at_run(engine: Engine) -> None:
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400, PRIVATE_NONE):
        engine.run_container("web", [AttachRequest("bridge"), AttachRequest("none")])
    assert engine_state(engine) == before


def test_running_host_container_cannot_disconnect_from_host(engine: Engine) -> None:
    web = engine.run_container("web", [AttachRequest("host")])
    with docker_error(err.InvalidParameter, 400, DISCONNECT_HOST):
        engine.disconnect("host", "web")
    assert web.running and engine.get_network("host").id in web.attachments


def test_stopped_host_container_can_disconnect_from_host(engine: Engine) -> None:
    web = engine.run_container("web", [AttachRequest("host")])
    engine.stop_container("web")
    engine.disconnect("host", "web")
    assert web.attachments == {}


# -- connect twice, not connected, unknown --------------------------------------------


def test_running_container_connect_twice(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("front")])
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403, "endpoint with name web already exists in network front"):
        engine.connect("front", "web")
    assert engine_state(engine) == before


def test_stopped_container_connect_twice_is_a_no_op(engine: Engine) -> None:
    """ConnectToNetwork on a stopped container: updateNetworkSettings returns nil for
    a network it is already on (daemon/container_operations.go)."""
    front = engine.create_network(NetworkRequest("front"))
    web = engine.create_container("web", [AttachRequest("front")])
    engine.connect("front", "web")
    assert list(web.attachments) == [front.id]


def test_disconnect_running_container_not_connected(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    web = engine.run_container("web")
    with docker_error(err.DockerError, 500,
                      f"container {web.id} is not connected to network front"):
        engine.disconnect("front", "web")


def test_disconnect_stopped_container_not_connected(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    web = engine.create_container("web", [AttachRequest("bridge")])
    with docker_error(err.DockerError, 500,
                      f"container {web.id} is not connected to the network front"):
        engine.disconnect("front", "web")


def test_connect_unknown_network_or_container(engine: Engine) -> None:
    engine.run_container("web")
    with docker_error(err.NotFound, 404, "network nope not found"):
        engine.connect("nope", "web")
    with docker_error(err.NotFound, 404, "No such container: ghost"):
        engine.connect("bridge", "ghost")
    with docker_error(err.NotFound, 404, "No such container: ghost"):
        engine.disconnect("bridge", "ghost")


@pytest.mark.parametrize("operation", ["connect", "disconnect"])
def test_container_is_looked_up_before_network(engine: Engine, operation: str) -> None:
    """ConnectContainerToNetwork / DisconnectContainerFromNetwork call GetContainer
    first; the router does not resolve the network (daemon/network.go)."""
    with docker_error(err.NotFound, 404, "No such container: ghost"):
        getattr(engine, operation)("nope", "ghost")


# -- stop, start, rm, exec ----------------------------------------------------------------


def test_stop_releases_addresses_and_kernel_objects(engine: Engine, fabric: FakeFabric) -> None:
    bridge = engine.get_network("bridge")
    front = engine.create_network(NetworkRequest("front"))
    baseline = engine_state(engine)
    web = engine.run_container("web", [AttachRequest("bridge"), AttachRequest("front")])
    engine.stop_container("web")
    assert not web.running and web.sandbox is None and web.endpoints == {}
    assert engine_state(engine) == baseline
    assert network_json(bridge)["Containers"] == {}
    assert network_json(front)["Containers"] == {}
    # The stopped container still exists and still wants both networks.
    assert engine.list_containers() == []
    assert engine.list_containers(all=True) == [web]
    assert set(web.attachments) == {bridge.id, front.id}
    # Its address is free for somebody else.
    other = engine.run_container("other")
    assert address(other, bridge) == IPv4Interface("172.17.0.2/16")
    engine.start_container("web")
    assert address(web, bridge) == IPv4Interface("172.17.0.3/16")
    assert address(web, front) == IPv4Interface("172.18.0.2/16")
    assert set(plugs(fabric, web)) == {"eth0", "eth1"}


def test_stop_twice_and_start_twice(engine: Engine) -> None:
    web = engine.run_container("web")
    engine.start_container("web")
    assert len(web.endpoints) == 1
    engine.stop_container("web")
    engine.stop_container("web")
    assert not web.running


def test_remove_running_container_needs_force(engine: Engine) -> None:
    web = engine.run_container("web")
    before = engine_state(engine)
    with docker_error(err.Conflict, 409,
                      'cannot remove container "/web": container is running: stop the '
                      "container before removing or force remove"):
        engine.remove_container("web")
    assert engine_state(engine) == before and web.running


def test_force_remove_releases_everything(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(NetworkRequest("front"))
    baseline = engine_state(engine)
    engine.run_container("web", [AttachRequest("bridge"), AttachRequest("front")])
    engine.remove_container("web", force=True)
    assert engine_state(engine) == baseline
    assert engine.list_containers(all=True) == []
    # The name is free again.
    engine.run_container("web")


def test_remove_stopped_container(engine: Engine) -> None:
    baseline = engine_state(engine)
    engine.run_container("web")
    engine.stop_container("web")
    engine.remove_container("web")
    assert engine_state(engine) == baseline
    with docker_error(err.NotFound, 404, "No such container: web"):
        engine.get_container("web")


def test_exec_on_running_and_stopped_container(engine: Engine, fabric: FakeFabric) -> None:
    web = engine.run_container("web")
    result = engine.exec("web", ["ip", "addr"])
    assert result.exit_code == 0
    assert ("exec", "ip addr") in fabric.log
    engine.stop_container("web")
    with docker_error(err.Conflict, 409, f"container {web.id} is not running"):
        engine.exec("web", ["true"])
    created = engine.create_container("later", [AttachRequest("bridge")])
    with docker_error(err.Conflict, 409, f"container {created.id} is not running"):
        engine.exec(created.id[:12], ["true"])


# -- lookup -------------------------------------------------------------------------------


def test_container_lookup(engine: Engine) -> None:
    web = engine.run_container("web")
    assert engine.get_container(web.id) is web
    assert engine.get_container("web") is web
    assert engine.get_container("/web") is web
    assert engine.get_container(web.id[:12]) is web
    with docker_error(err.NotFound, 404, "No such container: ghost"):
        engine.get_container("ghost")


def test_container_name_wins_over_id_prefix(engine: Engine,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "new_id", ids_starting_with("cafecafe").__next__)
    by_id = engine.create_container("first", [AttachRequest("bridge")])
    by_name = engine.create_container("cafecafe", [AttachRequest("bridge")])
    assert engine.get_container("cafecafe") is by_name
    assert engine.get_container("cafecaf") is by_id


def test_container_lookup_ambiguous_prefix(engine: Engine,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """container/view.go ErrAmbiguousPrefix: `Multiple IDs found with provided prefix: %s`
    (InvalidParameter)."""
    monkeypatch.setattr(engine_module, "new_id", ids_starting_with("abcdef01", "abcdef02").__next__)
    one = engine.create_container("one", [AttachRequest("bridge")])
    engine.create_container("two", [AttachRequest("bridge")])
    assert engine.get_container("abcdef01") is one
    with docker_error(err.InvalidParameter, 400,
                      "Multiple IDs found with provided prefix: abcdef0"):
        engine.get_container("abcdef0")


# -- rollback -------------------------------------------------------------------------------


def test_failed_start_rolls_back_every_network(engine: Engine, fabric: FakeFabric,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    engine.create_network(NetworkRequest("front"))
    engine.create_network(NetworkRequest("back"))
    baseline = engine_state(engine)
    real_plug = fabric.plug
    calls = itertools.count()

    def plug_fails_second_time(sandbox, plug):
        if next(calls) == 1:
            raise OSError("injected failure")
        real_plug(sandbox, plug)

    monkeypatch.setattr(fabric, "plug", plug_fails_second_time)
    with pytest.raises(OSError):
        engine.run_container("web", [AttachRequest("front"), AttachRequest("back")])
    assert engine_state(engine) == baseline
    assert not any(c.running for c in engine.list_containers(all=True))
    monkeypatch.undo()
    web = engine.run_container("web2", [AttachRequest("front"), AttachRequest("back")])
    assert {str(ep.address) for ep in web.endpoints.values()} == {"172.18.0.2/16",
                                                                   "172.19.0.2/16"}


def test_failed_connect_leaves_container_as_it_was(engine: Engine, fabric: FakeFabric,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    back = engine.create_network(NetworkRequest("back"))
    web = engine.run_container("web")
    before = engine_state(engine)

    def broken_plug(sandbox, plug):
        raise OSError("injected failure")

    monkeypatch.setattr(fabric, "plug", broken_plug)
    with pytest.raises(OSError):
        engine.connect("back", "web")
    assert engine_state(engine) == before
    assert back.id not in web.attachments and back.id not in web.endpoints
    assert network_json(back)["Containers"] == {}


def test_on_change_is_called_when_sandboxes_change(engine: Engine) -> None:
    calls = []
    engine.on_change = lambda changed: calls.append([(c.name, c.running) for c in changed])
    engine.run_container("web")
    engine.stop_container("web")
    engine.remove_container("web")
    assert calls == [[("web", True)], [("web", False)], [("web", False)]]
