"""Swarm mode and the overlay driver on FakeFabrics: two or three engines, one swarm.

The oracle is dockerd 28 (daemon/cluster, swarmkit's allocator and controlapi,
libnetwork's overlay driver and default-gateway sandbox logic): texts and HTTP
statuses are compared byte for byte where Docker has them. Each engine has a
FakeFabric of its own, so what a host would have made in its kernel (overlay
namespaces, VXLAN devices, programmed peers, default routes) can be read back.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

import pytest
from engine_helpers import docker_error, engine_state

from emulator import errdefs as err
from emulator.api.shapes import swarm as swarm_shapes
from emulator.api.shapes.networks import container_networks_json, network_json
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.swarm.cluster import SwarmDirectory

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                 'join" to connect this node to swarm and try again.')
ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave '
                    "this swarm and join another one.")
NOT_IN_SWARM = "This node is not part of a swarm"
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
    "this message. ")
IPSEC_MISSING = ("cannot join secure network: required modules to install IPSEC rules are "
                 "missing on host")
VNI_LIST = "com.docker.network.driver.overlay.vxlanid_list"
MTU = "com.docker.network.driver.mtu"
GWBRIDGE_OPTIONS = {
    "com.docker.network.bridge.enable_icc": "false",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.name": "docker_gwbridge",
}
SWARM_ID = re.compile(r"^[0-9a-z]{25}$")
MANAGER_ADDR = "192.0.2.11:2377"


def not_attachable(name: str) -> str:
    return (f"Could not attach to network {name}: rpc error: code = PermissionDenied desc = "
            f"network {name} not manually attachable")


def make_engine(name: str, octet: int, directory: SwarmDirectory) -> Engine:
    return Engine(name, FakeFabric(name), advertise=IPv4Address(f"192.0.2.{octet}"),
                  swarm_directory=directory)


@pytest.fixture
def directory() -> SwarmDirectory:
    return SwarmDirectory()


@pytest.fixture
def h1(directory: SwarmDirectory) -> Engine:
    return make_engine("h1", 11, directory)


@pytest.fixture
def h2(directory: SwarmDirectory) -> Engine:
    return make_engine("h2", 12, directory)


@pytest.fixture
def h3(directory: SwarmDirectory) -> Engine:
    return make_engine("h3", 13, directory)


def token(manager: Engine, role: str = "Worker") -> str:
    return manager.swarm_join_token(role.lower())


@pytest.fixture
def swarm(h1: Engine, h2: Engine) -> tuple[Engine, Engine]:
    """h1 initialises the swarm (manager), h2 joins it as a worker."""
    h1.swarm_init()
    h2.swarm_join([MANAGER_ADDR], token(h1))
    return h1, h2


def overlay(engine: Engine, name: str = "ov", attachable: bool = True, **kwargs):
    return engine.create_network(NetworkRequest(name, "overlay", attachable=attachable, **kwargs))


def run(engine: Engine, name: str, *networks: str):
    return engine.run_container(name, [AttachRequest(n) for n in networks])


def names(engine: Engine) -> set[str]:
    return {n.name for n in engine.list_networks()}


def ns_key(network) -> str:
    """The overlay namespace of a network on a host: `1-` and the first 10 of its ID."""
    return f"1-{network.id[:10]}"


def gwbridge(engine: Engine):
    return engine.get_network("docker_gwbridge")


def fabric(engine: Engine) -> FakeFabric:
    return engine.fabric  # type: ignore[return-value]


LB_SANDBOXES = ("ingress-sbox", "lb-")


def user_sandboxes(engine: Engine) -> set[str]:
    """The sandboxes of containers: not the node's ingress sandbox, lb-NET sandboxes or
    the ingress network's overlay namespace."""
    ingress = ns_key(engine.get_network("ingress"))
    return {k for k in fabric(engine).sandboxes
            if not k.startswith(LB_SANDBOXES) and k != ingress}


def container_endpoints(network) -> dict:
    """A network's endpoints without those of the node's load-balancing sandboxes."""
    return {k: ep for k, ep in network.endpoints.items()
            if not ep.container_id.startswith(LB_SANDBOXES)}


def container_peers(engine: Engine, key: str, *engines: Engine) -> dict:
    """The peers programmed on `engine` without the other nodes' lb-NET endpoints."""
    lb = {str(ep.address.ip) for e in engines for n in e.networks.values()
          for ep in n.endpoints.values() if ep.container_id.startswith("lb-")}
    return {ip: peer for ip, peer in fabric(engine).peers.get(key, {}).items() if ip not in lb}


# -- before the swarm ---------------------------------------------------------


def test_overlay_before_swarm_is_forbidden_and_leaves_nothing(h1: Engine) -> None:
    before = engine_state(h1)
    with docker_error(err.Forbidden, 403, NOT_A_MANAGER):
        overlay(h1)
    assert engine_state(h1) == before
    assert "docker_gwbridge" not in names(h1)
    assert swarm_shapes.swarm_info(h1)["LocalNodeState"] == "inactive"


def test_leave_when_not_in_a_swarm(h1: Engine) -> None:
    with docker_error(err.Unavailable, 503, NOT_IN_SWARM):
        h1.swarm_leave()
    with docker_error(err.Unavailable, 503, NOT_IN_SWARM):
        h1.swarm_leave(force=True)


# -- init and join ------------------------------------------------------------


def test_init_creates_ingress_and_docker_gwbridge(h1: Engine) -> None:
    node_id = h1.swarm_init()
    assert SWARM_ID.match(node_id)
    ingress = network_json(h1.get_network("ingress"))
    assert SWARM_ID.match(ingress["Id"])  # type: ignore[arg-type]
    assert ingress["Driver"] == "overlay" and ingress["Scope"] == "swarm"
    assert ingress["IPAM"]["Config"] == [{"Subnet": "10.0.0.0/24",  # type: ignore[index]
                                          "Gateway": "10.0.0.1"}]
    assert ingress["Options"][VNI_LIST] == "4096"  # type: ignore[index]
    assert ingress["Ingress"] is True
    assert ingress["Attachable"] is False and ingress["Internal"] is False
    gw = network_json(gwbridge(h1))
    assert gw["Driver"] == "bridge" and gw["Scope"] == "local"
    assert gw["Options"] == GWBRIDGE_OPTIONS
    assert gw["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16",  # type: ignore[index]
                                     "Gateway": "172.18.0.1"}]
    assert gw["Ingress"] is False
    assert "docker_gwbridge" in fabric(h1).links
    info = swarm_shapes.swarm_info(h1)
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is True
    assert info["NodeID"] == node_id and info["NodeAddr"] == "192.0.2.11"


def test_init_twice_is_refused(h1: Engine) -> None:
    h1.swarm_init()
    before = engine_state(h1)
    with docker_error(err.Unavailable, 503, ALREADY_IN_SWARM):
        h1.swarm_init()
    assert engine_state(h1) == before


def test_join_when_already_in_a_swarm_is_refused(swarm) -> None:
    h1, h2 = swarm
    with docker_error(err.Unavailable, 503, ALREADY_IN_SWARM):
        h2.swarm_join([MANAGER_ADDR], token(h1))


def test_worker_joins_with_the_worker_token(swarm) -> None:
    h1, h2 = swarm
    assert h2.swarm_node.role == "worker"
    assert h2.get_network("ingress").id == h1.get_network("ingress").id
    assert network_json(gwbridge(h2))["Options"] == GWBRIDGE_OPTIONS
    assert "docker_gwbridge" in fabric(h2).links
    roles = {n["Description"]["Hostname"]: n["Spec"]["Role"]  # type: ignore[index]
             for n in swarm_shapes.swarm_nodes(h1.swarm_manager())}
    assert roles == {"h1": "manager", "h2": "worker"}
    info = swarm_shapes.swarm_info(h2)
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is False


def test_manager_token_makes_a_manager(swarm, h3: Engine) -> None:
    h1, _ = swarm
    node = h3.swarm_join([MANAGER_ADDR], token(h1, "Manager"))
    assert node.role == "manager"
    assert swarm_shapes.swarm_info(h3)["ControlAvailable"] is True


def test_malformed_join_token_is_refused_and_leaves_nothing(swarm, h3: Engine) -> None:
    before = engine_state(h3)
    with docker_error(err.InvalidParameter, 400, "invalid join token"):
        h3.swarm_join([MANAGER_ADDR], "not-a-token")
    assert engine_state(h3) == before
    assert swarm_shapes.swarm_info(h3)["LocalNodeState"] == "inactive"


def test_wrong_join_token_is_refused_and_leaves_nothing(swarm, h3: Engine) -> None:
    h1, _ = swarm
    real = token(h1)
    wrong = real[:-25] + ("0" * 25 if not real.endswith("0" * 25) else "1" * 25)
    before = engine_state(h3)
    with docker_error(err.DockerError, 500, "rpc error: code = InvalidArgument desc = A valid "
                                            "join token is necessary to join this cluster"):
        h3.swarm_join([MANAGER_ADDR], wrong)
    assert engine_state(h3) == before
    assert len(swarm_shapes.swarm_nodes(h1.swarm_manager())) == 2


@pytest.mark.parametrize("port", [80, 1023, 49152])
def test_data_path_port_out_of_range(h1: Engine, port: int) -> None:
    before = engine_state(h1)
    with docker_error(err.DockerError, 500,
                      f"Datapath port number is not in valid range (1024-49151) : {port}"):
        h1.swarm_init(data_path_port=port)
    assert engine_state(h1) == before
    assert swarm_shapes.swarm_info(h1)["LocalNodeState"] == "inactive"


def test_data_path_port_reaches_the_vxlan_device(h1: Engine) -> None:
    h1.swarm_init(data_path_port=7789)
    assert h1.swarm_manager().data_path_port == 7789
    overlay(h1)
    run(h1, "c1", "ov")
    assert ("add_vxlan", "vxlan0 vni 4097 port 7789") in fabric(h1).log


def test_default_data_path_port_is_4789(h1: Engine) -> None:
    h1.swarm_init()
    assert h1.swarm_manager().data_path_port == 4789


# -- creating overlays ----------------------------------------------------------


def test_overlay_on_a_worker_is_forbidden(swarm) -> None:
    h1, h2 = swarm
    before = engine_state(h2)
    swarm_networks = set(h1.swarm.networks)
    with docker_error(err.Forbidden, 403, NOT_A_MANAGER):
        overlay(h2)
    assert engine_state(h2) == before
    assert set(h1.swarm.networks) == swarm_networks


def test_user_overlays_get_vnis_and_subnets_in_order(swarm) -> None:
    h1, _ = swarm
    first, second = overlay(h1, "ov1"), overlay(h1, "ov2")
    one, two = network_json(first), network_json(second)
    assert one["Options"][VNI_LIST] == "4097"  # type: ignore[index]
    assert one["IPAM"]["Config"] == [{"Subnet": "10.0.1.0/24",  # type: ignore[index]
                                      "Gateway": "10.0.1.1"}]
    assert two["Options"][VNI_LIST] == "4098"  # type: ignore[index]
    assert two["IPAM"]["Config"] == [{"Subnet": "10.0.2.0/24",  # type: ignore[index]
                                      "Gateway": "10.0.2.1"}]
    assert one["Scope"] == "swarm" and one["Driver"] == "overlay"
    assert SWARM_ID.match(one["Id"])  # type: ignore[arg-type]


def test_explicit_vni_is_honoured(swarm) -> None:
    h1, _ = swarm
    net = overlay(h1, options={VNI_LIST: "5000"})
    assert network_json(net)["Options"][VNI_LIST] == "5000"  # type: ignore[index]
    run(h1, "c1", "ov")
    assert ("add_vxlan", "vxlan0 vni 5000 port 4789") in fabric(h1).log
    assert network_json(overlay(h1, "next"))["Options"][VNI_LIST] == "4097"  # type: ignore[index]


@pytest.mark.parametrize("taken", ["4096", "4097", "5000"])
def test_duplicate_vni_is_refused(swarm, taken: str) -> None:
    h1, _ = swarm
    overlay(h1)  # 4097
    overlay(h1, "explicit", options={VNI_LIST: "5000"})
    before = engine_state(h1)
    swarm_networks = set(h1.swarm.networks)
    with pytest.raises(err.DockerError) as info:
        overlay(h1, "dup", options={VNI_LIST: taken})
    assert taken in info.value.message and "in use" in info.value.message
    assert engine_state(h1) == before
    assert set(h1.swarm.networks) == swarm_networks


def test_duplicate_overlay_name_is_refused(swarm) -> None:
    h1, _ = swarm
    overlay(h1)
    with docker_error(err.Conflict, 409, "network with name ov already exists"):
        overlay(h1)


def test_workers_see_user_overlays_only_once_a_container_of_theirs_uses_one(swarm) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    assert "ov" in names(h1)
    assert names(h2) == {"none", "host", "bridge", "docker_gwbridge", "ingress"}
    with pytest.raises(err.NotFound):
        h2.get_network("ov")
    run(h2, "c2", "ov")
    assert "ov" in names(h2)
    assert h2.get_network("ov").id == net.id


def test_a_manager_sees_every_swarm_network_with_the_same_id(swarm, h3: Engine) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    h3.swarm_join([MANAGER_ADDR], token(h1, "Manager"))
    later = overlay(h3, "later")
    assert h3.get_network("ov").id == net.id
    assert h1.get_network("later").id == later.id
    run(h2, "c2", "ov")
    assert h2.get_network("ov").id == net.id
    configs = {e.host: network_json(e.get_network("ov"))["IPAM"] for e in (h1, h2, h3)}
    assert configs["h1"] == configs["h2"] == configs["h3"]
    assert h1.get_network("ingress").id == h3.get_network("ingress").id


def test_addresses_are_unique_across_nodes(swarm, h3: Engine) -> None:
    h1, h2 = swarm
    h3.swarm_join([MANAGER_ADDR], token(h1))
    overlay(h1)
    containers = [run(engine, f"c{engine.host}{i}", "ov")
                  for i in range(3) for engine in (h1, h2, h3)]
    net_id = h1.get_network("ov").id
    addresses = [c.endpoints[net_id].address for c in containers]
    assert len(set(addresses)) == len(addresses), addresses
    for address in addresses:
        assert address.network == IPv4Network("10.0.1.0/24")
        assert address.ip != IPv4Address("10.0.1.1")


def test_overlay_mac_is_0242_and_the_ip(swarm) -> None:
    h1, h2 = swarm
    overlay(h1)
    c1, c2 = run(h1, "c1", "ov"), run(h2, "c2", "ov")
    for engine, container in ((h1, c1), (h2, c2)):
        ep = container.endpoints[engine.get_network("ov").id]
        octets = ep.address.ip.packed
        assert ep.mac == "02:42:" + ":".join(f"{b:02x}" for b in octets)


# -- attaching ------------------------------------------------------------------


def test_non_attachable_overlay_refuses_containers(swarm) -> None:
    h1, h2 = swarm
    overlay(h1, attachable=False)
    for engine in (h1, h2):
        with docker_error(err.DockerError, 500, not_attachable("ov")):
            run(engine, "c1", "ov")
        assert "c1" not in {c.name for c in engine.list_containers(all=True)}
    assert not user_sandboxes(h1) and not user_sandboxes(h2)


def test_non_attachable_overlay_refuses_connect(swarm) -> None:
    h1, _ = swarm
    overlay(h1, attachable=False)
    c = run(h1, "c1", "bridge")
    with docker_error(err.DockerError, 500, not_attachable("ov")):
        h1.connect("ov", "c1")
    assert [h1.networks[n].name for n in c.endpoints] == ["bridge"]


def test_refused_attach_leaves_no_network_on_the_worker(swarm) -> None:
    h1, h2 = swarm
    overlay(h1, attachable=False)
    before = engine_state(h2)
    with pytest.raises(err.DockerError):
        run(h2, "c2", "ov")
    assert engine_state(h2) == before


def test_ingress_is_not_attachable(swarm) -> None:
    h1, h2 = swarm
    for engine in (h1, h2):
        with docker_error(err.DockerError, 500, not_attachable("ingress")):
            run(engine, "c1", "ingress")
    c = run(h1, "c2", "bridge")
    with docker_error(err.DockerError, 500, not_attachable("ingress")):
        h1.connect("ingress", c.id)


def test_ingress_cannot_be_removed(swarm) -> None:
    h1, h2 = swarm
    with pytest.raises(err.DockerError) as info:
        h1.remove_network("ingress")
    assert "ingress network cannot be removed" in info.value.message
    assert "ingress" in names(h1) and "ingress" in names(h2)


def test_encrypted_overlay_fails_at_join_with_dockers_ipsec_message(swarm) -> None:
    h1, _ = swarm
    net = overlay(h1, "secure", options={"encrypted": ""})
    assert network_json(net)["Options"] == {"encrypted": "", VNI_LIST: "4097"}
    with pytest.raises(err.DockerError) as info:
        run(h1, "c1", "secure")
    assert info.value.message.endswith(IPSEC_MISSING)
    assert not user_sandboxes(h1)
    assert net.endpoints == {} and container_endpoints(gwbridge(h1)) == {}


# -- removing -------------------------------------------------------------------


def test_removing_an_overlay_used_on_another_node_is_refused(swarm) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    c2 = run(h2, "c2", "ov")
    with pytest.raises(err.DockerError) as info:
        h1.remove_network("ov")
    assert 400 <= info.value.status < 500, info.value.status
    assert h1.get_network("ov").id == h2.get_network("ov").id == net.id
    assert net.id in h1.swarm.networks
    assert c2.running and net.id in c2.endpoints


def test_removing_an_unused_overlay_removes_it_on_every_node(swarm, h3: Engine) -> None:
    h1, h2 = swarm
    h3.swarm_join([MANAGER_ADDR], token(h1, "Manager"))
    net = overlay(h1)
    c2 = run(h2, "c2", "ov")
    h2.remove_container(c2.id, force=True)
    assert "ov" in names(h2)
    h3.remove_network("ov")
    for engine in (h1, h2, h3):
        assert "ov" not in names(engine)
        assert not engine.driver("overlay")._networks.get(net.id)  # type: ignore[attr-defined]
    assert net.id not in h1.swarm.networks
    assert not h1.swarm.control.peers(net.id)


def test_worker_cannot_remove_a_swarm_network(swarm) -> None:
    h1, h2 = swarm
    overlay(h1)
    run(h2, "c2", "ov")
    with pytest.raises(err.DockerError):
        h2.remove_network("ov")
    assert "ov" in names(h1) and "ov" in names(h2)


def test_prune_leaves_swarm_networks_alone(swarm) -> None:
    h1, h2 = swarm
    overlay(h1)
    for engine in (h1, h2):
        assert "ingress" not in engine.prune_networks()
        assert "ingress" in names(engine)
    assert "ov" in names(h1)


def test_overlay_containers_still_get_a_gwbridge_after_prune(swarm) -> None:
    h1, h2 = swarm
    overlay(h1)
    h2.prune_networks()
    c = run(h2, "c2", "ov")
    gw = gwbridge(h2)
    assert gw.id in c.endpoints
    assert fabric(h2).default_routes[c.id] == IPv4Address("172.18.0.1")


# -- the docker_gwbridge endpoint ---------------------------------------------------


def test_overlay_container_gets_a_hidden_gwbridge_endpoint_with_the_default_route(swarm) -> None:
    h1, _ = swarm
    overlay(h1)
    c = run(h1, "c1", "ov")
    gw = gwbridge(h1)
    assert set(c.endpoints) == {h1.get_network("ov").id, gw.id}
    assert set(container_networks_json(c, h1.networks)) == {"ov"}
    listed = network_json(gw)["Containers"]
    assert set(listed) == {c.id, "ingress-sbox"}  # type: ignore[arg-type]
    entry = listed[c.id]  # type: ignore[index]
    assert entry["Name"] == f"gateway_{c.id[:12]}"
    assert IPv4Network("172.18.0.0/16").supernet_of(
        IPv4Network(entry["IPv4Address"], strict=False))
    assert fabric(h1).default_routes[c.id] == IPv4Address("172.18.0.1")
    assert c.endpoints[gw.id].ifname == "eth1"
    ov_json = network_json(h1.get_network("ov"))["Containers"]
    assert ov_json[c.id]["Name"] == "c1"  # type: ignore[index]


def test_a_container_on_two_overlays_has_one_gwbridge_endpoint(swarm) -> None:
    h1, _ = swarm
    overlay(h1)
    overlay(h1, "ov2")
    ports = lambda: [n for n, link in fabric(h1).links.items()  # noqa: E731
                     if link.master == "docker_gwbridge"]
    before = ports()
    c = run(h1, "c1", "ov", "ov2")
    gw = gwbridge(h1)
    assert [ep.container_id for ep in container_endpoints(gw).values()] == [c.id]
    assert len(ports()) == len(before) + 1
    h1.remove_container(c.id, force=True)
    assert container_endpoints(gw) == {}
    assert ports() == before


def test_the_gwbridge_endpoint_goes_with_the_overlay(swarm) -> None:
    h1, _ = swarm
    overlay(h1)
    pool = gwbridge(h1).pool_id
    idle = h1.addresses.allocated_addresses(pool)
    c = run(h1, "c1", "bridge", "ov")
    # the default bridge offers a gateway: no docker_gwbridge endpoint is needed
    assert gwbridge(h1).id not in c.endpoints
    d = run(h1, "c2", "ov")
    assert gwbridge(h1).id in d.endpoints
    h1.disconnect("ov", "c2")
    assert container_endpoints(gwbridge(h1)) == {}
    assert d.endpoints == {}
    e = run(h1, "c3", "ov")
    h1.remove_container(e.id, force=True)
    assert container_endpoints(gwbridge(h1)) == {}
    assert h1.addresses.allocated_addresses(pool) == idle


def test_connecting_a_bridge_drops_the_gwbridge_endpoint(swarm) -> None:
    h1, _ = swarm
    overlay(h1)
    front = h1.create_network(NetworkRequest("front"))
    c = run(h1, "c1", "ov")
    h1.connect("front", "c1")
    assert gwbridge(h1).id not in c.endpoints
    assert str(fabric(h1).default_routes[c.id]) == front.ipam_config[0]["Gateway"]


def test_disconnecting_the_bridge_brings_the_gwbridge_endpoint_back(swarm) -> None:
    h1, _ = swarm
    overlay(h1)
    h1.create_network(NetworkRequest("front"))
    c = run(h1, "c1", "front", "ov")
    assert gwbridge(h1).id not in c.endpoints
    h1.disconnect("front", "c1")
    assert gwbridge(h1).id in c.endpoints
    assert fabric(h1).default_routes[c.id] == IPv4Address("172.18.0.1")


def test_internal_overlay_has_no_gwbridge_endpoint_and_no_default_route(swarm) -> None:
    h1, _ = swarm
    overlay(h1, internal=True)
    c = run(h1, "c1", "ov")
    assert set(c.endpoints) == {h1.get_network("ov").id}
    assert container_endpoints(gwbridge(h1)) == {}
    assert c.id not in fabric(h1).default_routes
    assert set(network_json(gwbridge(h1))["Containers"]) == {"ingress-sbox"}


# -- the overlay namespace and the control plane ----------------------------------------


def test_overlay_namespace_is_made_on_first_join_and_goes_with_the_last(swarm) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    key = ns_key(net)
    assert key not in fabric(h1).sandboxes
    c1 = run(h1, "c1", "ov")
    c2 = run(h1, "c2", "ov")
    assert key in fabric(h1).sandboxes and key not in fabric(h2).sandboxes
    links = fabric(h1).sandbox_ifaces[key]
    assert {"br0", "vxlan0"} <= set(links)
    assert links["br0"].address.with_prefixlen == "10.0.1.1/24"
    h1.remove_container(c1.id, force=True)
    assert key in fabric(h1).sandboxes
    h1.remove_container(c2.id, force=True)
    assert key not in fabric(h1).sandboxes
    assert h1.check() == []


def test_control_plane_programs_every_host_with_the_others_endpoints(swarm, h3: Engine) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    key = ns_key(net)
    c1, c2 = run(h1, "c1", "ov"), run(h2, "c2", "ov")
    ep1, ep2 = c1.endpoints[net.id], c2.endpoints[net.id]
    peer1 = {str(ep1.address.ip): (ep1.mac, "192.0.2.11")}
    peer2 = {str(ep2.address.ip): (ep2.mac, "192.0.2.12")}
    assert container_peers(h1, key, h1, h2) == peer2
    assert container_peers(h2, key, h1, h2) == peer1
    h3.swarm_join([MANAGER_ADDR], token(h1))
    c3 = run(h3, "c3", "ov")
    ep3 = c3.endpoints[net.id]
    peer3 = {str(ep3.address.ip): (ep3.mac, "192.0.2.13")}
    everyone = (h1, h2, h3)
    assert container_peers(h3, key, *everyone) == {**peer1, **peer2}
    assert container_peers(h1, key, *everyone) == {**peer2, **peer3}
    assert container_peers(h2, key, *everyone) == {**peer1, **peer3}


def test_local_endpoints_are_not_programmed_as_peers(swarm) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    run(h1, "c1", "ov")
    run(h1, "c2", "ov")
    assert fabric(h1).peers.get(ns_key(net), {}) == {}


def test_disconnect_and_removal_withdraw_peers(swarm) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    key = ns_key(net)
    run(h1, "c1", "ov")
    run(h2, "c2", "ov")
    c3 = run(h2, "c3", "ov")
    assert len(container_peers(h1, key, h1, h2)) == 2
    h2.disconnect("ov", "c2")
    assert set(container_peers(h1, key, h1, h2)) == {str(c3.endpoints[net.id].address.ip)}
    h2.remove_container("c3", force=True)
    assert fabric(h1).peers[key] == {}
    assert key not in fabric(h2).sandboxes
    assert {p.host for p in h1.swarm.control.peers(net.id)} == {"h1"}


def test_stopping_a_container_withdraws_it_and_starting_publishes_it_again(swarm) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    key = ns_key(net)
    run(h1, "c1", "ov")
    c2 = run(h2, "c2", "ov")
    h2.stop_container("c2")
    assert fabric(h1).peers[key] == {}
    h2.start_container("c2")
    ep = c2.endpoints[net.id]
    assert container_peers(h1, key, h1, h2) == {str(ep.address.ip): (ep.mac, "192.0.2.12")}


@pytest.mark.parametrize(("options", "mtu"), [({}, 1450), ({MTU: "1400"}, 1400)])
def test_mtu_reaches_the_fabric(swarm, options: dict[str, str], mtu: int) -> None:
    h1, _ = swarm
    net = overlay(h1, options=options)
    c = run(h1, "c1", "ov")
    ifaces = fabric(h1).sandbox_ifaces
    assert ifaces[ns_key(net)]["br0"].mtu == mtu
    assert ifaces[ns_key(net)]["vxlan0"].mtu == mtu
    assert ifaces[c.id]["eth0"].mtu == mtu


def test_bad_mtu_is_refused_before_anything_exists(swarm) -> None:
    h1, _ = swarm
    before = engine_state(h1)
    swarm_networks = set(h1.swarm.networks)
    with pytest.raises(err.DockerError):
        overlay(h1, options={MTU: "lots"})
    assert engine_state(h1) == before and set(h1.swarm.networks) == swarm_networks


# -- leaving --------------------------------------------------------------------


def test_last_manager_cannot_leave_without_force(swarm) -> None:
    h1, _ = swarm
    before = engine_state(h1)
    with docker_error(err.Unavailable, 503, LAST_MANAGER):
        h1.swarm_leave()
    assert engine_state(h1) == before
    assert swarm_shapes.swarm_info(h1)["LocalNodeState"] == "active"


def test_worker_leaves_and_loses_swarm_networks(swarm) -> None:
    h1, h2 = swarm
    net = overlay(h1)
    run(h2, "c2", "ov")
    h2.remove_container("c2", force=True)
    h2.swarm_leave()
    assert names(h2) == {"none", "host", "bridge", "docker_gwbridge"}
    assert swarm_shapes.swarm_info(h2)["LocalNodeState"] == "inactive"
    nodes = swarm_shapes.swarm_nodes(h1.swarm_manager())
    assert [n["Description"]["Hostname"] for n in nodes] == ["h1"]  # type: ignore
    assert h1.get_network("ov").id == net.id
    with docker_error(err.Forbidden, 403, NOT_A_MANAGER):
        overlay(h2, "again")


def test_forced_leave_of_the_last_manager_removes_ingress_and_overlays(swarm) -> None:
    h1, h2 = swarm
    h2.swarm_leave()
    net = overlay(h1)
    run(h1, "c1", "ov")
    h1.swarm_leave(force=True)
    assert "ingress" not in names(h1) and "ov" not in names(h1)
    assert "docker_gwbridge" in names(h1)
    assert ns_key(net) not in fabric(h1).sandboxes
    assert h1.get_container("c1").endpoints == {}
    with docker_error(err.Forbidden, 403, NOT_A_MANAGER):
        overlay(h1, "again")
    h1.swarm_init()
    assert network_json(h1.get_network("ingress"))["Options"][VNI_LIST] == "4096"  # type: ignore


def test_a_second_manager_may_leave_without_force(swarm, h3: Engine) -> None:
    h1, _ = swarm
    h3.swarm_join([MANAGER_ADDR], token(h1, "Manager"))
    h3.swarm_leave()
    assert "ingress" not in names(h3)
    assert len(swarm_shapes.swarm_nodes(h1.swarm_manager())) == 2
