"""Bad requests on a running lab: Docker's message, and not one kernel object made or lost."""

from __future__ import annotations

import json

import docker
import pytest

from emulator import DockerError


def kernel_state(host) -> tuple[object, str, str]:
    """Links (by name: their carrier state settles on its own), addresses, rules."""
    links = host.exec(["ip", "-o", "link", "show"]).stdout.splitlines()
    return (
        sorted(line.split(":")[1].strip() for line in links),
        host.exec(["ip", "-o", "-4", "addr", "show"]).stdout,
        host.exec(["nft", "list", "ruleset"]).stdout,
    )


BAD_NETWORKS = [
    (dict(name="bridge"), 403, "operation is not permitted on predefined bridge network "),
    (dict(name="x", driver="host"), 403, 'only one instance of "host" network is allowed'),
    (dict(name="x", driver="null"), 403, 'only one instance of "null" network is allowed'),
    (dict(name="x", driver="foo"), 404, 'plugin "foo" not found'),
    (dict(name="x", subnet="10.1.2.3/24"), 400,
     "invalid network config:\n* invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24"),
    (dict(name="x", subnet="10.1.0.0/33"), 400,
     "invalid network config:\n* invalid subnet 10.1.0.0/33: invalid CIDR block notation"),
    (dict(name="x", subnet="10.7.0.0/24", gateway="10.8.0.1"), 400,
     "invalid network config:\n* invalid gateway 10.8.0.1: parent subnet 10.7.0.0/24 doesn't "
     "contain this address"),
    (dict(name="x", subnet="10.7.0.0/24", ip_range="10.9.0.0/25"), 400,
     "invalid network config:\n* invalid ip-range 10.9.0.0/25: parent subnet 10.7.0.0/24 "
     "doesn't contain ip-range"),
    (dict(name="x", options={"com.docker.network.bridge.enable_icc": "maybe"}), 400,
     "failed to parse com.docker.network.bridge.enable_icc value: maybe "
     '(strconv.ParseBool: parsing "maybe": invalid syntax)'),
    (dict(name="x", options={"com.docker.network.bridge.name": "a-very-long-bridge0"}), 500,
     "failed to check bridge interface existence: numerical result out of range"),
    (dict(name="x", options={"com.docker.network.driver.mtu": "huge"}), 400,
     'failed to parse com.docker.network.driver.mtu value: huge (strconv.Atoi: parsing "huge": '
     "invalid syntax)"),
]


@pytest.mark.parametrize(("kwargs", "status", "message"), BAD_NETWORKS,
                         ids=[m[:40] for _, _, m in BAD_NETWORKS])
def test_bad_network_requests_change_nothing(h1, kwargs, status, message):
    h1.networks.create("existing", subnet="10.60.0.0/24")
    h1.containers.run("busy", network="existing")
    before = kernel_state(h1)
    with pytest.raises(DockerError) as caught:
        h1.networks.create(**kwargs)
    assert (caught.value.status, caught.value.message) == (status, message)
    assert kernel_state(h1) == before


def test_unknown_option_is_refused_listing_the_allowed_ones(h1):
    before = kernel_state(h1)
    with pytest.raises(DockerError) as caught:
        h1.networks.create("x", options={"com.docker.network.bridge.enable_icd": "false"})
    assert caught.value.message.startswith(
        'unknown option "com.docker.network.bridge.enable_icd" for the bridge driver; allowed: ')
    assert "com.docker.network.bridge.enable_icc" in caught.value.message
    assert kernel_state(h1) == before


def test_overlap_duplicate_and_busy_network(h1):
    h1.networks.create("front", subnet="10.61.0.0/16")
    h1.containers.run("web", network="front")
    before = kernel_state(h1)
    with pytest.raises(DockerError, match="^invalid pool request: Pool overlaps with other one "
                       "on this address space$"):
        h1.networks.create("other", subnet="10.61.5.0/24")
    with pytest.raises(DockerError, match="^network with name front already exists$"):
        h1.networks.create("front")
    with pytest.raises(DockerError) as caught:
        h1.networks.remove("front")
    assert caught.value.message.startswith(
        'error while removing network: network front has active endpoints (name:"web" id:"')
    with pytest.raises(DockerError, match="^bridge is a pre-defined network and cannot be "
                       "removed$"):
        h1.networks.remove("bridge")
    assert kernel_state(h1) == before


def test_bad_container_requests_change_nothing(h1):
    h1.networks.create("nosubnet")
    h1.networks.create("front", subnet="10.62.0.0/24")
    h1.containers.run("web", network="front", ip="10.62.0.10")
    before = kernel_state(h1)
    cases = [
        (dict(name="web2", network="nosubnet", ip="172.18.0.9"),
         "invalid config for network nosubnet: invalid endpoint settings:\nuser specified IP "
         "address is supported only when connecting to networks with user configured subnets"),
        (dict(name="web2", network="front", ip="10.99.0.1"),
         "invalid config for network front: invalid endpoint settings:\nno configured subnet "
         "or ip-range contain the IP address 10.99.0.1"),
        (dict(name="web", network="front"), "Conflict. The container name \"/web\" is already "
         "in use by container"),
        (dict(name="x!", network="front"), "Invalid container name (x!), only "
         "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        (dict(name="web3", network="nope"), "network nope not found"),
        (dict(name="web4", network="front", ip="10.62.0.10"), "Address already in use"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DockerError) as caught:
            h1.containers.run(**kwargs)
        assert caught.value.message.startswith(message), kwargs
    assert kernel_state(h1) == before
    assert sorted(c.name for c in h1.containers.list()) == ["web"]


def test_host_and_none_connect_rules(h1):
    on_host = h1.containers.run("hostc", network="host")
    plain = h1.containers.run("plain")
    isolated = h1.containers.run("isol", network="none")
    h1.networks.create("front")
    with pytest.raises(DockerError, match="^container sharing network namespace with another "
                       "container or host cannot be connected to any other network$"):
        h1.networks.get("front").connect(on_host)
    with pytest.raises(DockerError, match="^cannot connect container to host network - "
                       "container must be created in host network mode$"):
        h1.networks.get("host").connect(plain)
    with pytest.raises(DockerError, match=r"^container cannot be connected to multiple networks "
                       r"with one of the networks in private \(none\) mode$"):
        h1.networks.get("front").connect(isolated)
    with pytest.raises(DockerError, match="^cannot disconnect container from host network - "
                       "container was created in host network mode$"):
        h1.networks.get("host").disconnect(on_host)


# -- wrong types through the Engine API (issue 12) ------------------------------------

WRONG_TYPES = [
    ({"Name": "lbl", "Labels": [1]},
     "NetworkCreateRequest.Labels of type map[string]string", "array"),
    ({"Name": "int", "Internal": "no"}, "NetworkCreateRequest.Internal of type bool", "string"),
    ({"Name": 5}, "NetworkCreateRequest.Name of type string", "number"),
]


@pytest.mark.parametrize(("body", "field", "kind"), WRONG_TYPES,
                         ids=[f for _, f, _ in WRONG_TYPES])
def test_a_wrong_typed_network_create_leaves_no_bridge_rules_or_pool(lab, h1, body, field, kind):
    """Finding 3: `{"Name":"lbl","Labels":[1]}` was refused but left a bridge, its nft
    rules and 172.18.0.0/16 allocated."""
    api = docker.APIClient(base_url=lab.docker_host_url("h1"), version="1.45")
    try:
        before = kernel_state(h1)
        refused = api._post(api._url("/networks/create"), data=json.dumps(body),
                            headers={"Content-Type": "application/json"})
        assert (refused.status_code, refused.json()) == (400, {
            "message": f"invalid JSON: json: cannot unmarshal {kind} into Go struct field "
                       f"{field}"})
        assert kernel_state(h1) == before
        assert [n.name for n in h1.networks.list()] == ["none", "host", "bridge"]
    finally:
        api.close()
    assert h1.networks.create("after").inspect()["IPAM"]["Config"][0]["Subnet"] == "172.18.0.0/16"
