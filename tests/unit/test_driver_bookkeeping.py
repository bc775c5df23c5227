"""What the drivers that keep a record of their networks do alike (drivers/bookkeeping.py).

Deletes and leaves succeed when the thing is already gone (CNI's DEL), an unknown
network is Docker's NotFound, a network that goes takes its endpoints' devices with
it, and CHECK names what it does not know. The remote driver tells its plugin each
leftover endpoint's Leave and DeleteEndpoint, in turn, before DeleteNetwork.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.drivers.base import Driver, EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.bridge import BridgeDriver
from emulator.drivers.macvlan import MacvlanDriver
from emulator.drivers.remote.driver import RemoteDriver
from emulator.fabric.fake import FakeFabric

NET, EP, OTHER = "n" * 64, "e" * 64, "x" * 64
IPAM = IPAMData(IPv4Network("10.50.0.0/24"), IPv4Address("10.50.0.1"))
ADDRESS = IPv4Interface("10.50.0.2/24")


def local_driver(kind: str) -> tuple[Driver, FakeFabric]:
    """A bridge or macvlan driver on a host with a LAN NIC, with network NET."""
    fabric = FakeFabric("h1", nics=("eth0", "eth1"))
    if kind == "bridge":
        driver: Driver = BridgeDriver(fabric)
        options = {}
    else:
        driver = MacvlanDriver(fabric)
        options = {"parent": "eth1"}
    driver.create_network(NetworkSpec(NET, "front", options), IPAM)
    return driver, fabric


def joined(driver: Driver, fabric: FakeFabric, ep_id: str = EP, key: str = "c1") -> None:
    driver.create_endpoint(NET, EndpointSpec(ep_id, ADDRESS))
    sandbox = fabric.create_sandbox(key, key, False)
    driver.join(NET, ep_id, SandboxRef(sandbox, "eth0", True))


@pytest.mark.parametrize("kind", ["bridge", "macvlan"])
def test_deletes_and_leaves_succeed_when_the_thing_is_gone(kind: str) -> None:
    driver, fabric = local_driver(kind)
    joined(driver, fabric)
    for _ in range(2):
        driver.leave(NET, EP)
    assert fabric.sandbox_ifaces["c1"] == {}
    for _ in range(2):
        driver.delete_endpoint(NET, EP)
    driver.leave(NET, EP)
    driver.leave(OTHER, EP)
    driver.delete_endpoint(OTHER, EP)
    assert driver.check(NET, EP) == [f"endpoint {EP} is unknown to the {kind} driver"]
    for _ in range(2):
        driver.delete_network(NET)
    assert fabric.kernel_objects() == 1  # the sandbox c1
    with docker_error(err.NotFound, 404, f"network {NET} not found"):
        driver.network_options(NET)
    assert driver.check(NET, EP) == [f"network {NET} is unknown to the {kind} driver"]


@pytest.mark.parametrize("kind", ["bridge", "macvlan"])
def test_a_joined_endpoint_deleted_without_a_leave_takes_its_device(kind: str) -> None:
    driver, fabric = local_driver(kind)
    joined(driver, fabric)
    driver.delete_endpoint(NET, EP)
    assert fabric.sandbox_ifaces["c1"] == {}
    driver.delete_network(NET)
    assert fabric.kernel_objects() == 1  # the sandbox c1


@pytest.mark.parametrize("kind", ["bridge", "macvlan"])
def test_a_network_that_goes_takes_its_joined_endpoints_devices(kind: str) -> None:
    driver, fabric = local_driver(kind)
    joined(driver, fabric)
    assert driver.check(NET, EP) == []
    driver.delete_network(NET)
    assert fabric.sandbox_ifaces["c1"] == {}
    assert fabric.kernel_objects() == 1  # the sandbox c1
    driver.delete_endpoint(NET, EP)


@pytest.mark.parametrize("kind", ["bridge", "macvlan"])
def test_check_names_an_interface_gone_from_the_sandbox(kind: str) -> None:
    driver, fabric = local_driver(kind)
    joined(driver, fabric)
    del fabric.sandbox_ifaces["c1"]["eth0"]
    assert driver.check(NET, EP) == ["interface eth0 is missing from the sandbox"]


def test_network_options_are_the_networks_as_given() -> None:
    driver, _ = local_driver("macvlan")
    assert driver.network_options(NET) == {"parent": "eth1"}


class RecordingPlugin:
    """A plugin that answers every call and, for Join, makes a link on the host."""

    def __init__(self, fabric: FakeFabric) -> None:
        self.fabric = fabric
        self.calls: list[tuple[str, str | None]] = []

    def call(self, method: str, body: dict | None = None) -> dict:
        body = body or {}
        self.calls.append((method.removeprefix("NetworkDriver."), body.get("EndpointID")))
        if method == "NetworkDriver.Join":
            name = f"tap{body['EndpointID'][:4]}"
            self.fabric.host_links.add(name)
            return {"InterfaceName": {"SrcName": name, "DstPrefix": "eth"}}
        return {}


def test_remote_driver_leaves_and_deletes_each_endpoint_before_the_network() -> None:
    fabric = FakeFabric("h1")
    plugin = RecordingPlugin(fabric)
    driver = RemoteDriver("weave", plugin, fabric, "local", "local")  # type: ignore[arg-type]
    driver.create_network(NetworkSpec(NET, "front", {}), IPAM)
    joined(driver, fabric, "a" * 64, "c1")
    joined(driver, fabric, "b" * 64, "c2")
    plugin.calls.clear()
    driver.delete_endpoint(NET, OTHER)
    driver.delete_network(NET)
    assert plugin.calls == [("Leave", "a" * 64), ("DeleteEndpoint", "a" * 64),
                            ("Leave", "b" * 64), ("DeleteEndpoint", "b" * 64),
                            ("DeleteNetwork", None)]
    assert fabric.sandbox_ifaces == {"c1": {}, "c2": {}}
    assert driver.check(NET, EP) == [f"network {NET} is unknown to the weave plugin driver"]
