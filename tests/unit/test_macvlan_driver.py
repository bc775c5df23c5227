"""The macvlan driver: options, parents, passthru sharing, endpoints, teardown, CHECK.

Messages are those of dockerd 28's macvlan driver (libnetwork/drivers/macvlan:
parseNetworkOptions, createNetwork, createVlanLink, parseVlan, createMacVlan). What
this kernel cannot build (dummy parents, 802.1q sub-interfaces) is refused with 501.
The emulated host has its underlay NIC eth0 and its LAN NIC eth1.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from engine_helpers import docker_error, engine_state

from emulator import errdefs as err
from emulator.api.shapes.networks import container_networks_json, network_json
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.macvlan import MacvlanDriver
from emulator.fabric.base import MacvlanPlug
from emulator.fabric.fake import FakeFabric

MODE = "macvlan_mode"
MTU = "com.docker.network.driver.mtu"
MODES = ["bridge", "private", "vepa", "passthru"]
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


@pytest.fixture
def fabric() -> FakeFabric:
    """A Docker host with its underlay NIC and a LAN NIC (the conftest engine uses it)."""
    return FakeFabric("h1", nics=("eth0", "eth1"))


def macvlan(name: str = "lan", parent: str | None = "eth1", mode: str | None = None,
            **request: object) -> NetworkRequest:
    options = {} if parent is None else {"parent": parent}
    if mode is not None:
        options[MODE] = mode
    return NetworkRequest(name, driver="macvlan", options=options, **request)  # type: ignore[arg-type]


def plug_of(fabric: FakeFabric, container_id: str, ifname: str = "eth0") -> MacvlanPlug:
    plug = fabric.sandbox_ifaces[container_id][ifname]
    assert isinstance(plug, MacvlanPlug)
    return plug


def assert_refused_cleanly(engine: Engine, request: NetworkRequest,
                           cls: type[err.DockerError], status: int, message: str) -> None:
    """Docker's error, and no network, kernel object, MACVLAN or address pool is left:
    the next network still gets the first free default pool."""
    fabric = engine.fabric
    assert isinstance(fabric, FakeFabric)
    before = engine_state(engine)
    objects = fabric.kernel_objects()
    log_length = len(fabric.log)
    with docker_error(cls, status, message):
        engine.create_network(request)
    assert engine_state(engine) == before
    assert fabric.kernel_objects() == objects
    assert len(fabric.log) == log_length
    with pytest.raises(err.NotFound):
        engine.get_network(request.name)
    after = engine.create_network(NetworkRequest("after-refusal"))
    assert after.ipam_config[0]["Subnet"] == "172.18.0.0/16"


# -- options -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["x", "Bridge", "passthrough", "vlan"])
def test_invalid_mode_refused(engine: Engine, mode: str) -> None:
    assert_refused_cleanly(
        engine, macvlan(mode=mode), err.DockerError, 500,
        f"requested macvlan mode '{mode}' is not valid, 'bridge' mode is the macvlan driver "
        "default")


def test_mode_is_checked_before_the_parent(engine: Engine) -> None:
    with docker_error(err.DockerError, 500, "requested macvlan mode 'x' is not valid, 'bridge' "
                      "mode is the macvlan driver default"):
        engine.create_network(macvlan(parent="lo", mode="x"))


def test_loopback_parent_refused(engine: Engine) -> None:
    assert_refused_cleanly(engine, macvlan(parent="lo"), err.DockerError, 500,
                           "loopback interface is not a valid macvlan parent link")


def test_unknown_option_refused_listing_supported_ones(engine: Engine) -> None:
    """Deliberate difference: dockerd silently keeps unknown -o keys."""
    request = NetworkRequest("lan", driver="macvlan", options={"parent": "eth1", "vlan": "10"})
    assert_refused_cleanly(
        engine, request, err.InvalidParameter, 400,
        "option vlan is not supported by the macvlan driver of this emulator (supported: "
        "parent, macvlan_mode, com.docker.network.driver.mtu, com.docker.network.enable_ipv6, "
        "com.docker.network.enable_ipv4)")


def test_mtu_option_accepted_but_parent_mtu_kept(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(NetworkRequest("lan", driver="macvlan",
                                         options={"parent": "eth1", MTU: "9000"}))
    web = engine.run_container("web", [AttachRequest("lan")])
    assert plug_of(fabric, web.id).mtu is None


# -- parents that are not NICs of the host ---------------------------------------------------


def test_parent_without_vlan_suffix_that_does_not_exist(engine: Engine) -> None:
    assert_refused_cleanly(engine, macvlan(parent="foo0"), err.DockerError, 500,
                           "invalid subinterface vlan name foo0, example formatting is eth0.10")


def test_vlan_parent_on_a_missing_nic(engine: Engine) -> None:
    assert_refused_cleanly(engine, macvlan(parent="eth7.10"), err.DockerError, 500,
                           "-o parent interface was not found on the host: eth7")


@pytest.mark.parametrize("vlan", [5000, 4095, 0, -1])
def test_vlan_id_out_of_range(engine: Engine, vlan: int) -> None:
    assert_refused_cleanly(engine, macvlan(parent=f"eth1.{vlan}"), err.DockerError, 500,
                           f"vlan id must be between 1-4094, received: {vlan}")


def test_vlan_parent_with_two_dots(engine: Engine) -> None:
    assert_refused_cleanly(
        engine, macvlan(parent="a.b.c"), err.DockerError, 500,
        "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead "
        "received a.b.c")


def test_vlan_id_not_a_number(engine: Engine) -> None:
    assert_refused_cleanly(engine, macvlan(parent="eth1.x"), err.DockerError, 500,
                           "unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)")


def test_vlan_id_beyond_int64_is_not_a_number(engine: Engine) -> None:
    vlan = "99999999999999999999"
    assert_refused_cleanly(engine, macvlan(parent=f"eth1.{vlan}"), err.DockerError, 500,
                           f"unable to parse a valid vlan id from: {vlan} (ex. eth0.10 for vlan "
                           "10)")


def test_vlan_id_not_a_number_is_refused_cleanly(engine: Engine) -> None:
    before = engine_state(engine)
    with pytest.raises(err.DockerError) as info:
        engine.create_network(macvlan(parent="eth1.x"))
    assert info.value.status == 500
    assert info.value.message.startswith("unable to parse a valid vlan id from: ")
    assert info.value.message.endswith(" (ex. eth0.10 for vlan 10)")
    assert engine_state(engine) == before


@pytest.mark.parametrize("parent", ["eth1.10", "eth0.4094", "eth1.1"])
def test_vlan_sub_interface_needs_8021q(engine: Engine, parent: str) -> None:
    before = engine_state(engine)
    with pytest.raises(err.DockerError) as info:
        engine.create_network(macvlan(parent=parent))
    assert type(info.value) is err.NotImplementedByEmulator
    assert info.value.status == 501
    message = info.value.message
    assert message.startswith(f"failed to create {parent} vlan link: ")
    assert "802.1q" in message and "8021q" in message and "lacks" in message
    assert engine_state(engine) == before


def test_missing_parent_needs_dummy_links(engine: Engine, fabric: FakeFabric) -> None:
    before = engine_state(engine)
    objects = fabric.kernel_objects()
    with pytest.raises(err.DockerError) as info:
        engine.create_network(macvlan(parent=None))
    assert type(info.value) is err.NotImplementedByEmulator
    assert info.value.status == 501
    assert re.search(r"\(dm-[0-9a-f]{12}\)", info.value.message)
    assert "dummy links" in info.value.message
    assert "-o parent=eth1" in info.value.message
    assert engine_state(engine) == before
    assert fabric.kernel_objects() == objects


# -- several networks on one parent ---------------------------------------------------------


@pytest.mark.parametrize("first_mode", ["bridge", "private", "vepa", None])
def test_passthru_refused_on_a_parent_in_use(engine: Engine, first_mode: str | None) -> None:
    first = engine.create_network(macvlan("one", mode=first_mode, subnet="10.1.0.0/24"))
    assert_refused_cleanly(
        engine, macvlan("two", mode="passthru"), err.DockerError, 500,
        f"cannot use mode passthru, macvlan network {first.id} is already using parent "
        "interface eth1")


@pytest.mark.parametrize("second_mode", ["bridge", "private", "vepa", None])
def test_parent_in_passthru_cannot_be_shared(engine: Engine, second_mode: str | None) -> None:
    first = engine.create_network(macvlan("one", mode="passthru", subnet="10.1.0.0/24"))
    assert_refused_cleanly(
        engine, macvlan("two", mode=second_mode), err.DockerError, 500,
        f"macvlan network {first.id} is already using parent interface eth1 in mode passthru")


def test_second_passthru_on_the_same_parent_refused(engine: Engine) -> None:
    first = engine.create_network(macvlan("one", mode="passthru", subnet="10.1.0.0/24"))
    assert_refused_cleanly(
        engine, macvlan("two", mode="passthru"), err.DockerError, 500,
        f"cannot use mode passthru, macvlan network {first.id} is already using parent "
        "interface eth1")


def test_two_bridge_networks_share_a_parent(engine: Engine, fabric: FakeFabric) -> None:
    """Docker >= 27.0.1 allows it; only passthru needs its parent to itself."""
    engine.create_network(macvlan("one", subnet="10.1.0.0/24"))
    engine.create_network(macvlan("two", subnet="10.2.0.0/24"))
    a = engine.run_container("a1", [AttachRequest("one")])
    b = engine.run_container("b1", [AttachRequest("two")])
    assert plug_of(fabric, a.id).address == IPv4Interface("10.1.0.2/24")
    assert plug_of(fabric, b.id).address == IPv4Interface("10.2.0.2/24")
    assert sorted(fabric.macvlans["eth1"]) == sorted([f"{a.id}/eth0", f"{b.id}/eth0"])


def test_passthru_on_another_parent_is_allowed(engine: Engine) -> None:
    engine.create_network(macvlan("one", parent="eth1"))
    net = engine.create_network(macvlan("two", parent="eth0", mode="passthru"))
    assert network_json(net)["Options"] == {"parent": "eth0", MODE: "passthru"}


def test_parent_free_again_after_passthru_network_removed(engine: Engine) -> None:
    engine.create_network(macvlan("one", mode="passthru"))
    engine.remove_network("one")
    engine.create_network(macvlan("two"))
    engine.create_network(macvlan("three"))


# -- endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_mode_is_given_to_the_fabric(engine: Engine, fabric: FakeFabric, mode: str) -> None:
    engine.create_network(macvlan(mode=mode))
    web = engine.run_container("web", [AttachRequest("lan")])
    plug = plug_of(fabric, web.id)
    assert plug.parent == "eth1"
    assert plug.mode == mode
    assert fabric.macvlans["eth1"] == [f"{web.id}/eth0"]


@pytest.mark.parametrize("mode", [None, ""])
def test_default_mode_is_bridge(engine: Engine, fabric: FakeFabric, mode: str | None) -> None:
    engine.create_network(macvlan(mode=mode))
    web = engine.run_container("web", [AttachRequest("lan")])
    assert plug_of(fabric, web.id).mode == "bridge"


def test_addresses_come_from_the_ip_range_skipping_the_gateway(engine: Engine,
                                                               fabric: FakeFabric) -> None:
    net = engine.create_network(macvlan(subnet="198.51.100.0/24", ip_range="198.51.100.128/25",
                                        gateway="198.51.100.129"))
    a = engine.run_container("a1", [AttachRequest("lan")])
    b = engine.run_container("b1", [AttachRequest("lan")])
    assert plug_of(fabric, a.id).address == IPv4Interface("198.51.100.128/24")
    assert plug_of(fabric, b.id).address == IPv4Interface("198.51.100.130/24")
    listed = {c["Name"]: c["IPv4Address"] for c in network_json(net)["Containers"].values()}
    assert listed == {"a1": "198.51.100.128/24", "b1": "198.51.100.130/24"}


def test_fixed_ip_on_the_lan(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(macvlan(subnet="198.51.100.0/24", gateway="198.51.100.1"))
    web = engine.run_container("web", [AttachRequest("lan", ip="198.51.100.50")])
    assert plug_of(fabric, web.id).address == IPv4Interface("198.51.100.50/24")


def test_default_route_via_the_gateway(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(macvlan(subnet="198.51.100.0/24", gateway="198.51.100.1"))
    web = engine.run_container("web", [AttachRequest("lan")])
    gateway = IPv4Address("198.51.100.1")
    assert plug_of(fabric, web.id).gateway == gateway
    assert fabric.default_routes[web.id] == gateway
    settings = container_networks_json(web, engine.networks)["lan"]
    assert settings["Gateway"] == "198.51.100.1"
    assert settings["IPAddress"] == "198.51.100.2"
    assert settings["IPPrefixLen"] == 24


def test_internal_network_gives_no_default_route(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(macvlan(subnet="198.51.100.0/24", gateway="198.51.100.1",
                                  internal=True))
    web = engine.run_container("web", [AttachRequest("lan")])
    assert plug_of(fabric, web.id).address == IPv4Interface("198.51.100.2/24")
    assert plug_of(fabric, web.id).gateway is None
    assert web.id not in fabric.default_routes
    assert container_networks_json(web, engine.networks)["lan"]["Gateway"] == ""


def test_mac_is_random_locally_administered_unicast(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(macvlan())
    a = engine.run_container("a1", [AttachRequest("lan")])
    b = engine.run_container("b1", [AttachRequest("lan")])
    macs = [plug_of(fabric, c.id).mac for c in (a, b)]
    for mac in macs:
        assert mac is not None and MAC.fullmatch(mac)
        assert int(mac[:2], 16) & 0b11 == 0b10  # unicast, locally administered
    assert macs[0] != macs[1]
    listed = {c["Name"]: c["MacAddress"] for c in network_json(net)["Containers"].values()}
    assert listed == {"a1": macs[0], "b1": macs[1]}
    assert container_networks_json(a, engine.networks)["lan"]["MacAddress"] == macs[0]


def test_driver_keeps_a_given_mac(fabric: FakeFabric) -> None:
    driver = MacvlanDriver(fabric)
    net_id, ep_id = "f" * 64, "e" * 64
    ipam = IPAMData(IPv4Network("198.51.100.0/24"), IPv4Address("198.51.100.1"))
    driver.create_network(NetworkSpec(net_id, "lan", {"parent": "eth1"}), ipam)
    address = IPv4Interface("198.51.100.7/24")
    info = driver.create_endpoint(net_id, EndpointSpec(ep_id, address, "02:42:c6:33:64:07"))
    assert info.mac == "02:42:c6:33:64:07"
    sandbox = fabric.create_sandbox("c1", "c1", False)
    joined = driver.join(net_id, ep_id, SandboxRef(sandbox, "eth0", True))
    assert joined.ifname == "eth0" and joined.gateway == IPv4Address("198.51.100.1")
    plug = plug_of(fabric, "c1")
    assert plug.mac == "02:42:c6:33:64:07"
    assert plug.address == address
    assert driver.check(net_id, ep_id) == []
    driver.delete_network(net_id)
    assert fabric.macvlans["eth1"] == []
    assert fabric.sandbox_ifaces["c1"] == {}


def test_driver_unknown_network(fabric: FakeFabric) -> None:
    driver = MacvlanDriver(fabric)
    with docker_error(err.NotFound, 404, f"network {'a' * 64} not found"):
        driver.create_endpoint("a" * 64, EndpointSpec("e" * 64, None))
    assert driver.check("a" * 64, "e" * 64) == [
        f"network {'a' * 64} is unknown to the macvlan driver"]


# -- inspect ---------------------------------------------------------------------------------


def test_inspect_shows_the_options_as_given(engine: Engine) -> None:
    net = engine.create_network(macvlan(subnet="198.51.100.0/24", gateway="198.51.100.1"))
    shown = network_json(net)
    assert shown["Driver"] == "macvlan"
    assert shown["Scope"] == "local"
    assert shown["Options"] == {"parent": "eth1"}
    assert shown["IPAM"]["Config"] == [{"Subnet": "198.51.100.0/24", "Gateway": "198.51.100.1"}]
    private = engine.create_network(macvlan("other", mode="private"))
    assert network_json(private)["Options"] == {"parent": "eth1", MODE: "private"}


# -- teardown --------------------------------------------------------------------------------


def test_disconnect_deletes_the_macvlan(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(macvlan(subnet="198.51.100.0/24"))
    web = engine.run_container("web", [AttachRequest("bridge")])
    with_sandbox = fabric.kernel_objects()
    engine.connect("lan", "web")
    assert plug_of(fabric, web.id, "eth1").parent == "eth1"
    assert fabric.kernel_objects() == with_sandbox + 1
    engine.disconnect("lan", "web")
    assert "eth1" not in fabric.sandbox_ifaces[web.id]
    assert fabric.macvlans["eth1"] == []
    assert fabric.kernel_objects() == with_sandbox
    assert net.endpoints == {}
    assert IPv4Address("198.51.100.2") not in engine.addresses.allocated_addresses(net.pool_id)


def test_removing_container_then_network_leaves_nothing(engine: Engine,
                                                        fabric: FakeFabric) -> None:
    objects = fabric.kernel_objects()
    engine.create_network(macvlan())
    engine.run_container("a1", [AttachRequest("lan")])
    engine.run_container("b1", [AttachRequest("lan")])
    assert len(fabric.macvlans["eth1"]) == 2
    engine.remove_container("a1", force=True)
    assert len(fabric.macvlans["eth1"]) == 1
    engine.remove_containers(["b1"], force=True)
    assert fabric.kernel_objects() == objects
    engine.remove_network("lan")
    assert fabric.kernel_objects() == objects
    engine.close()
    assert fabric.kernel_objects() == 0


def test_stopped_container_holds_no_macvlan(engine: Engine, fabric: FakeFabric) -> None:
    objects = fabric.kernel_objects()
    engine.create_network(macvlan())
    engine.run_container("web", [AttachRequest("lan")])
    engine.stop_container("web")
    assert fabric.kernel_objects() == objects
    engine.start_container("web")
    assert len(fabric.macvlans["eth1"]) == 1


def test_second_container_on_passthru_fails_at_start(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(macvlan(mode="passthru", subnet="198.51.100.0/24"))
    first = engine.run_container("first", [AttachRequest("lan")])
    before = engine_state(engine)
    objects = fabric.kernel_objects()
    with docker_error(err.DockerError, 500,
                      "failed to create the macvlan port: device or resource busy"):
        engine.run_container("second", [AttachRequest("lan")])
    assert engine_state(engine) == before
    assert fabric.kernel_objects() == objects
    assert fabric.macvlans["eth1"] == [f"{first.id}/eth0"]
    assert [c.name for c in engine.list_containers(all=True)] == ["first"]
    assert [ep.name for ep in net.endpoints.values()] == ["first"]
    engine.remove_container("first", force=True)
    second = engine.run_container("second", [AttachRequest("lan")])
    assert plug_of(fabric, second.id).address == IPv4Interface("198.51.100.2/24")


def test_parent_gone_before_start(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(macvlan())
    fabric.nics = ("eth0",)
    objects = fabric.kernel_objects()
    before = engine_state(engine)
    with docker_error(err.DockerError, 500,
                      "the requested parent interface eth1 was not found on the Docker host"):
        engine.run_container("web", [AttachRequest("lan")])
    assert engine_state(engine) == before
    assert fabric.kernel_objects() == objects


# -- CHECK -----------------------------------------------------------------------------------


def test_check_reports_drift(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(macvlan())
    web = engine.run_container("web", [AttachRequest("lan")])
    assert engine.check() == []
    del fabric.sandbox_ifaces[web.id]["eth0"]
    assert engine.check() == ["lan/web: interface eth0 is missing from the sandbox"]
    fabric.nics = ("eth0",)
    assert engine.check() == ["lan/web: parent interface eth1 is missing",
                              "lan/web: interface eth0 is missing from the sandbox"]
