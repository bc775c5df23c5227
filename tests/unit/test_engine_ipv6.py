"""IPv6 in the engine: `--ipv6`, dual stack, `--ipv4=false`, `--ip6`, the default ULA
pool and the default bridge's `--ipv6`/`--fixed-cidr-v6`, as Docker 28 answers them
(daemon/network.go, libnetwork/network.go, api/types/network). The oracle texts are
quoted from moby v28.5.2; everything runs on a FakeFabric.

The bridge driver declares IPv6 in its own branch (issue 19); here a fixture makes the
engine see it declared, so the engine's part is tested alone.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path

import pytest
from engine_helpers import docker_error, engine_state

from emulator import errdefs as err
from emulator.api.shapes.containers import default_network_settings
from emulator.api.shapes.networks import container_networks_json, network_json
from emulator.cnm.engine import AttachRequest, DefaultBridge, Engine, NetworkRequest
from emulator.drivers import registry
from emulator.fabric.fake import FakeFabric
from emulator.ipam import IpamConfig

ULA = "fde1:4ee4:69c3"
"""The /48 of engine ID "h1": fd00::/8 + 40 bits of sha256("h1")."""


def _declaring_ipv6(monkeypatch: pytest.MonkeyPatch, driver: str, ipv6: bool) -> None:
    real = registry.builtin()
    patched = dict(real)
    patched[driver] = replace(real[driver],
                              capability=replace(real[driver].capability, ipv6=ipv6))
    monkeypatch.setattr(registry, "builtin", lambda: patched)


@pytest.fixture
def v6bridge(monkeypatch: pytest.MonkeyPatch) -> None:
    _declaring_ipv6(monkeypatch, "bridge", True)


@pytest.fixture
def engine(v6bridge: None, fabric: FakeFabric) -> Engine:
    return Engine("h1", fabric)


def v6(name: str, *configs: IpamConfig, **kwargs) -> NetworkRequest:
    return NetworkRequest(name, enable_ipv6=True, configs=configs, **kwargs)


def settings(engine: Engine, container, network: str) -> dict:
    return container_networks_json(container, engine.networks)[network]


def test_ipv6_network_with_a_subnet_keeps_an_automatic_ipv4_pool(engine: Engine) -> None:
    net = engine.create_network(v6("v6", IpamConfig("fd00:1::/64")))
    doc = network_json(net)
    assert (doc["EnableIPv4"], doc["EnableIPv6"]) == (True, True)
    assert doc["IPAM"]["Config"] == [{"Subnet": "fd00:1::/64"},
                                     {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    ctr = engine.run_container("c1", [AttachRequest("v6")])
    got = settings(engine, ctr, "v6")
    assert (got["IPAddress"], got["Gateway"]) == ("172.18.0.2", "172.18.0.1")
    assert (got["GlobalIPv6Address"], got["GlobalIPv6PrefixLen"], got["IPv6Gateway"]) == (
        "fd00:1::2", 64, "fd00:1::1")
    assert network_json(engine.get_network("v6"))["Containers"][ctr.id]["IPv6Address"] == (
        "fd00:1::2/64")


def test_the_driver_is_given_both_families(engine: Engine, monkeypatch) -> None:
    seen = {}
    driver = engine.driver("bridge")
    create_network, create_endpoint = driver.create_network, driver.create_endpoint
    monkeypatch.setattr(driver, "create_network",
                        lambda spec, ipam: (seen.update(spec=spec, ipam=ipam),
                                            create_network(spec, ipam))[1])
    monkeypatch.setattr(driver, "create_endpoint",
                        lambda net_id, ep: (seen.update(ep=ep), create_endpoint(net_id, ep))[1])
    engine.create_network(v6("ds", IpamConfig("172.30.0.0/24"), IpamConfig("fd00:1::/64")))
    engine.run_container("c1", [AttachRequest("ds")])
    assert (seen["spec"].enable_ipv4, seen["spec"].enable_ipv6) == (True, True)
    assert (str(seen["ipam"].subnet), str(seen["ipam"].gateway)) == ("172.30.0.0/24", "172.30.0.1")
    assert (str(seen["ipam"].subnet6), str(seen["ipam"].gateway6)) == ("fd00:1::/64", "fd00:1::1")
    assert seen["ep"].address == IPv4Interface("172.30.0.2/24")
    assert seen["ep"].address6 == IPv6Interface("fd00:1::2/64")


def test_dual_stack_shows_both_configs_as_given(engine: Engine) -> None:
    net = engine.create_network(v6("ds", IpamConfig("fd00:1::/64", gateway="fd00:1::fe"),
                                   IpamConfig("172.30.0.0/24")))
    assert network_json(net)["IPAM"]["Config"] == [
        {"Subnet": "172.30.0.0/24"}, {"Subnet": "fd00:1::/64", "Gateway": "fd00:1::fe"}]
    ctr = engine.run_container("c1", [AttachRequest("ds")])
    assert settings(engine, ctr, "ds")["IPv6Gateway"] == "fd00:1::fe"
    assert settings(engine, ctr, "ds")["GlobalIPv6Address"] == "fd00:1::1"


def test_ipv6_without_a_subnet_takes_the_lowest_free_64_of_the_engines_ula(
        engine: Engine) -> None:
    first = engine.create_network(v6("a"))
    second = engine.create_network(v6("b"))
    assert network_json(first)["IPAM"]["Config"][1] == {"Subnet": f"{ULA}::/64",
                                                        "Gateway": f"{ULA}::1"}
    assert network_json(second)["IPAM"]["Config"][1]["Subnet"] == f"{ULA}:1::/64"
    engine.remove_network("a")
    assert network_json(engine.create_network(v6("c")))["IPAM"]["Config"][1]["Subnet"] == (
        f"{ULA}::/64")


def test_the_engine_id_chooses_the_ula(v6bridge: None, fabric: FakeFabric) -> None:
    engine = Engine("h1", fabric, engine_id="")
    net = engine.create_network(v6("a"))
    assert network_json(net)["IPAM"]["Config"][1]["Subnet"] == "fd42:98fc:1c14::/64"


def test_ipv6_only_network(engine: Engine) -> None:
    net = engine.create_network(v6("only6", IpamConfig("fd00:6::/64"), enable_ipv4=False))
    doc = network_json(net)
    assert (doc["EnableIPv4"], doc["EnableIPv6"]) == (False, True)
    assert doc["IPAM"]["Config"] == [{"Subnet": "fd00:6::/64"}]
    assert net.pool_id is None
    ctr = engine.run_container("c1", [AttachRequest("only6")])
    got = settings(engine, ctr, "only6")
    assert (got["IPAddress"], got["IPPrefixLen"], got["Gateway"]) == ("", 0, "")
    assert (got["GlobalIPv6Address"], got["IPv6Gateway"]) == ("fd00:6::2", "fd00:6::1")
    assert engine.create_network(NetworkRequest("next")).ipam_config[0]["Subnet"] == (
        "172.18.0.0/16")


def test_an_ipv4_subnet_of_an_ipv6_only_network_is_shown_but_not_allocated(
        engine: Engine) -> None:
    net = engine.create_network(v6("only6", IpamConfig("172.30.0.0/24"), enable_ipv4=False))
    assert network_json(net)["IPAM"]["Config"] == [
        {"Subnet": "172.30.0.0/24"}, {"Subnet": f"{ULA}::/64", "Gateway": f"{ULA}::1"}]
    engine.create_network(NetworkRequest("same", subnet="172.30.0.0/24"))


def test_an_ipv6_subnet_without_ipv6_is_not_validated_nor_allocated(engine: Engine) -> None:
    net = engine.create_network(NetworkRequest(
        "v4", configs=(IpamConfig("fd00:1::1/64", gateway="fd00:9::1"),)))
    doc = network_json(net)
    assert doc["EnableIPv6"] is False and net.pool_id6 is None
    assert doc["IPAM"]["Config"] == [{"Subnet": "fd00:1::1/64", "Gateway": "fd00:9::1"},
                                     {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]


def test_both_families_off_is_refused(engine: Engine) -> None:
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400, "IPv4 or IPv6 must be enabled"):
        engine.create_network(NetworkRequest("none4", enable_ipv4=False))
    assert engine_state(engine) == before


@pytest.mark.parametrize(("options", "expected"), [
    ({"com.docker.network.enable_ipv6": "true"}, (True, True)),
    ({"com.docker.network.enable_ipv6": "1", "com.docker.network.enable_ipv4": "F"},
     (False, True)),
])
def test_driver_options_enable_the_families(engine: Engine, options, expected) -> None:
    net = engine.create_network(NetworkRequest("o", options=options))
    assert (net.enable_ipv4, net.enable_ipv6) == expected
    assert network_json(net)["Options"] == options


def test_the_request_field_wins_over_the_option_and_drops_it(engine: Engine) -> None:
    net = engine.create_network(NetworkRequest(
        "o", enable_ipv6=False, options={"com.docker.network.enable_ipv6": "true",
                                             "com.docker.network.bridge.enable_icc": "true"}))
    assert net.enable_ipv6 is False
    assert net.options == {"com.docker.network.bridge.enable_icc": "true"}


def test_a_bad_option_value_is_refused(engine: Engine) -> None:
    with docker_error(err.InvalidParameter, 400,
                      'driver-opt "com.docker.network.enable_ipv6" is not a valid bool'):
        engine.create_network(NetworkRequest("o", options={"com.docker.network.enable_ipv6": "y"}))


@pytest.mark.parametrize(("configs", "message"), [
    ((IpamConfig("fd00:1::1/64"),), "invalid subnet fd00:1::1/64: it should be fd00:1::/64"),
    ((IpamConfig("fd00:1::/64", gateway="fd00:2::1"),),
     "invalid gateway fd00:2::1: parent subnet fd00:1::/64 doesn't contain this address"),
    ((IpamConfig("fd00:1::/64", aux_addresses={"r": "10.0.0.1"}),),
     "invalid auxiliary address r: parent subnet is an IPv6 block"),
])
def test_ipv6_ipam_validation_texts(engine: Engine, configs, message) -> None:
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400, f"invalid network config:\n* {message}"):
        engine.create_network(v6("bad", *configs))
    assert engine_state(engine) == before


def test_the_bridge_driver_refuses_two_subnets_of_a_family(engine: Engine) -> None:
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403, "bridge driver doesn't support multiple subnets"):
        engine.create_network(v6("two", IpamConfig("fd00:1::/64"), IpamConfig("fd00:2::/64")))
    assert engine_state(engine) == before


def test_overlapping_ipv6_subnets_are_refused(engine: Engine) -> None:
    engine.create_network(v6("a", IpamConfig("fd00:1::/64")))
    before = engine_state(engine)
    with docker_error(err.Forbidden, 403, "invalid pool request: Pool overlaps with other one "
                                          "on this address space"):
        engine.create_network(v6("b", IpamConfig("fd00::/16")))
    assert engine_state(engine) == before


def test_a_driver_without_ipv6_is_refused_by_name(monkeypatch, fabric: FakeFabric) -> None:
    _declaring_ipv6(monkeypatch, "bridge", False)
    engine = Engine("h1", fabric)
    before = engine_state(engine)
    with docker_error(err.NotImplementedByEmulator, 501,
                      "IPv6 on bridge networks is not supported by the emulator yet (--ipv6)"):
        engine.create_network(v6("v6", IpamConfig("fd00:1::/64")))
    with docker_error(err.NotImplementedByEmulator, 501, "IPv6-only bridge networks "
                      "(--ipv4=false) are not supported by the emulator yet"):
        engine.create_network(NetworkRequest("v6", enable_ipv4=False))
    assert engine_state(engine) == before


def test_aux_addresses_and_gateway_are_reserved(engine: Engine) -> None:
    engine.create_network(v6("aux", IpamConfig("fd00:1::/64", gateway="fd00:1::2",
                                               aux_addresses={"r": "fd00:1::1"})))
    ctr = engine.run_container("c1", [AttachRequest("aux")])
    assert settings(engine, ctr, "aux")["GlobalIPv6Address"] == "fd00:1::3"
    doc = network_json(engine.get_network("aux"))
    assert doc["IPAM"]["Config"][0] == {"Subnet": "fd00:1::/64", "Gateway": "fd00:1::2",
                                        "AuxiliaryAddresses": {"r": "fd00:1::1"}}


def test_ip6_on_run_and_connect(engine: Engine) -> None:
    engine.create_network(v6("v6", IpamConfig("fd00:1::/64")))
    engine.create_network(v6("w6", IpamConfig("fd00:2::/64")))
    ctr = engine.run_container("c1", [AttachRequest("v6", ip6="fd00:1::99")])
    assert settings(engine, ctr, "v6")["GlobalIPv6Address"] == "fd00:1::99"
    assert settings(engine, ctr, "v6")["IPAMConfig"] == {"IPv6Address": "fd00:1::99"}
    engine.connect("w6", "c1", ip6="fd00:2::5")
    got = settings(engine, engine.get_container("c1"), "w6")
    assert (got["GlobalIPv6Address"], got["IPAddress"]) == ("fd00:2::5", "172.19.0.2")
    assert got["IPAMConfig"] == {"IPv6Address": "fd00:2::5"}


def test_ip6_taken_and_freed(engine: Engine) -> None:
    engine.create_network(v6("v6", IpamConfig("fd00:1::/64")))
    engine.run_container("c1", [AttachRequest("v6", ip6="fd00:1::2")])
    with pytest.raises(err.DockerError, match="Address already in use"):
        engine.run_container("c2", [AttachRequest("v6", ip6="fd00:1::2")])
    engine.disconnect("v6", "c1")
    ctr = engine.run_container("c3", [AttachRequest("v6")])
    assert settings(engine, ctr, "v6")["GlobalIPv6Address"] == "fd00:1::2"


@pytest.mark.parametrize(("network", "ip6", "message"), [
    ("v6", "10.0.0.1", "* invalid IPv6 address: 10.0.0.1\n"
                       "* no configured subnet or ip-range contain the IP address 10.0.0.1"),
    ("v6", "::", "* invalid IPv6 address: ::\n"
                 "* no configured subnet or ip-range contain the IP address ::"),
    ("v6", "fd00:9::1", "no configured subnet or ip-range contain the IP address fd00:9::1"),
    ("auto6", "fd00:1::5", "user specified IP address is supported only when connecting to "
                           "networks with user configured subnets"),
    ("v4", "fd00:1::5", "user specified IP address is supported only when connecting to "
                        "networks with user configured subnets"),
    ("bridge", "fd00:1::5", "user specified IP address is supported on user defined networks "
                            "only"),
])
def test_ip6_refusals(engine: Engine, network: str, ip6: str, message: str) -> None:
    engine.create_network(v6("v6", IpamConfig("fd00:1::/64")))
    engine.create_network(v6("auto6", IpamConfig("172.30.0.0/24")))
    engine.create_network(NetworkRequest("v4", subnet="172.31.0.0/24"))
    engine.run_container("c1", [AttachRequest("v4")])
    full = f"invalid endpoint settings:\n{message}"
    with docker_error(err.InvalidParameter, 400, f"invalid config for network {network}: {full}"):
        engine.run_container("c2", [AttachRequest(network, ip6=ip6)])
    if network != "v4":
        with docker_error(err.InvalidParameter, 400, full):
            engine.connect(network, "c1", ip6=ip6)


def test_several_endpoint_problems_are_listed_as_docker_joins_them(engine: Engine) -> None:
    engine.create_network(v6("v6", IpamConfig("fd00:1::/64"), IpamConfig("172.30.0.0/24")))
    message = ("invalid endpoint settings:\n* invalid IPv4 address: fd00:1::1\n"
               "* no configured subnet or ip-range contain the IP address fd00:1::1")
    with docker_error(err.InvalidParameter, 400, f"invalid config for network v6: {message}"):
        engine.run_container("c2", [AttachRequest("v6", ip="fd00:1::1")])


def test_an_exhausted_ipv6_pool(engine: Engine) -> None:
    net = engine.create_network(v6("tiny", IpamConfig("fd00:1::/126")))
    for name in ("c1", "c2"):
        engine.run_container(name, [AttachRequest("tiny")])
    with docker_error(err.DockerError, 500, "no available IPv6 addresses on this network's "
                                            f"address pools: tiny ({net.id})"):
        engine.run_container("c3", [AttachRequest("tiny")])


def test_a_container_with_ipv6_disabled_gets_no_ipv6_address(engine: Engine) -> None:
    engine.create_network(v6("v6", IpamConfig("fd00:1::/64")))
    ctr = engine.create_container("c1", [AttachRequest("v6")])
    ctr.sysctls["net.ipv6.conf.all.disable_ipv6"] = "1"
    engine.start_container("c1")
    got = settings(engine, engine.get_container("c1"), "v6")
    assert (got["GlobalIPv6Address"], got["IPv6Gateway"]) == ("", "")
    assert got["IPAddress"] == "172.18.0.2"


def test_removing_a_network_frees_its_ipv6_pool(engine: Engine) -> None:
    engine.create_network(v6("a", IpamConfig("fd00:1::/64")))
    engine.remove_network("a")
    engine.create_network(v6("b", IpamConfig("fd00:1::/64")))


# The default bridge: dockerd's --ipv6 and --fixed-cidr-v6


def test_default_bridge_with_fixed_cidr_v6(v6bridge: None, fabric: FakeFabric) -> None:
    engine = Engine("h1", fabric, default_bridge=DefaultBridge(True, "2001:db8:1::/64"))
    bridge = network_json(engine.get_network("bridge"))
    assert (bridge["EnableIPv4"], bridge["EnableIPv6"]) == (True, True)
    assert bridge["IPAM"]["Config"] == [
        {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"},
        {"Subnet": "2001:db8:1::/64", "Gateway": "2001:db8:1::1"}]
    ctr = engine.run_container("c1")
    top = default_network_settings(container_networks_json(ctr, engine.networks))
    assert (top["IPAddress"], top["GlobalIPv6Address"], top["GlobalIPv6PrefixLen"],
            top["IPv6Gateway"]) == ("172.17.0.2", "2001:db8:1::2", 64, "2001:db8:1::1")


def test_default_bridge_ipv6_without_fixed_cidr_takes_a_ula_64(
        v6bridge: None, fabric: FakeFabric) -> None:
    engine = Engine("h1", fabric, default_bridge=DefaultBridge(ipv6=True))
    assert network_json(engine.get_network("bridge"))["IPAM"]["Config"][1] == {
        "Subnet": f"{ULA}::/64", "Gateway": f"{ULA}::1"}
    assert engine.get_network("bridge").pool_id6 is not None
    assert engine.create_network(v6("next")).ipam_config[1]["Subnet"] == f"{ULA}:1::/64"


def test_default_bridge_without_ipv6(engine: Engine) -> None:
    bridge = engine.get_network("bridge")
    assert (bridge.enable_ipv4, bridge.enable_ipv6, bridge.pool_id6) == (True, False, None)
    ctr = engine.run_container("c1")
    top = default_network_settings(container_networks_json(ctr, engine.networks))
    assert (top["GlobalIPv6Address"], top["IPv6Gateway"]) == ("", "")


def test_gateway6_from_the_driver_join_is_kept(engine: Engine, monkeypatch) -> None:
    engine.create_network(v6("v6", IpamConfig("fd00:1::/64")))
    driver = engine.driver("bridge")
    join = driver.join
    monkeypatch.setattr(driver, "join", lambda net_id, ep_id, sandbox: replace(
        join(net_id, ep_id, sandbox), gateway6=IPv6Address("fd00:1::ff")))
    ctr = engine.run_container("c1", [AttachRequest("v6")])
    assert settings(engine, ctr, "v6")["IPv6Gateway"] == "fd00:1::ff"


def test_etc_hosts_lists_the_ipv6_address_after_the_ipv4_one(
        v6bridge: None, tmp_path) -> None:
    engine = Engine("h1", FakeFabric("h1"), dns_servers=["192.0.2.254"], state_dir=tmp_path)
    engine.create_network(v6("ds", IpamConfig("172.30.0.0/24"), IpamConfig("fd00:1::/64")))
    engine.create_network(v6("w6", IpamConfig("fd00:2::/64"), enable_ipv4=False))
    ctr = engine.run_container("c1", [AttachRequest("ds")], hostname="web")
    hosts = Path(engine.container_files.paths(ctr.id)["HostsPath"])
    assert hosts.read_text().endswith("172.30.0.2\tweb\nfd00:1::2\tweb\n")
    engine.connect("w6", "c1")
    assert hosts.read_text().endswith("fd00:1::2\tweb\nfd00:2::2\tweb\n")
    engine.disconnect("w6", "c1")
    assert "fd00:2::2" not in hosts.read_text()


# A topology's hosts: `ipv6` and `fixed-cidr-v6` (dockerd's options for the default bridge)


def _topology(**fields: object):
    from emulator.topology import topology_from_data

    return topology_from_data({"name": "lab", "underlay": {"subnet": "192.0.2.0/24"},
                               "hosts": {"h1": fields}})


def test_topology_host_ipv6_options_reach_the_default_bridge(v6bridge: None) -> None:
    from emulator.lab.dryrun import check_topology
    from emulator.lab.lab import default_bridge_args

    topology = _topology(**{"ipv6": True, "fixed-cidr-v6": "2001:db8:1::/64"})
    host = topology.hosts[0]
    assert (host.ipv6, host.fixed_cidr_v6) == (True, "2001:db8:1::/64")
    assert check_topology(topology) == []
    assert default_bridge_args(host) == ["--ipv6", "--fixed-cidr-v6", "2001:db8:1::/64"]


def test_topology_host_ipv6_is_refused_while_the_bridge_driver_has_none(monkeypatch) -> None:
    from emulator.lab.dryrun import check_topology
    from emulator.topology import TopologyError

    _declaring_ipv6(monkeypatch, "bridge", False)
    with pytest.raises(TopologyError) as caught:
        check_topology(_topology(ipv6=True))
    assert [str(p) for p in caught.value.problems] == [
        "topology: hosts.h1.ipv6: IPv6 on bridge networks is not supported by the emulator "
        "yet (--ipv6)"]


# The Engine API's create body and connect body


def test_api_create_body_with_both_families_and_connect_with_ipv6_address(
        engine: Engine) -> None:
    from api_helpers import call

    from emulator.api import networks as api_networks
    from emulator.api.context import HostContext

    host = HostContext(engine)
    created = call(api_networks.create_network, host, "POST", {
        "Name": "ds", "EnableIPv6": True, "EnableIPv4": False,
        "IPAM": {"Config": [{"Subnet": "fd00:1::/64", "Gateway": "fd00:1::fe"}]}})
    assert created.status == 201
    doc = call(api_networks.inspect_network, host, id="ds").body
    assert (doc["EnableIPv4"], doc["EnableIPv6"]) == (False, True)
    assert doc["IPAM"]["Config"] == [{"Subnet": "fd00:1::/64", "Gateway": "fd00:1::fe"}]
    engine.run_container("c1", [AttachRequest("bridge")])
    call(api_networks.connect_container, host, "POST",
         {"Container": "c1", "EndpointConfig": {"IPAMConfig": {"IPv6Address": "fd00:1::7"}}},
         id="ds")
    got = settings(engine, engine.get_container("c1"), "ds")
    assert (got["GlobalIPv6Address"], got["IPv6Gateway"], got["IPAddress"]) == (
        "fd00:1::7", "fd00:1::fe", "")


@pytest.mark.parametrize(("value", "problem"), [
    ("10.0.0.0/24", "'10.0.0.0/24' is not a valid IPv6 subnet"),
    ("ff02::/64", "multicast subnet 'ff02::/64' is not allowed"),
    ("fe80::/80", "'fe80::/80' clashes with the Link-Local prefix 'fe80::/64'"),
    ("fe80::/10", "'fe80::/10' clashes with the Link-Local prefix 'fe80::/64'"),
])
def test_fixed_cidr_v6_is_checked_as_dockerd_does(value: str, problem: str) -> None:
    with docker_error(err.InvalidParameter, 400, f"invalid fixed-cidr-v6: {problem}"):
        DefaultBridge(True, value)


def test_fixed_cidr_v6_may_be_the_link_local_64_itself() -> None:
    assert DefaultBridge(True, "fe80::/64").fixed_cidr_v6 == "fe80::/64"
