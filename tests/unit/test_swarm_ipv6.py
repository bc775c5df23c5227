"""IPv6 on swarm overlays, as Docker 28.5.2 gives it, on FakeFabrics.

The oracle is dockerd 28.5.2's source (libnetwork/cnmallocator, daemon/cluster, the
node-side createNetwork, libnetwork's ipamAllocate):
- the swarm's allocator hands out IPv4 pools and addresses only (allocatePools sends no
  V6 request), so `--ipv6` with no IPv6 subnet gets, on each node, a /64 of that node's
  own ULA pool (the node makes its copy with the swarm's IPv4 config, EnableIPv6 and
  scope "swarm", which takes the LocalDefault address space);
- an IPv6 --subnet cannot be allocated by the swarm at all (moby/moby#48116): the
  emulator refuses it with a message saying so;
- `--ipv4=false` is refused with libnetwork's text;
- VIPs come from the swarm's IPv4 pool.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Interface, IPv6Network
from typing import cast

import pytest
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.api.shapes.networks import container_networks_json, network_json
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.ipam import IpamConfig, ula_pool
from emulator.swarm.cluster import SwarmDirectory
from emulator.swarm.services import NetworkAttachment, ServiceSpec

MANAGER_ADDR = "192.0.2.11:2377"
V4_ONLY_IN_SWARM = "IPv4 cannot be disabled in a Swarm scoped network"


def first_64(engine_id: str) -> IPv6Network:
    """The lowest /64 of an engine's ULA pool (Docker 27+'s default IPv6 pool)."""
    return next(ula_pool(engine_id).base.subnets(new_prefix=64))  # type: ignore[union-attr]


def fabric(engine: Engine) -> FakeFabric:
    return cast(FakeFabric, engine.fabric)


@pytest.fixture
def swarm():
    directory = SwarmDirectory()
    h1, h2 = (Engine(f"h{i}", FakeFabric(f"h{i}"), advertise=IPv4Address(f"192.0.2.1{i}"),
                     swarm_directory=directory) for i in (1, 2))
    h1.swarm_init()
    h2.swarm_join([MANAGER_ADDR], h1.swarm_join_token("worker"))
    yield h1, h2
    for engine in (h1, h2):
        engine.close()


def ov6(engine: Engine, name: str = "ov6", **kwargs):
    return engine.create_network(NetworkRequest(name, "overlay", attachable=True,
                                                enable_ipv6=True, **kwargs))


def run(engine: Engine, name: str, network: str = "ov6"):
    return engine.run_container(name, [AttachRequest(network)])


def settings(engine: Engine, container, network: str = "ov6") -> dict:
    return container_networks_json(container, engine.networks)[network]


def test_ipv6_overlay_takes_a_64_of_each_nodes_own_pool(swarm) -> None:
    h1, h2 = swarm
    ov6(h1, subnet="10.60.0.0/24")
    c1, c2 = run(h1, "c1"), run(h2, "c2")
    for engine in (h1, h2):
        doc = network_json(engine.get_network("ov6"))
        assert (doc["EnableIPv4"], doc["EnableIPv6"]) == (True, True)
        v6 = first_64(engine.engine_id)
        assert doc["IPAM"]["Config"] == [
            {"Subnet": "10.60.0.0/24", "Gateway": "10.60.0.1"},
            {"Subnet": str(v6), "Gateway": str(v6[1])}]
    assert first_64("h1") != first_64("h2")
    for engine, container in ((h1, c1), (h2, c2)):
        got = settings(engine, container)
        v6 = first_64(engine.engine_id)
        # the node's lb-NET sandbox took ::2 of the node's pool before the container
        assert (got["GlobalIPv6Address"], got["GlobalIPv6PrefixLen"]) == (str(v6[3]), 64)
        assert got["IPv6Gateway"] == ""
        assert IPv4Address(got["IPAddress"]) in IPv4Network("10.60.0.0/24")
        plug = fabric(engine).sandbox_ifaces[container.sandbox.key]["eth0"]
        assert plug.address6 == IPv6Interface(f"{v6[3]}/64")
        assert container.sandbox.key not in fabric(engine).default_routes6


def test_ipv4_addresses_stay_unique_across_nodes_ipv6_ones_only_per_node(swarm) -> None:
    h1, h2 = swarm
    ov6(h1)
    net_id = h1.get_network("ov6").id
    containers = [(engine, run(engine, f"c{engine.host}{i}"))
                  for i in range(2) for engine in (h1, h2)]
    v4 = [c.endpoints[net_id].address for _, c in containers]
    assert len(set(v4)) == len(v4)
    assert {a.network for a in v4} == {IPv4Network("10.0.1.0/24")}
    for engine, container in containers:
        assert container.endpoints[net_id].address6.network == first_64(engine.engine_id)
    hosts_of = {str(c.endpoints[net_id].address6.ip).rsplit(":", 1)[1] for _, c in containers}
    assert hosts_of == {"3", "4"}  # the same interface IDs on both nodes


def test_peers_are_programmed_by_ipv4_only(swarm) -> None:
    """moby/moby#47125: the overlay's peer database carries each endpoint's IPv4 address
    and MAC; no IPv6 neighbour is programmed on the other node."""
    h1, h2 = swarm
    ov6(h1)
    run(h1, "c1")
    run(h2, "c2")
    key = f"1-{h1.get_network('ov6').id[:10]}"
    for engine in (h1, h2):
        peers = fabric(engine).peers[key]
        assert peers and all(IPv4Address(ip) for ip in peers)


def test_leaving_and_removing_give_the_nodes_pools_back(swarm) -> None:
    h1, h2 = swarm
    ov6(h1)
    c2 = run(h2, "c2")
    h2.remove_container(c2.id, force=True)
    h1.remove_network("ov6")
    assert "ov6" not in {n.name for n in h2.list_networks()}
    for engine in (h1, h2):
        assert not [p for p in engine.addresses.pools() if p.version == 6]
    ov6(h1, "again")
    c1 = run(h1, "c1", "again")
    assert settings(h1, c1, "again")["GlobalIPv6Address"] == str(first_64("h1")[3])


def test_an_ipv6_subnet_is_refused_as_dockers_allocator_cannot_allocate_it(swarm) -> None:
    h1, h2 = swarm
    before = set(h1.swarm.networks)
    configs = (IpamConfig("10.60.0.0/24"), IpamConfig("fd00:60::/64"))
    text = ("an IPv6 --subnet (fd00:60::/64) on a swarm network is refused: Docker 28's swarm "
            "allocator cannot allocate it (the manager logs \"failed allocating pools and "
            "gateway IP for network ...: cannot find address pool for poolID:fd00:60::/64/"
            "invalid Prefix\", the network is never allocated and no container can attach "
            "to it, moby/moby#48116); with --ipv6 and no IPv6 --subnet, each node gives the "
            "network a /64 of its own IPv6 pool, as Docker 28 does")
    for enable_ipv6 in (True, False):  # the subnet reaches the swarm either way
        with docker_error(err.NotImplementedByEmulator, 501, text):
            h1.create_network(NetworkRequest("ov6", "overlay", attachable=True,
                                             enable_ipv6=enable_ipv6, configs=configs))
    assert set(h1.swarm.networks) == before
    assert "ov6" not in {n.name for n in h1.list_networks()}
    assert ov6(h1, subnet="10.60.0.0/24").options[
        "com.docker.network.driver.overlay.vxlanid_list"] == "4097"


def test_ipv4_cannot_be_disabled(swarm) -> None:
    h1, _ = swarm
    with docker_error(err.InvalidParameter, 400, V4_ONLY_IN_SWARM):
        h1.create_network(NetworkRequest("ov6", "overlay", enable_ipv4=False,
                                         enable_ipv6=True))
    with docker_error(err.InvalidParameter, 400, V4_ONLY_IN_SWARM):
        h1.create_network(NetworkRequest(
            "ov6", "overlay", options={"com.docker.network.enable_ipv4": "false"}))


def test_a_service_on_an_ipv6_overlay_has_an_ipv4_vip_its_tasks_both(swarm) -> None:
    h1, h2 = swarm
    ov6(h1, "app")
    service, _ = h1.create_service(ServiceSpec(
        name="web", image="alpine", command=("sleep", "1000"), replicas=2,
        networks=(NetworkAttachment("app"),)))
    app = h1.get_network("app")
    assert service.vips[app.id].with_prefixlen == "10.0.1.2/24"
    tasks = [t for t in h1.list_tasks() if t.service_id == service.id]
    assert {t.host for t in tasks} == {"h1", "h2"}
    for task in tasks:
        engine = {"h1": h1, "h2": h2}[task.host]
        container = engine.get_container(f"web.{task.slot}.{task.id}")
        ep = container.endpoints[app.id]
        assert ep.address.network == IPv4Network("10.0.1.0/24")
        assert ep.address6.network == first_64(engine.engine_id)
