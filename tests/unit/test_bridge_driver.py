"""The bridge driver: options, bridge devices, firewall rules, CHECK, rollback.

Option texts are those of libnetwork/drivers/bridge (parseErr, ErrInvalidMtu,
checkConflict) in Docker v25-v28. One deliberate difference: the emulator refuses
options it does not know (dockerd ignores them), naming the ones it accepts.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import pytest
from engine_helpers import docker_error, engine_state

from emulator import errdefs as err
from emulator.api.shapes.networks import network_json
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.drivers import registry
from emulator.drivers.base import DriverContext, EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.bridge import BridgeDriver
from emulator.drivers.bridge.options import ALLOWED, parse_options
from emulator.drivers.hostfirewall import HostFirewall
from emulator.errdefs import DockerError
from emulator.fabric.fake import FakeFabric

ICC = "com.docker.network.bridge.enable_icc"
MASQ = "com.docker.network.bridge.enable_ip_masquerade"
NAME = "com.docker.network.bridge.name"
MTU = "com.docker.network.driver.mtu"
INHIBIT = "com.docker.network.bridge.inhibit_ipv4"
DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"
GO_TRUE = ["1", "t", "T", "TRUE", "true", "True"]
GO_FALSE = ["0", "f", "F", "FALSE", "false", "False"]
GOLDEN = Path(__file__).parent / "golden" / "bridge"


def bridge_of(network) -> str:
    return network.options.get(NAME, "br-" + network.id[:12])


def assert_refused_cleanly(engine: Engine, request: NetworkRequest,
                           cls: type[err.DockerError], status: int, message: str) -> None:
    """The request fails with Docker's error, and leaves the kernel and IPAM untouched:
    the next network still gets the first free default pool."""
    before = engine_state(engine)
    log_length = len(engine.fabric.log)
    with docker_error(cls, status, message):
        engine.create_network(request)
    assert engine_state(engine) == before
    assert len(engine.fabric.log) == log_length
    after = engine.create_network(NetworkRequest("after-refusal"))
    assert after.ipam_config[0]["Subnet"] == "172.18.0.0/16"


def golden_ruleset(name: str, bridges: dict[str, str] | None = None) -> str:
    """The whole ruleset of golden/bridge/NAME.nft (see test_firewall_golden.py), its
    bridges renamed as `bridges` maps them (and each set's elements in order again)."""
    text = (GOLDEN / f"{name}.nft").read_text()
    for golden_name, actual in (bridges or {}).items():
        text = text.replace(f'"{golden_name}"', f'"{actual}"')
    return re.sub(r"(?m)^(add element .* \{ )(.*)( \})$",
                  lambda m: m[1] + ", ".join(sorted(m[2].split(", "))) + m[3], text)


# -- defaults and options ----------------------------------------------------------


def test_user_network_bridge_defaults(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front"))
    name = "br-" + net.id[:12]
    assert len(name) <= 15
    link = fabric.links[name]
    assert link.address == IPv4Interface("172.18.0.1/16")
    assert link.mtu == 1500 and link.up
    assert engine.driver("bridge").bridge_name(net.id) == name
    # ICC on and masquerade on by default; isolated from docker0 both ways.
    assert fabric.ruleset == golden_ruleset("user_bridge", {"br-user": name})


def test_enable_icc_false(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", options={ICC: "false"}))
    name = bridge_of(net)
    assert fabric.ruleset == golden_ruleset("icc_off", {"br-user": name})
    assert network_json(net)["Options"] == {ICC: "false"}


def test_enable_icc_false_needs_bridge_netfilter(engine: Engine, fabric: FakeFabric) -> None:
    fabric.bridge_netfilter = False
    with pytest.raises(DockerError) as caught:
        engine.create_network(NetworkRequest("front", options={ICC: "false"}))
    assert caught.value.status == 501
    assert "br_netfilter" in caught.value.message
    assert fabric.kernel_objects() == 1


def test_the_first_network_with_icc_off_turns_bridge_netfilter_on_for_good(
        engine: Engine, fabric: FakeFabric) -> None:
    """As dockerd does (bridge_linux.go enableBrNfCallIptables, setupBridgeNetFiltering):
    bridged IPv4 and IPv6 meet the host firewall from the first network with ICC off on,
    even once it is gone; other networks leave the knobs as they are."""
    knobs = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
    engine.create_network(NetworkRequest("open"))
    engine.create_network(NetworkRequest("secret", internal=True))
    assert not any(knob in fabric.sysctls for knob in knobs)
    quiet = engine.create_network(NetworkRequest("quiet", options={ICC: "false"}))
    assert all(fabric.sysctls[knob] == "1" for knob in knobs)
    engine.remove_network(quiet.id)
    assert all(fabric.sysctls[knob] == "1" for knob in knobs)


def test_enable_icc_true_adds_no_drop(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", options={ICC: "true"}))
    assert fabric.ruleset == golden_ruleset("user_bridge", {"br-user": bridge_of(net)})


def test_masquerade_off(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", options={MASQ: "false"}))
    assert fabric.ruleset == golden_ruleset("masquerade_off", {"br-user": bridge_of(net)})


def test_bridge_name_option(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", options={NAME: "br-front"}))
    assert "br-front" in fabric.links
    assert "br-" + net.id[:12] not in fabric.links
    assert fabric.links["br-front"].address == IPv4Interface("172.18.0.1/16")
    web = engine.run_container("web", [AttachRequest("front")])
    assert fabric.sandbox_ifaces[web.id]["eth0"].bridge == "br-front"
    assert network_json(net)["Options"] == {NAME: "br-front"}
    engine.remove_container("web", force=True)
    engine.remove_network("front")
    assert "br-front" not in fabric.links


def test_mtu_option(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("jumbo", options={MTU: "9000"}))
    assert fabric.links[bridge_of(net)].mtu == 9000
    web = engine.run_container("web", [AttachRequest("jumbo")])
    plug = fabric.sandbox_ifaces[web.id]["eth0"]
    assert plug.mtu == 9000
    assert fabric.links[plug.host_ifname].mtu == 9000


@pytest.mark.parametrize("value", GO_TRUE + GO_FALSE)
def test_go_parse_bool_values_accepted(engine: Engine, value: str) -> None:
    net = engine.create_network(NetworkRequest("front", options={ICC: value}))
    assert network_json(net)["Options"][ICC] == value
    assert parse_options({ICC: value}, "br-x").enable_icc is (value in GO_TRUE)


@pytest.mark.parametrize("key", [ICC, MASQ, INHIBIT, DEFAULT_BRIDGE])
@pytest.mark.parametrize("value", ["maybe", "yes", "no", "", " true", "tRuE"])
def test_bad_bool_value_refused(engine: Engine, key: str, value: str) -> None:
    assert_refused_cleanly(
        engine, NetworkRequest("x", options={key: value}), err.InvalidParameter, 400,
        f'failed to parse {key} value: {value} (strconv.ParseBool: parsing "{value}": '
        "invalid syntax)",
    )


def test_exact_enable_icc_message(engine: Engine) -> None:
    with docker_error(err.InvalidParameter, 400,
                      "failed to parse com.docker.network.bridge.enable_icc value: maybe "
                      '(strconv.ParseBool: parsing "maybe": invalid syntax)'):
        engine.create_network(NetworkRequest("x", options={ICC: "maybe"}))


@pytest.mark.parametrize("value", ["abc", "1.5", "", "15OO"])
def test_mtu_not_a_number_refused(engine: Engine, value: str) -> None:
    assert_refused_cleanly(
        engine, NetworkRequest("x", options={MTU: value}), err.InvalidParameter, 400,
        f'failed to parse {MTU} value: {value} (strconv.Atoi: parsing "{value}": invalid syntax)',
    )


def test_negative_mtu_refused(engine: Engine) -> None:
    assert_refused_cleanly(engine, NetworkRequest("x", options={MTU: "-1"}),
                           err.InvalidParameter, 400, "invalid MTU number: -1")


def test_bad_host_binding_refused(engine: Engine) -> None:
    assert_refused_cleanly(
        engine, NetworkRequest("x", options={HOST_BINDING: "x"}), err.InvalidParameter, 400,
        f"failed to parse {HOST_BINDING} value: x (nil ip)")


def test_bridge_name_too_long_refused(engine: Engine) -> None:
    assert_refused_cleanly(
        engine, NetworkRequest("x", options={NAME: "a" * 16}), err.DockerError, 500,
        "failed to check bridge interface existence: numerical result out of range")


def test_bridge_name_of_fifteen_characters_accepted(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(NetworkRequest("x", options={NAME: "b" * 15}))
    assert "b" * 15 in fabric.links


def test_unknown_option_refused_listing_allowed_ones(engine: Engine) -> None:
    """Deliberate difference: dockerd silently keeps unknown -o keys."""
    before = engine_state(engine)
    with pytest.raises(err.InvalidParameter) as info:
        engine.create_network(NetworkRequest("x", options={"com.example.foo": "1", ICC: "true"}))
    message = info.value.message
    assert info.value.status == 400
    assert message.startswith('unknown option "com.example.foo" for the bridge driver; allowed: ')
    listed = message.split("allowed: ", 1)[1].split(", ")
    assert listed == list(ALLOWED)
    assert {ICC, MASQ, NAME, MTU, INHIBIT, DEFAULT_BRIDGE, HOST_BINDING} <= set(listed)
    assert engine_state(engine) == before


def test_same_bridge_name_twice_refused(engine: Engine) -> None:
    first = engine.create_network(NetworkRequest("one", options={NAME: "br0"}))
    before = engine_state(engine)
    with pytest.raises(err.Forbidden) as info:
        engine.create_network(NetworkRequest("two", options={NAME: "br0"}))
    assert info.value.status == 403
    assert re.fullmatch(
        rf"cannot create network [0-9a-f]{{64}} \(br0\): conflicts with network {first.id} "
        r"\(br0\): networks have same bridge name", info.value.message)
    assert engine_state(engine) == before
    assert engine.create_network(NetworkRequest("three")).ipam_config[0]["Subnet"] == (
        "172.19.0.0/16")


def test_docker0_name_refused_for_user_network(engine: Engine) -> None:
    bridge_id = engine.get_network("bridge").id
    before = engine_state(engine)
    with pytest.raises(err.Forbidden) as info:
        engine.create_network(NetworkRequest("two", options={NAME: "docker0"}))
    assert info.value.message.endswith(
        f"conflicts with network {bridge_id} (docker0): networks have same bridge name")
    assert engine_state(engine) == before


def test_bridge_name_reusable_after_removal(engine: Engine) -> None:
    engine.create_network(NetworkRequest("one", options={NAME: "br0"}))
    engine.remove_network("one")
    engine.create_network(NetworkRequest("two", options={NAME: "br0"}))


# -- internal and inhibit_ipv4 ----------------------------------------------------------


def test_internal_network(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("secret", internal=True))
    name = bridge_of(net)
    # The bridge keeps the gateway address; traffic may not leave the bridge.
    assert fabric.links[name].address == IPv4Interface("172.18.0.1/16")
    assert fabric.ruleset == golden_ruleset("internal", {"br-user": name})  # no masquerade
    db = engine.run_container("db", [AttachRequest("secret")])
    plug = fabric.sandbox_ifaces[db.id]["eth0"]
    assert plug.address == IPv4Interface("172.18.0.2/16")
    assert plug.gateway is None
    assert db.endpoints[net.id].gateway is None


def test_inhibit_ipv4_leaves_bridge_without_address(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", options={INHIBIT: "true"}))
    assert fabric.links[bridge_of(net)].address is None


def test_networks_are_isolated_from_each_other(engine: Engine, fabric: FakeFabric) -> None:
    a = bridge_of(engine.create_network(NetworkRequest("a")))
    b = bridge_of(engine.create_network(NetworkRequest("b")))
    assert fabric.ruleset == golden_ruleset("two_user_bridges", {"br-a": a, "br-b": b})
    engine.remove_network("b")
    assert fabric.ruleset == golden_ruleset("user_bridge", {"br-user": a})


# -- the driver on its own ------------------------------------------------------------------


def spec(net_id: str = "f" * 64, options=None, internal: bool = False) -> NetworkSpec:
    return NetworkSpec(net_id, "front", dict(options or {}), internal)


IPAM = IPAMData(IPv4Network("10.50.0.0/24"), IPv4Address("10.50.0.1"))


def test_registry_knows_the_builtin_drivers(fabric: FakeFabric) -> None:
    assert registry.names() == ["bridge", "host", "macvlan", "null", "overlay"]
    drivers = registry.DriverRegistry(DriverContext(fabric, HostFirewall(fabric)))
    assert isinstance(drivers.get("bridge"), BridgeDriver)
    assert drivers.capability("bridge").provides_gateway
    assert registry.capability("overlay").scope == "swarm"
    with docker_error(err.NotFound, 404, 'plugin "weave" not found'):
        drivers.get("weave")


def test_driver_create_and_delete(fabric: FakeFabric) -> None:
    driver = BridgeDriver(fabric)
    driver.create_network(spec(), IPAM)
    assert fabric.links["br-ffffffffffff"].address == IPv4Interface("10.50.0.1/24")
    assert fabric.ruleset == golden_ruleset("lone_network")
    info = driver.create_endpoint("f" * 64, EndpointSpec("e" * 64, IPv4Interface("10.50.0.2/24")))
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", info.mac)
    assert int(info.mac[:2], 16) & 0b11 == 0b10  # unicast, locally administered
    sandbox = fabric.create_sandbox("c1", "c1", False)
    joined = driver.join("f" * 64, "e" * 64, SandboxRef(sandbox, "eth0", True))
    assert joined.ifname == "eth0" and joined.gateway == IPv4Address("10.50.0.1")
    assert driver.check("f" * 64, "e" * 64) == []
    driver.delete_network("f" * 64)
    assert set(fabric.links) == set()
    assert fabric.ruleset == golden_ruleset("no_networks")
    assert fabric.sandbox_ifaces["c1"] == {}
    driver.delete_network("f" * 64)  # deleting twice is harmless


def test_driver_join_without_gateway_when_not_wanted(fabric: FakeFabric) -> None:
    driver = BridgeDriver(fabric)
    driver.create_network(spec(), IPAM)
    driver.create_endpoint("f" * 64, EndpointSpec("e" * 64, IPv4Interface("10.50.0.2/24")))
    sandbox = fabric.create_sandbox("c1", "c1", False)
    joined = driver.join("f" * 64, "e" * 64, SandboxRef(sandbox, "eth1", False))
    assert joined.gateway is None
    assert fabric.sandbox_ifaces["c1"]["eth1"].gateway is None


def test_driver_keeps_requested_mac(fabric: FakeFabric) -> None:
    driver = BridgeDriver(fabric)
    driver.create_network(spec(), IPAM)
    info = driver.create_endpoint("f" * 64, EndpointSpec("e" * 64, None, "02:42:0a:32:00:02"))
    assert info.mac == "02:42:0a:32:00:02"


def test_driver_unknown_network(fabric: FakeFabric) -> None:
    driver = BridgeDriver(fabric)
    with docker_error(err.NotFound, 404, f"network {'a' * 64} not found"):
        driver.create_endpoint("a" * 64, EndpointSpec("e" * 64, None))
    assert driver.check("a" * 64, "e" * 64) == [
        f"network {'a' * 64} is unknown to the bridge driver"]


def test_driver_rolls_back_bridge_when_firewall_fails(fabric: FakeFabric,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    driver = BridgeDriver(fabric)

    def broken_firewall(ruleset: str) -> None:
        raise OSError("nft failed")

    monkeypatch.setattr(fabric, "set_firewall", broken_firewall)
    with pytest.raises(OSError):
        driver.create_network(spec(), IPAM)
    assert fabric.links == {}
    with pytest.raises(err.NotFound):
        driver.bridge_name("f" * 64)


def test_engine_rolls_back_pool_when_bridge_setup_fails(engine: Engine, fabric: FakeFabric,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = engine_state(engine)

    def broken_firewall(ruleset: str) -> None:
        raise OSError("nft failed")

    monkeypatch.setattr(fabric, "update_firewall", broken_firewall)
    with pytest.raises(OSError):
        engine.create_network(NetworkRequest("front"))
    monkeypatch.undo()
    assert engine_state(engine) == before
    net = engine.create_network(NetworkRequest("front"))
    assert net.ipam_config[0]["Subnet"] == "172.18.0.0/16"


def test_engine_rolls_back_pool_when_bridge_exists_in_kernel(engine: Engine,
                                                             fabric: FakeFabric) -> None:
    fabric.create_bridge("stale0", None, 1500)  # left behind by somebody else
    before = engine_state(engine)
    with pytest.raises(FileExistsError):
        engine.create_network(NetworkRequest("front", options={NAME: "stale0"}))
    assert engine_state(engine) == before


# -- CHECK ------------------------------------------------------------------------------------


def test_check_reports_drift(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front"))
    web = engine.run_container("web", [AttachRequest("front")])
    assert engine.check() == []
    veth = fabric.sandbox_ifaces[web.id]["eth0"].host_ifname
    fabric.delete_link(veth)
    problems = engine.check()
    assert f"front/web: veth {veth} is missing" in problems
    assert "front/web: interface eth0 is missing from the sandbox" in problems
    fabric.links[bridge_of(net)].up = False
    assert f"front/web: bridge {bridge_of(net)} is down" in engine.check()
    fabric.delete_link(bridge_of(net))
    assert engine.check() == [f"front/web: bridge {bridge_of(net)} is missing"]
