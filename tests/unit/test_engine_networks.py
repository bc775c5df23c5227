"""The CNM engine's networks: predefined ones, create, inspect, rm, prune, lookup.

The oracle is Docker Engine v25-v28 (/tmp/research/docker-network-semantics.md):
messages are compared byte for byte, with the errdefs class (HTTP status) dockerd
answers. Everything runs on a FakeFabric, which records kernel objects, so that a
refused request can be shown to leave nothing behind.
"""

from __future__ import annotations

import copy
import itertools
import re
from importlib.resources import files
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

import jsonschema
import pytest
import yaml
from engine_helpers import docker_error, engine_state

import emulator.cnm.networks as engine_module
from emulator import errdefs as err
from emulator.api.shapes.networks import network_json
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.ids import new_id

API_SPEC = Path(str(files("emulator.api") / "spec" / "docker-engine-api-v1.45.yaml"))
DOCKER0_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.bridge.name": "docker0",
    "com.docker.network.driver.mtu": "1500",
}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def subnet_of(network) -> str:
    return network.ipam_config[0]["Subnet"]


def assert_next_default_subnet(engine: Engine, expected: str = "172.18.0.0/16") -> None:
    """A refused request must not have taken a pool: the next create gets `expected`."""
    net = engine.create_network(NetworkRequest("after-refusal"))
    assert subnet_of(net) == expected


def ids_starting_with(*prefixes: str):
    """IDs for new_id: the given prefixes padded to 64 hex digits, then random ones."""
    fixed = [p + "0" * (64 - len(p) - 2) + f"{i:02x}" for i, p in enumerate(prefixes)]
    return itertools.chain(fixed, iter(new_id, None))


# -- predefined networks ------------------------------------------------------


def test_predefined_networks_exist(engine: Engine, fabric: FakeFabric) -> None:
    by_name = {n.name: n for n in engine.networks.values()}
    assert set(by_name) == {"bridge", "host", "none"}
    assert {name: n.driver for name, n in by_name.items()} == {
        "bridge": "bridge", "host": "host", "none": "null"}
    assert all(n.scope == "local" and n.predefined for n in by_name.values())
    assert all(HEX64.match(n.id) for n in by_name.values())

    bridge = network_json(by_name["bridge"])
    assert bridge["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
    assert bridge["Options"] == DOCKER0_OPTIONS
    assert bridge["Containers"] == {}
    assert network_json(by_name["host"])["IPAM"]["Config"] == []
    assert network_json(by_name["none"])["IPAM"]["Config"] == []

    # The kernel has docker0 with the gateway address, and nothing else.
    assert list(fabric.links) == ["docker0"]
    assert fabric.links["docker0"].address == IPv4Interface("172.17.0.1/16")
    assert fabric.links["docker0"].mtu == 1500
    assert fabric.kernel_objects() == 1


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_predefined_network_cannot_be_removed(engine: Engine, name: str) -> None:
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403, f"{name} is a pre-defined network and cannot be removed"):
        engine.remove_network(name)
    # By ID too: the message names the network, not the reference.
    with docker_error(err.Forbidden, 403, f"{name} is a pre-defined network and cannot be removed"):
        engine.remove_network(engine.get_network(name).id)
    assert engine_state(engine) == before


@pytest.mark.parametrize("name", ["bridge", "host", "none", "default"])
@pytest.mark.parametrize("driver", ["bridge", "host", "null", "foo"])
def test_predefined_name_cannot_be_created(engine: Engine, name: str, driver: str) -> None:
    """The predefined-name check comes first, before the driver is even looked up."""
    before = engine_state(engine)
    message = f"operation is not permitted on predefined {name} network "
    assert message.endswith("network ")  # Docker's trailing space
    with docker_error(err.Forbidden, 403, message):
        engine.create_network(NetworkRequest(name, driver=driver))
    assert engine_state(engine) == before


@pytest.mark.parametrize("driver", ["host", "null"])
def test_second_host_or_null_network_refused(engine: Engine, driver: str) -> None:
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403, f'only one instance of "{driver}" network is allowed'):
        engine.create_network(NetworkRequest("another", driver=driver))
    assert engine_state(engine) == before
    assert_next_default_subnet(engine)


def test_second_host_network_with_subnet_gives_dockers_error(engine: Engine) -> None:
    """dockerd skips IPAM for host/null (ipamAllocate: hasSpecialDriver) and the host
    driver's CreateNetwork answers; ValidateIPAM passes for a valid subnet."""
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403, 'only one instance of "host" network is allowed'):
        engine.create_network(NetworkRequest("h2", driver="host", subnet="10.9.0.0/24"))
    assert engine_state(engine) == before


def test_empty_name_refused(engine: Engine) -> None:
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400, "invalid name: name is empty"):
        engine.create_network(NetworkRequest(""))
    assert engine_state(engine) == before


# -- default pools and user IPAM ---------------------------------------------


def test_default_pools_are_used_in_order(engine: Engine, fabric: FakeFabric) -> None:
    created = [engine.create_network(NetworkRequest(f"net{i}")) for i in range(16)]
    expected = [f"172.{b}.0.0/16" for b in range(18, 32)] + ["192.168.0.0/20", "192.168.16.0/20"]
    assert [subnet_of(n) for n in created] == expected
    first = created[0]
    assert network_json(first)["IPAM"]["Config"] == [
        {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    # Each user network has its own bridge, br-<12 hex of the ID>, holding the gateway.
    bridge = fabric.links["br-" + first.id[:12]]
    assert bridge.address == IPv4Interface("172.18.0.1/16")
    assert fabric.links["br-" + created[-1].id[:12]].address == IPv4Interface("192.168.16.1/20")
    assert fabric.kernel_objects() == 1 + len(created)


def test_freed_default_pool_is_reused_lowest_first(engine: Engine) -> None:
    a = engine.create_network(NetworkRequest("a"))
    engine.create_network(NetworkRequest("b"))
    engine.remove_network("a")
    assert subnet_of(a) == "172.18.0.0/16"
    assert subnet_of(engine.create_network(NetworkRequest("c"))) == "172.18.0.0/16"
    assert subnet_of(engine.create_network(NetworkRequest("d"))) == "172.20.0.0/16"


def test_reserved_prefixes_are_skipped(fabric: FakeFabric) -> None:
    engine = Engine("h1", fabric, reserved=[IPv4Network("172.18.0.0/16")])
    assert subnet_of(engine.create_network(NetworkRequest("a"))) == "172.19.0.0/16"


def test_user_subnet_gateway_ip_range_and_aux(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest(
        "front", subnet="10.10.0.0/16", gateway="10.10.0.254", ip_range="10.10.5.0/24",
        aux_addresses={"router": "10.10.5.1"},
    ))
    assert network_json(net)["IPAM"]["Config"] == [{
        "Subnet": "10.10.0.0/16", "IPRange": "10.10.5.0/24", "Gateway": "10.10.0.254",
        "AuxiliaryAddresses": {"router": "10.10.5.1"},
    }]
    assert fabric.links["br-" + net.id[:12]].address == IPv4Interface("10.10.0.254/16")
    ips = [engine.run_container(f"c{i}", [AttachRequest("front")]).endpoints[net.id].address
           for i in range(3)]
    assert all(ip.ip in IPv4Network("10.10.5.0/24") for ip in ips)
    assert IPv4Address("10.10.5.1") not in {ip.ip for ip in ips}
    assert {ip.network for ip in ips} == {IPv4Network("10.10.0.0/16")}


def test_user_subnet_without_gateway_uses_first_address(engine: Engine, fabric: FakeFabric) -> None:
    net = engine.create_network(NetworkRequest("front", subnet="10.1.2.0/24"))
    assert engine.addresses.pool(net.pool_id).gateway == IPv4Address("10.1.2.1")
    assert fabric.links["br-" + net.id[:12]].address == IPv4Interface("10.1.2.1/24")


@pytest.mark.parametrize("subnet", ["172.17.0.0/16", "172.17.5.0/24", "172.16.0.0/12"])
def test_subnet_overlapping_docker0_refused(engine: Engine, subnet: str) -> None:
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403,
                      "invalid pool request: Pool overlaps with other one on this address space"):
        engine.create_network(NetworkRequest("x", subnet=subnet))
    assert engine_state(engine) == before
    assert_next_default_subnet(engine)


def test_subnet_overlapping_user_network_refused(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front", subnet="10.1.0.0/16"))
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403,
                      "invalid pool request: Pool overlaps with other one on this address space"):
        engine.create_network(NetworkRequest("back", subnet="10.1.2.0/24"))
    assert engine_state(engine) == before
    assert_next_default_subnet(engine)


def test_overlapping_default_network_refused(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))  # 172.18.0.0/16
    with docker_error(err.Forbidden, 403,
                      "invalid pool request: Pool overlaps with other one on this address space"):
        engine.create_network(NetworkRequest("back", subnet="172.18.3.0/24"))


def test_duplicate_name_refused(engine: Engine) -> None:
    engine.create_network(NetworkRequest("front"))
    before = engine_state(engine)
    with docker_error(err.Conflict, 409, "network with name front already exists"):
        engine.create_network(NetworkRequest("front"))
    # The name is checked before the driver is resolved (NewNetwork, then resolveDriver).
    with docker_error(err.Conflict, 409, "network with name front already exists"):
        engine.create_network(NetworkRequest("front", driver="foo"))
    with docker_error(err.Conflict, 409, "network with name front already exists"):
        engine.create_network(NetworkRequest("front", subnet="10.5.0.0/24"))
    assert engine_state(engine) == before
    assert_next_default_subnet(engine, "172.19.0.0/16")


def test_unknown_driver_refused(engine: Engine) -> None:
    before = engine_state(engine)
    with docker_error(err.NotFound, 404, 'plugin "foo" not found'):
        engine.create_network(NetworkRequest("x", driver="foo"))
    assert engine_state(engine) == before
    assert_next_default_subnet(engine)


INVALID_IPAM = [
    pytest.param(dict(subnet="10.0.0.0/33"),
                 "invalid subnet 10.0.0.0/33: invalid CIDR block notation", id="prefix-too-long"),
    pytest.param(dict(subnet="not-a-cidr"),
                 "invalid subnet not-a-cidr: invalid CIDR block notation", id="not-cidr"),
    pytest.param(dict(subnet="10.1.2.0"),
                 "invalid subnet 10.1.2.0: invalid CIDR block notation", id="bare-address"),
    pytest.param(dict(subnet="10.1.2.3/24"),
                 "invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24", id="host-bits"),
    pytest.param(dict(subnet="10.1.2.0/24", gateway="10.9.9.9"),
                 "invalid gateway 10.9.9.9: parent subnet 10.1.2.0/24 doesn't contain this address",
                 id="gateway-outside"),
    pytest.param(dict(subnet="10.1.2.0/24", gateway="nope"),
                 "invalid gateway nope: invalid address", id="gateway-garbage"),
    pytest.param(dict(subnet="10.1.0.0/16", ip_range="10.2.0.0/24"),
                 "invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/16 doesn't contain ip-range",
                 id="ip-range-outside"),
    pytest.param(dict(subnet="10.1.2.0/24", aux_addresses={"router": "10.9.9.9"}),
                 "invalid auxiliary address router: parent subnet 10.1.2.0/24 doesn't contain "
                 "this address", id="aux-outside"),
]


@pytest.mark.parametrize(("request_args", "problem"), INVALID_IPAM)
def test_invalid_ipam_refused_and_nothing_taken(engine: Engine, request_args, problem) -> None:
    before = engine_state(engine)
    log_length = len(engine.fabric.log)
    with docker_error(err.InvalidParameter, 400, f"invalid network config:\n* {problem}"):
        engine.create_network(NetworkRequest("x", **request_args))
    assert engine_state(engine) == before
    assert len(engine.fabric.log) == log_length  # refused before any kernel operation
    assert_next_default_subnet(engine)


def test_several_ipam_problems_reported_together(engine: Engine) -> None:
    with docker_error(err.InvalidParameter, 400,
                      "invalid network config:\n"
                      "* invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24\n"
                      "* invalid gateway 10.9.9.9: parent subnet 10.1.2.3/24 doesn't contain "
                      "this address"):
        engine.create_network(NetworkRequest("x", subnet="10.1.2.3/24", gateway="10.9.9.9"))


def test_ipam_is_validated_before_the_duplicate_name(engine: Engine) -> None:
    """daemon/network.go createNetwork runs ValidateIPAM (400) before NewNetwork checks
    the name (409)."""
    engine.create_network(NetworkRequest("front"))
    with docker_error(err.InvalidParameter, 400,
                      "invalid network config:\n* invalid subnet 10.1.2.3/24: it should be "
                      "10.1.2.0/24"):
        engine.create_network(NetworkRequest("front", subnet="10.1.2.3/24"))


def test_ipam_is_validated_before_the_driver_is_resolved(engine: Engine) -> None:
    with docker_error(err.InvalidParameter, 400,
                      "invalid network config:\n* invalid subnet 10.1.2.3/24: it should be "
                      "10.1.2.0/24"):
        engine.create_network(NetworkRequest("x", driver="foo", subnet="10.1.2.3/24"))


# -- lookup ---------------------------------------------------------------------


def test_lookup_by_full_id_name_and_prefix(engine: Engine) -> None:
    net = engine.create_network(NetworkRequest("front"))
    assert engine.get_network(net.id) is net
    assert engine.get_network("front") is net
    assert engine.get_network(net.id[:12]) is net
    with docker_error(err.NotFound, 404, "network nope not found"):
        engine.get_network("nope")


def test_lookup_ambiguous_prefix(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "new_id", ids_starting_with("abcdef01", "abcdef02").__next__)
    one = engine.create_network(NetworkRequest("one"))
    two = engine.create_network(NetworkRequest("two"))
    assert engine.get_network("abcdef01") is one
    assert engine.get_network("abcdef02") is two
    with docker_error(err.InvalidParameter, 400,
                      "network abcdef0 is ambiguous (2 matches found based on ID prefix)"):
        engine.get_network("abcdef0")
    with docker_error(err.InvalidParameter, 400,
                      "network abcdef0 is ambiguous (2 matches found based on ID prefix)"):
        engine.remove_network("abcdef0")
    assert {n.name for n in engine.networks.values()} >= {"one", "two"}


def test_name_wins_over_id_prefix(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "new_id", ids_starting_with("beefbeef").__next__)
    by_id = engine.create_network(NetworkRequest("first"))
    by_name = engine.create_network(NetworkRequest("beefbeef"))
    assert engine.get_network("beefbeef") is by_name
    assert engine.get_network("beefbee") is by_id
    assert engine.get_network(by_id.id) is by_id


# -- rm and prune ---------------------------------------------------------------


def test_remove_network_frees_bridge_and_pool(engine: Engine, fabric: FakeFabric) -> None:
    before = engine_state(engine)
    net = engine.create_network(NetworkRequest("front", subnet="10.7.0.0/24"))
    assert "br-" + net.id[:12] in fabric.links
    engine.remove_network(net.id[:12])
    assert engine_state(engine) == before
    # The subnet can be taken again.
    engine.create_network(NetworkRequest("again", subnet="10.7.0.0/24"))


def test_remove_unknown_network(engine: Engine) -> None:
    with docker_error(err.NotFound, 404, "network nope not found"):
        engine.remove_network("nope")


def test_remove_network_with_running_container_refused(engine: Engine) -> None:
    net = engine.create_network(NetworkRequest("front"))
    web = engine.run_container("web", [AttachRequest("front")])
    endpoint_id = network_json(net)["Containers"][web.id]["EndpointID"]
    assert HEX64.match(endpoint_id) and endpoint_id != web.id
    before = engine_state(engine)
    message = (f'error while removing network: network front has active endpoints '
               f'(name:"web" id:"{endpoint_id[:12]}")')
    with docker_error(err.Forbidden, 403, message):
        engine.remove_network("front")
    assert engine_state(engine) == before
    assert web.running


def test_remove_network_lists_every_active_endpoint(engine: Engine) -> None:
    net = engine.create_network(NetworkRequest("front"))
    for name in ("web", "db"):
        engine.run_container(name, [AttachRequest("front")])
    with pytest.raises(err.Forbidden) as info:
        engine.remove_network("front")
    listed = re.fullmatch(
        r"error while removing network: network front has active endpoints \((.*)\)",
        info.value.message)
    assert listed is not None
    expected = {f'name:"{ep.name}" id:"{ep.id[:12]}"' for ep in net.endpoints.values()}
    assert set(listed.group(1).split(", ")) == expected


def test_remove_network_after_container_removed(engine: Engine) -> None:
    before = engine_state(engine)
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("front")])
    engine.remove_container("web", force=True)
    engine.remove_network("front")
    assert engine_state(engine) == before


def test_remove_network_used_only_by_stopped_container(engine: Engine) -> None:
    """A stopped container has no endpoint, so dockerd removes the network."""
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("front")])
    engine.stop_container("web")
    engine.remove_network("front")
    assert "front" not in {n.name for n in engine.networks.values()}


def test_starting_container_whose_network_was_removed_fails(engine: Engine) -> None:
    """moby PR #17187: starting a container attached to a removed network fails with
    `network <id> not found` (NotFound) instead of silently dropping the network."""
    net = engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("front")])
    engine.stop_container("web")
    engine.remove_network("front")
    with pytest.raises(err.NotFound) as info:
        engine.start_container("web")
    assert info.value.message in (f"network {net.id} not found", "network front not found")
    assert not engine.get_container("web").running


def test_prune_removes_only_unused_user_networks(engine: Engine, fabric: FakeFabric) -> None:
    for name in ("front", "back", "idle1", "idle2"):
        engine.create_network(NetworkRequest(name))
    engine.run_container("web", [AttachRequest("front")])
    engine.run_container("db", [AttachRequest("back"), AttachRequest("front")])
    pruned = engine.prune_networks()
    assert sorted(pruned) == ["idle1", "idle2"]
    assert {n.name for n in engine.networks.values()} == {"bridge", "host", "none", "front", "back"}
    assert {p.subnet for p in engine.addresses.pools()} == {
        IPv4Network("172.17.0.0/16"), IPv4Network("172.18.0.0/16"), IPv4Network("172.19.0.0/16")}
    assert len([name for name in fabric.links if name.startswith("br-")]) == 2
    assert engine.prune_networks() == []


def test_prune_with_nothing_to_prune_keeps_predefined(engine: Engine) -> None:
    before = engine_state(engine)
    assert engine.prune_networks() == []
    assert engine_state(engine) == before


def test_prune_removes_network_of_stopped_container(engine: Engine) -> None:
    """localNetworksPrune skips a network only if it has endpoints; a stopped
    container has none (daemon/prune.go)."""
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("front")])
    engine.stop_container("web")
    assert engine.prune_networks() == ["front"]


def test_prune_label_filters(engine: Engine) -> None:
    engine.create_network(NetworkRequest("keep", labels={"keep": "yes"}))
    engine.create_network(NetworkRequest("tmp1", labels={"tmp": ""}))
    engine.create_network(NetworkRequest("tmp2"))
    assert engine.prune_networks({"label": ["tmp"]}) == ["tmp1"]
    assert engine.prune_networks({"label!": ["keep"]}) == ["tmp2"]
    assert {n.name for n in engine.networks.values()} == {"bridge", "host", "none", "keep"}


def test_prune_invalid_filter(engine: Engine) -> None:
    engine.create_network(NetworkRequest("idle"))
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400, "invalid filter 'foo'"):
        engine.prune_networks({"foo": ["bar"]})
    assert engine_state(engine) == before


# -- inspect ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_definitions() -> dict:
    if not API_SPEC.exists():
        pytest.skip(f"{API_SPEC} not available")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(API_SPEC.read_text(), Loader=loader)["definitions"]


def network_validator(definitions: dict, strict: bool = False) -> jsonschema.Validator:
    definitions = copy.deepcopy(definitions)
    # dockerd serialises the nil map of a predefined network as `"Options": null`
    # (verbatim `docker network inspect bridge`), which the swagger file does not
    # mark x-nullable; accept what the real daemon sends.
    definitions["IPAM"]["properties"]["Options"]["type"] = ["object", "null"]
    if strict:
        for name in ("Network", "IPAM", "IPAMConfig", "NetworkContainer", "ConfigReference"):
            definitions[name]["additionalProperties"] = False
    schema = {"$ref": "#/definitions/Network", "definitions": definitions}
    return jsonschema.Draft4Validator(schema)


@pytest.fixture
def busy_engine(engine: Engine) -> Engine:
    """Networks of every kind, with containers on some."""
    engine.create_network(NetworkRequest(
        "front", subnet="10.10.0.0/16", gateway="10.10.0.254", ip_range="10.10.5.0/24",
        aux_addresses={"router": "10.10.5.1"}, labels={"tier": "web"},
        options={"com.docker.network.bridge.enable_icc": "false"},
    ))
    engine.create_network(NetworkRequest("back", internal=True, attachable=True))
    engine.run_container("web", [AttachRequest("front"), AttachRequest("back")])
    engine.run_container("db", [AttachRequest("back")])
    engine.run_container("plain")
    engine.run_container("hosted", [AttachRequest("host")])
    engine.run_container("isolated", [AttachRequest("none")])
    return engine


def test_network_json_validates_against_api_schema(busy_engine: Engine, api_definitions) -> None:
    validator = network_validator(api_definitions)
    for net in busy_engine.networks.values():
        validator.validate(network_json(net))


def test_network_json_has_only_api_1_45_fields(busy_engine: Engine, api_definitions) -> None:
    """API 1.45 (Engine v26/v27) has no EnableIPv4; it came with API 1.48 (Engine v28),
    whose dockerd shows it whatever API version the client asked for: the one field
    beyond 1.45."""
    validator = network_validator(api_definitions, strict=True)
    for net in busy_engine.networks.values():
        doc = network_json(net)
        assert doc.pop("EnableIPv4") is True
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], f"{net.name}: {errors}"


def test_network_json_of_user_network(busy_engine: Engine) -> None:
    front = busy_engine.get_network("front")
    doc = network_json(front)
    assert doc["Name"] == "front" and doc["Id"] == front.id
    assert doc["Driver"] == "bridge" and doc["Scope"] == "local"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)", doc["Created"])
    assert doc["EnableIPv6"] is False
    assert doc["IPAM"] == {
        "Driver": "default", "Options": {},
        "Config": [{"Subnet": "10.10.0.0/16", "IPRange": "10.10.5.0/24",
                    "Gateway": "10.10.0.254", "AuxiliaryAddresses": {"router": "10.10.5.1"}}],
    }
    assert doc["Internal"] is False and doc["Attachable"] is False and doc["Ingress"] is False
    assert doc["ConfigFrom"] == {"Network": ""} and doc["ConfigOnly"] is False
    # Only the options the user passed, and the user's labels.
    assert doc["Options"] == {"com.docker.network.bridge.enable_icc": "false"}
    assert doc["Labels"] == {"tier": "web"}
    web = busy_engine.get_container("web")
    entry = doc["Containers"][web.id]
    assert set(entry) == {"Name", "EndpointID", "MacAddress", "IPv4Address", "IPv6Address"}
    assert entry["Name"] == "web"
    assert HEX64.match(entry["EndpointID"])
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", entry["MacAddress"])
    address = IPv4Interface(entry["IPv4Address"])
    assert address.network == IPv4Network("10.10.0.0/16")
    assert address.ip in IPv4Network("10.10.5.0/24")
    assert entry["IPv6Address"] == ""
    assert list(doc["Containers"]) == [web.id]


def test_network_json_of_internal_network_keeps_gateway(busy_engine: Engine) -> None:
    doc = network_json(busy_engine.get_network("back"))
    assert doc["Internal"] is True and doc["Attachable"] is True
    assert doc["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    assert {c["Name"] for c in doc["Containers"].values()} == {"web", "db"}


def test_network_json_of_predefined_networks(busy_engine: Engine) -> None:
    bridge = network_json(busy_engine.get_network("bridge"))
    assert bridge["IPAM"]["Options"] is None
    assert bridge["Options"] == DOCKER0_OPTIONS and bridge["Labels"] == {}
    plain = busy_engine.get_container("plain")
    assert bridge["Containers"][plain.id]["IPv4Address"] == "172.17.0.2/16"
    host = network_json(busy_engine.get_network("host"))
    hosted = busy_engine.get_container("hosted")
    assert host["Driver"] == "host" and host["Options"] == {}
    assert host["Containers"][hosted.id]["IPv4Address"] == ""
    none = network_json(busy_engine.get_network("none"))
    assert none["Driver"] == "null"
    assert list(none["Containers"]) == [busy_engine.get_container("isolated").id]


# -- close ------------------------------------------------------------------------


def test_close_leaves_no_kernel_object_and_no_pool(busy_engine: Engine) -> None:
    fabric = busy_engine.fabric
    assert fabric.kernel_objects() > 0
    busy_engine.close()
    assert fabric.kernel_objects() == 0
    assert fabric.links == {} and fabric.sandboxes == {}
    assert busy_engine.addresses.pools() == []
    assert busy_engine.networks == {} and busy_engine.containers == {}


def test_close_of_fresh_engine(engine: Engine, fabric: FakeFabric) -> None:
    engine.close()
    assert fabric.kernel_objects() == 0
    assert engine.addresses.pools() == []


def test_close_after_stopped_containers(engine: Engine, fabric: FakeFabric) -> None:
    engine.create_network(NetworkRequest("front"))
    engine.run_container("web", [AttachRequest("front")])
    engine.stop_container("web")
    engine.close()
    assert fabric.kernel_objects() == 0
    assert engine.addresses.pools() == []
