"""The new checks of issue 18 (item 1) and the fault catalogue's plugin, without a lab:
ids and statements, what applies to whom, ordinary ARP requests, call timing."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from emulator.conformance.checks.arpanswers import request_frame
from emulator.conformance.checks.latency import summary, timed_calls
from emulator.conformance.registry import all_checks
from emulator.conformance.targets import OVERLAY_DEFAULT_MTU, resolve
from emulator.plugins import faultyplugin
from emulator.probes.conflicts import parse_arp

NEW = {"CNM-REACH-02", "CNM-MTU-02", "CNM-EP-02", "CNM-EP-03", "CNM-IPAM-03", "CNM-ISO-04"}


def _applies(driver: str, **plugin) -> set[str]:
    target = resolve(driver, **plugin)
    return {c.id for c in all_checks() if c.id in NEW and not c.applies(target)}


def test_the_new_checks_are_registered_with_one_line_statements():
    by_id = {c.id: c for c in all_checks()}
    assert NEW <= set(by_id)
    assert "MAC" in by_id["CNM-EP-02"].statement
    assert "proxy ARP" in by_id["CNM-ISO-04"].statement
    assert "gateway" in by_id["CNM-REACH-02"].statement


@pytest.mark.parametrize("driver", ["bridge", "overlay", "macvlan"])
def test_every_new_check_applies_to_the_drivers_with_interfaces(driver):
    assert _applies(driver) == NEW


def test_a_plugin_gets_every_new_check_and_host_none_get_none():
    assert _applies("fp", plugin_command="x {socket}") == NEW
    assert _applies("host") == _applies("null") == set()


def test_the_documented_default_mtus_and_where_macvlan_goes_out():
    assert resolve("bridge").default_mtu == 1500
    assert resolve("overlay").default_mtu == OVERLAY_DEFAULT_MTU == 1450
    assert resolve("mesh").default_mtu == 1450
    macvlan = resolve("macvlan")
    assert macvlan.default_mtu == "parent" and macvlan.outbound == "lan"
    assert resolve("bridge").outbound == "host"


def test_an_ordinary_arp_request_carries_the_containers_address_not_zero():
    mac = bytes.fromhex("024200aa0001")
    frame = request_frame(mac, IPv4Address("10.1.0.5"), IPv4Address("10.2.0.7"))
    packet = parse_arp(frame)
    assert packet is not None and packet.op == 1
    assert packet.sender_ip == IPv4Address("10.1.0.5") and not packet.is_probe
    assert packet.sender_mac == "02:42:00:aa:00:01"
    assert packet.target_ip == IPv4Address("10.2.0.7")
    assert frame[:6] == b"\xff" * 6  # broadcast, as a kernel's request


class Driver:
    def create_endpoint(self, net_id, spec):
        return ("ep", net_id)

    def join(self, net_id, ep_id, sandbox):
        return ("joined", ep_id)


def test_driver_calls_are_timed_while_wrapped_and_restored_after():
    driver = Driver()
    times: dict[str, list[float]] = {}
    with timed_calls(driver, times):
        assert driver.create_endpoint("n", None) == ("ep", "n")
        assert driver.join("n", "e", None) == ("joined", "e")
        assert driver.join("n", "f", None) == ("joined", "f")
    assert {k: len(v) for k, v in times.items()} == {"CreateEndpoint": 1, "Join": 2}
    assert "create_endpoint" not in vars(driver) and "join" not in vars(driver)
    assert summary({"Join": [0.010, 0.030, 0.020]}) == ("Join: median 20 ms, slowest 30 ms "
                                                        "over 3 calls")


def test_the_fault_catalogue_holds_twenty_plausible_mistakes_described_in_one_line():
    assert len(faultyplugin.FAULTS) >= 20
    for name, description in faultyplugin.FAULTS.items():
        assert name == name.lower() and " " not in name
        assert description and "\n" not in description


def test_the_faulty_plugin_states_its_scope_and_echoes_only_when_told():
    healthy = faultyplugin.FaultyPlugin(None)
    assert healthy.get_capabilities({})["Scope"] == "local"
    assert faultyplugin.FaultyPlugin("global-scope").get_capabilities({})["Scope"] == "global"
    body = {"NetworkID": "n" * 64, "EndpointID": "e" * 64,
            "Interface": {"Address": "10.1.0.5/24"}}
    assert healthy.create_endpoint(dict(body)) == {"Interface": {}}
    echo = faultyplugin.FaultyPlugin("echo-address").create_endpoint(dict(body))
    assert echo == {"Interface": {"Address": "10.1.0.5/24"}}
    assert faultyplugin.FaultyPlugin("fixed-names").veth_names("e" * 64) == (
        "pv-endpoint", "pc-endpoint")
