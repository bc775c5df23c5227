"""Inputs the engine must judge as dockerd does: container names matched to the end of
the text, and subnets Docker accepts though they will not work, answered with a warning
(and, when the kernel then refuses the gateway, with an error naming the subnet)."""

from __future__ import annotations

import errno
from ipaddress import IPv4Network

import pytest
from api_helpers import call
from engine_helpers import docker_error, engine_state

from emulator import errdefs as err
from emulator.api import networks
from emulator.api.context import HostContext
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.ipam import subnet_warnings

UNDERLAY = IPv4Network("192.0.2.0/24")
MULTICAST = ("subnet 224.0.0.0/4 overlaps the multicast range 224.0.0.0/4: the kernel routes "
             "no unicast traffic there, so containers cannot start on it")
LOOPBACK = ("subnet 127.0.0.0/8 overlaps the loopback range 127.0.0.0/8: a container keeps "
            "traffic for these addresses to itself, so it reaches neither its gateway nor "
            "other containers")
LINK_LOCAL = ("subnet 169.254.0.0/16 overlaps the link-local range 169.254.0.0/16: these "
              "addresses are for one link only (address autoconfiguration, cloud metadata at "
              "169.254.169.254) and are not routed beyond it")
INSIDE_UNDERLAY = ("subnet 192.0.2.0/25 overlaps 192.0.2.0/24, a network this Docker host is "
                   "attached to: the host will send traffic for 192.0.2.0/25 to this network, "
                   "no longer to the machines of 192.0.2.0/24 in it")
AROUND_UNDERLAY = ("subnet 192.0.0.0/16 overlaps 192.0.2.0/24, a network this Docker host is "
                   "attached to: containers on this network will look for the machines of "
                   "192.0.2.0/24 on it and not reach them")


@pytest.fixture
def lab_host() -> Engine:
    """A Docker host on an underlay, as the lab makes it."""
    return Engine("h1", FakeFabric("h1", nics=("eth0",)), reserved=[UNDERLAY])


# -- container names ------------------------------------------------------------


@pytest.mark.parametrize("name", ["web\n", "/web\n", "web\n\n", "//web", "\nweb", "/x!"])
def test_a_name_is_matched_to_the_end_of_the_text(engine: Engine, name: str) -> None:
    before = engine_state(engine)
    with docker_error(err.InvalidParameter, 400,
                      f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
                      "allowed"):
        engine.create_container(name, [AttachRequest("bridge")])
    assert engine.list_containers(all=True) == []
    assert engine_state(engine) == before


def test_one_leading_slash_is_dropped_as_dockerd_does(engine: Engine) -> None:
    assert engine.create_container("/web", [AttachRequest("bridge")]).name == "web"


def test_a_name_of_any_length_is_a_name(engine: Engine) -> None:
    name = "a" * 300
    container = engine.run_container(name)
    assert engine.get_container(name) is container
    engine.remove_container(name, force=True)
    assert engine.list_containers(all=True) == []


# -- subnet warnings --------------------------------------------------------------


@pytest.mark.parametrize(("subnet", "expected"), [
    ("224.0.0.0/4", [MULTICAST]),
    ("127.0.0.0/8", [LOOPBACK]),
    ("169.254.0.0/16", [LINK_LOCAL]),
    ("192.0.2.0/25", [INSIDE_UNDERLAY]),
    ("192.0.0.0/16", [AROUND_UNDERLAY]),
    ("10.10.0.0/24", []),
])
def test_subnet_warnings_name_what_the_subnet_overlaps(subnet: str, expected: list[str]) -> None:
    assert subnet_warnings(IPv4Network(subnet), [UNDERLAY]) == expected


def test_a_subnet_over_everything_gets_every_warning() -> None:
    found = subnet_warnings(IPv4Network("0.0.0.0/0"), [UNDERLAY])
    assert [w.split(": ")[0] for w in found] == [
        "subnet 0.0.0.0/0 overlaps 192.0.2.0/24, a network this Docker host is attached to",
        "subnet 0.0.0.0/0 overlaps the multicast range 224.0.0.0/4",
        "subnet 0.0.0.0/0 overlaps the loopback range 127.0.0.0/8",
        "subnet 0.0.0.0/0 overlaps the link-local range 169.254.0.0/16",
    ]


@pytest.mark.parametrize(("subnet", "expected"), [
    ("224.0.0.0/4", (MULTICAST,)),
    ("127.0.0.0/8", (LOOPBACK,)),
    ("169.254.0.0/16", (LINK_LOCAL,)),
    ("192.0.2.0/25", (INSIDE_UNDERLAY,)),
    ("10.10.0.0/24", ()),
])
def test_docker_accepts_the_subnet_and_the_create_warns(lab_host: Engine, subnet: str,
                                                        expected: tuple[str, ...]) -> None:
    network = lab_host.create_network(NetworkRequest("front", subnet=subnet))
    assert lab_host.get_network("front") is network
    assert network.warnings == expected


def test_a_network_from_the_default_pools_needs_no_warning(lab_host: Engine) -> None:
    assert lab_host.create_network(NetworkRequest("front")).warnings == ()


def test_a_macvlan_on_its_parents_subnet_is_no_overlap(lab_host: Engine) -> None:
    network = lab_host.create_network(NetworkRequest(
        "lan", driver="macvlan", subnet="192.0.2.0/24", options={"parent": "eth0"}))
    assert network.warnings == ()


def test_the_create_response_carries_the_warning(lab_host: Engine) -> None:
    host = HostContext(lab_host)
    body = {"Name": "mc", "IPAM": {"Config": [{"Subnet": "224.0.0.0/4"}]}}
    response = call(networks.create_network, host, "POST", body)
    assert response.status == 201
    assert response.body == {"Id": lab_host.get_network("mc").id, "Warning": MULTICAST}
    plain = call(networks.create_network, host, "POST", {"Name": "plain"})
    assert plain.body["Warning"] == ""


def test_a_gateway_the_kernel_cannot_route_is_an_error_naming_the_subnet(
        lab_host: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    fabric = lab_host.fabric
    lab_host.create_network(NetworkRequest("mc", subnet="224.0.0.0/4"))
    container = lab_host.create_container("web", [AttachRequest("mc")])
    before = engine_state(lab_host)

    def unreachable(sandbox, plug) -> None:  # the kernel's answer to a multicast gateway
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(fabric, "plug", unreachable)
    with docker_error(err.DockerError, 500,
                      f"failed to set gateway: network is unreachable (network mc: "
                      f"{MULTICAST})"):
        lab_host.start_container("web")
    assert not container.running and container.endpoints == {}
    assert engine_state(lab_host) == before


def test_other_kernel_errors_of_a_join_are_not_relabelled(
        lab_host: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    lab_host.create_network(NetworkRequest("front", subnet="10.10.0.0/24"))
    lab_host.create_container("web", [AttachRequest("front")])

    def refused(sandbox, plug) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(lab_host.fabric, "plug", refused)
    with pytest.raises(OSError) as caught:
        lab_host.start_container("web")
    assert caught.value.errno == errno.EPERM
