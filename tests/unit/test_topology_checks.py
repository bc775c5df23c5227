"""Checks on networks and containers: references, syntax, names and interface limits."""

from __future__ import annotations

import pytest

from emulator.topology import NetworkSpec, TopologyError, load_topology_text, topology_from_data


def host(**fields: object) -> dict[str, object]:
    return {"name": "lab", "underlay": {"subnet": "192.0.2.0/24"}, "hosts": {"h1": fields}}


def problems(data: object) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        topology_from_data(data)
    return [str(p).removeprefix("<data>: ") for p in caught.value.problems]


def test_problems_from_python_data_have_paths_but_no_lines() -> None:
    assert problems(host(networks={"a": {"driver": 1}})) == [
        "hosts.h1.networks.a.driver: must be a string; got the number 1 "
        "(quote it to make it a string)"
    ]


def test_predefined_networks_need_no_declaration() -> None:
    containers = {f"c{name}": {"network": name} for name in ("bridge", "host", "none")}
    topology = topology_from_data(host(containers=containers))
    assert [c.attachments[0].network for c in topology.hosts[0].containers] == [
        "bridge",
        "host",
        "none",
    ]


def test_unknown_networks_are_named_in_every_form() -> None:
    data = host(
        networks={"front": {}},
        containers={
            "a1": {"network": "back"},
            "a2": {"networks": ["front", "back"]},
            "a3": {"networks": {"back": {"ip": "10.0.0.2"}}},
        },
    )
    allowed = "allowed: front, bridge, host, none"
    assert problems(data) == [
        f"hosts.h1.containers.a1.network: unknown network 'back'; {allowed}",
        f"hosts.h1.containers.a2.networks[1]: unknown network 'back'; {allowed}",
        f"hosts.h1.containers.a3.networks.back: unknown network 'back'; {allowed}",
    ]


def test_network_address_syntax_is_checked_but_not_ipam_meaning() -> None:
    good = {"subnet": "10.1.0.5/16", "gateway": "10.9.9.9", "ip_range": "fd00::/64"}
    assert topology_from_data(host(networks={"n": good})).hosts[0].networks == (
        NetworkSpec("n", **good),
    )
    bad = {
        "subnet": "10.1.0.0/255.255.0.0",
        "gateway": "10.1.0.256",
        "ip_range": "10.1.0.0",
        "aux_addresses": {"r": "router"},
    }
    assert [p.split(":")[0] for p in problems(host(networks={"n": bad}))] == [
        "hosts.h1.networks.n.subnet",
        "hosts.h1.networks.n.ip_range",
        "hosts.h1.networks.n.gateway",
        "hosts.h1.networks.n.aux_addresses.r",
    ]


def test_container_ip_syntax_is_checked() -> None:
    data = host(containers={"web": {"networks": {"bridge": {"ip": "10.0.0.300"}}}})
    assert problems(data) == [
        "hosts.h1.containers.web.networks.bridge.ip: invalid IP address '10.0.0.300'; "
        "allowed: e.g. 10.10.0.5 or 2001:db8::5"
    ]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("br-front", True),
        ("x" * 15, True),
        ("x" * 16, False),
        ("a/b", False),
        ("a b", False),
        ("..", False),
        ("", False),
    ],
)
def test_interface_names_in_options_are_held_to_the_kernel_limit(name: str, ok: bool) -> None:
    for option in ("com.docker.network.bridge.name", "parent"):
        data = host(networks={"n": {"options": {option: name}}})
        if ok:
            assert topology_from_data(data).hosts[0].networks[0].options[option] == name
        else:
            assert len(problems(data)) == 1


@pytest.mark.parametrize("driver", ["bridge", "host", "null", "macvlan", "overlay", "weave.net-2"])
def test_built_in_and_plugin_drivers_are_accepted(driver: str) -> None:
    data = host(networks={"n": {"driver": driver}})
    assert topology_from_data(data).hosts[0].networks[0].driver == driver


def test_names_follow_their_patterns() -> None:
    data = {
        "name": "toolongname",
        "underlay": {"subnet": "192.0.2.0/24"},
        "hosts": {
            "1h": {},
            "h1": {"networks": {"-x": {}}, "containers": {"w": {}, "ok\n": {}, "ok.2": {}}},
        },
    }
    assert [p.split(";")[0] for p in problems(data)] == [
        "name: invalid value 'toolongname'",
        "hosts.1h: invalid name '1h'",
        "hosts.h1.networks.-x: invalid name '-x'",
        "hosts.h1.containers.w: invalid name 'w'",
        "hosts.h1.containers[\"ok\\n\"]: invalid name 'ok\\n'",
    ]


def test_network_and_networks_exclude_each_other() -> None:
    data = host(containers={"web": {"network": "bridge", "networks": ["host"]}})
    assert problems(data) == ["hosts.h1.containers.web: give only one of 'network' and 'networks'"]


@pytest.mark.parametrize(
    ("networks", "expected"),
    [
        ([], "hosts.h1.containers.web.networks: must not be empty"),
        ({}, "hosts.h1.containers.web.networks: must not be empty"),
        (
            ["bridge", "bridge"],
            "hosts.h1.containers.web.networks[1]: 'bridge' is listed more than once",
        ),
        (
            "bridge",
            "hosts.h1.containers.web.networks: must be a list or a mapping; "
            "got the string 'bridge'",
        ),
    ],
)
def test_networks_forms(networks: object, expected: str) -> None:
    assert problems(host(containers={"web": {"networks": networks}})) == [expected]


def test_hosts_must_not_be_empty_and_top_fields_are_required() -> None:
    assert problems({"hosts": {}}) == [
        "hosts: must not be empty",
        "(top level): missing required field 'name'",
    ]


def test_underlay_and_outside_have_defaults() -> None:
    from emulator.topology import topology_from_data

    topology = topology_from_data({"name": "lab", "hosts": {"h1": {}}})
    assert str(topology.underlay.subnet) == "192.0.2.0/24"
    assert str(topology.outside.address) == "192.0.2.254"
    assert str(topology.hosts[0].address) == "192.0.2.11"


def test_outside_is_not_a_docker_host_name() -> None:
    data = {"name": "lab", "underlay": {"subnet": "192.0.2.0/24"}, "hosts": {"outside": {}}}
    assert problems(data) == [
        "hosts.outside: 'outside' is the name of the host standing in for the internet"
    ]


def test_hostname_length_is_the_kernel_limit() -> None:
    data = host(containers={"web": {"hostname": "h" * 65}})
    assert problems(data) == [
        "hosts.h1.containers.web.hostname: is 65 characters long; allowed: at most 64 characters"
    ]


def test_option_keys_with_dots_are_quoted_in_paths() -> None:
    text = (
        "name: lab\nunderlay: {subnet: 192.0.2.0/24}\nhosts:\n  h1:\n    networks:\n"
        "      my.net:\n        labels: {a.b: [1]}\n"
    )
    with pytest.raises(TopologyError) as caught:
        load_topology_text(text)
    assert str(caught.value) == (
        '<string>:7: hosts.h1.networks["my.net"].labels["a.b"]: '
        "must be a string, a number or true or false; got a list"
    )
