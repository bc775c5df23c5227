"""The topology file: the default, the full example, and errors reported all at once."""

from __future__ import annotations

import json
from importlib import resources
from ipaddress import IPv4Address, IPv4Network

import jsonschema
import pytest
import yaml

from emulator.cli import PACKAGED_TOPOLOGIES
from emulator.topology import (
    Attachment,
    ContainerSpec,
    NetworkSpec,
    TopologyError,
    default_topology,
    export_json_schema,
    load_topology_text,
    read_topology_text,
)

FULL_EXAMPLE = """\
name: default
underlay:
  subnet: 192.0.2.0/24
outside:
  address: 192.0.2.254
hosts:
  h1:
    address: 192.0.2.11
    networks:
      front:
        driver: bridge
        subnet: 10.10.0.0/24
        gateway: 10.10.0.1
        ip_range: 10.10.0.128/25
        aux_addresses: {router: 10.10.0.2}
        internal: false
        attachable: false
        options: {com.docker.network.bridge.enable_icc: "false"}
        labels: {team: a}
      back: {}
    containers:
      web:
        networks:
          front: {ip: 10.10.0.5, aliases: [www]}
          back: {}
        hostname: web
        command: [sleep, infinity]
      db:
        network: back
      cache:
        networks: [front, back]
      plain: {}
  h2: {}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load_topology_text(text, source="lab.yaml")
    return str(caught.value).splitlines()


def test_default_topology_resolves_addresses() -> None:
    topology = default_topology()
    assert topology.name == "default"
    assert topology.underlay.subnet == IPv4Network("192.0.2.0/24")
    assert topology.outside.address == IPv4Address("192.0.2.254")
    assert [(h.name, str(h.address)) for h in topology.hosts] == [
        ("h1", "192.0.2.11"),
        ("h2", "192.0.2.12"),
    ]
    assert all(not h.networks and not h.containers for h in topology.hosts)


@pytest.mark.parametrize("name", sorted(PACKAGED_TOPOLOGIES))
def test_packaged_topologies_load(name: str) -> None:
    package, path = PACKAGED_TOPOLOGIES[name]
    topology = load_topology_text(resources.files(package).joinpath(path).read_text())
    assert [h.name for h in topology.hosts] == ["h1", "h2"]


def test_default_outside_is_last_usable_address() -> None:
    topology = load_topology_text("name: lab\nunderlay: {subnet: 10.0.0.0/16}\nhosts: {h1: {}}\n")
    assert topology.outside.address == IPv4Address("10.0.255.254")
    assert topology.hosts[0].address == IPv4Address("10.0.0.11")


def test_full_example_resolves() -> None:
    h1 = load_topology_text(FULL_EXAMPLE).hosts[0]
    assert h1.networks == (
        NetworkSpec(
            "front",
            subnet="10.10.0.0/24",
            gateway="10.10.0.1",
            ip_range="10.10.0.128/25",
            aux_addresses={"router": "10.10.0.2"},
            options={"com.docker.network.bridge.enable_icc": "false"},
            labels={"team": "a"},
        ),
        NetworkSpec("back"),
    )
    assert h1.containers == (
        ContainerSpec(
            "web",
            (Attachment("front", "10.10.0.5", ("www",)), Attachment("back")),
            hostname="web",
            command=("sleep", "infinity"),
        ),
        ContainerSpec("db", (Attachment("back"),)),
        ContainerSpec("cache", (Attachment("front"), Attachment("back"))),
        ContainerSpec("plain", (Attachment("bridge"),)),
    )


def test_yaml_scalars_in_options_and_labels_become_docker_strings() -> None:
    text = FULL_EXAMPLE.replace(
        '{com.docker.network.bridge.enable_icc: "false"}',
        "{enable_icc: false, icc2: no, mtu: 1500, ratio: 0.5, name: x}",
    ).replace("{team: a}", "{version: 2, beta: true}")
    front = load_topology_text(text).hosts[0].networks[0]
    assert dict(front.options) == {
        "enable_icc": "false",
        "icc2": "false",
        "mtu": "1500",
        "ratio": "0.5",
        "name": "x",
    }
    assert dict(front.labels) == {"version": "2", "beta": "true"}


def test_duplicate_key_is_rejected_with_its_line() -> None:
    text = "name: lab\nunderlay: {subnet: 192.0.2.0/24}\nhosts:\n  h1: {}\n  h1: {}\n"
    assert problems_of(text) == ["lab.yaml:5: hosts.h1: duplicate key 'h1' (first at line 4)"]


def test_duplicate_container_on_one_host_is_rejected() -> None:
    text = FULL_EXAMPLE.replace("      plain: {}\n", "      plain: {}\n      db: {}\n")
    assert problems_of(text) == [
        "lab.yaml:33: hosts.h1.containers.db: duplicate key 'db' (first at line 28)"
    ]


def test_unknown_field_lists_the_allowed_ones() -> None:
    text = "name: lab\nunderlay: {subnet: 192.0.2.0/24}\nhosts:\n  h1:\n    adress: 192.0.2.5\n"
    assert problems_of(text) == [
        "lab.yaml:5: hosts.h1.adress: unknown field (did you mean 'address'?); "
        "allowed: engine, address, address6, networks, containers, ipv6, fixed-cidr-v6"
    ]


def test_every_problem_is_reported_together_in_file_order() -> None:
    text = """\
name: Lab
underlay:
  subnet: 192.0.2.0/24
  vlan: 5
hosts:
  h1:
    address: 192.0.3.1
    networks:
      front:
        options: {com.docker.network.bridge.name: br-much-too-long}
    containers:
      web: {network: fron, command: sleep}
  h2: {address: 192.0.2.254}
"""
    assert problems_of(text) == [
        "lab.yaml:1: name: invalid value 'Lab'; "
        "allowed: 1 to 8 characters: a lowercase letter, then lowercase letters or digits",
        "lab.yaml:4: underlay.vlan: unknown field; allowed: subnet, mtu, subnet6, advertise",
        "lab.yaml:7: hosts.h1.address: 192.0.3.1 is not in the underlay subnet 192.0.2.0/24; "
        "allowed: 192.0.2.1 to 192.0.2.254",
        'lab.yaml:10: hosts.h1.networks.front.options["com.docker.network.bridge.name"]: '
        "interface name 'br-much-too-long' is 16 bytes long; "
        "allowed: 1 to 15 bytes (kernel IFNAMSIZ), without '/', ':' or whitespace",
        "lab.yaml:12: hosts.h1.containers.web.command: must be a list; got the string 'sleep'",
        "lab.yaml:12: hosts.h1.containers.web.network: unknown network 'fron' "
        "(did you mean 'front'?); allowed: front, bridge, host, none",
        "lab.yaml:13: hosts.h2.address: 192.0.2.254 is the outside host's address "
        "(by default, the last usable address); allowed: another address, "
        "a different outside.address",
    ]


def test_error_keeps_the_problems_as_data() -> None:
    with pytest.raises(TopologyError) as caught:
        load_topology_text("name: lab\nunderlay: {subnet: 192.0.2.0/24}\nhosts: {h1: {x: 1}}\n")
    (problem,) = caught.value.problems
    assert (problem.source, problem.line, problem.path) == ("<string>", 3, ("hosts", "h1", "x"))
    assert problem.allowed == ("engine", "address", "address6", "networks", "containers", "ipv6",
                               "fixed-cidr-v6")
    assert isinstance(caught.value, ValueError)


def test_exported_schema_is_valid_and_accepts_the_examples() -> None:
    schema = json.loads(export_json_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    packaged = [resources.files(package).joinpath(path).read_text()
                for package, path in PACKAGED_TOPOLOGIES.values()]
    for text in (*packaged, FULL_EXAMPLE):
        validator.validate(yaml.safe_load(text))


def test_exported_schema_rejects_what_the_loader_rejects() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(export_json_schema()))
    data = yaml.safe_load(FULL_EXAMPLE)
    data["hosts"]["h1"]["containers"]["web"]["network"] = "front"
    assert not validator.is_valid(data)
    data = yaml.safe_load(FULL_EXAMPLE)
    data["hosts"]["h1"]["surprise"] = True
    assert not validator.is_valid(data)


def test_sourced_topology_points_later_problems_at_their_lines() -> None:
    sourced = read_topology_text(FULL_EXAMPLE, source="lab.yaml")
    assert sourced.topology == load_topology_text(FULL_EXAMPLE)
    problem = sourced.problem(("hosts", "h1", "networks", "front"), "Pool overlaps", ["x"])
    assert str(problem) == "lab.yaml:10: hosts.h1.networks.front: Pool overlaps; allowed: x"
    assert sourced.problem(("hosts", "h9"), "gone").line == 6


def test_dual_stack_network_keys_reach_the_network_request() -> None:
    from emulator.ipam import IpamConfig
    from emulator.lab.dryrun import network_request

    text = ("name: lab\nunderlay: {subnet: 192.0.2.0/24}\nhosts:\n  h1:\n    networks:\n"
            "      front: {subnet: 10.11.0.0/24, ipv6: true, subnet6: 'fd00:11::/64'}\n"
            "      only6: {ipv6: true, ipv4: false, subnet6: 'fd00:66::/64', "
            "gateway6: 'fd00:66::fe'}\n      plain: {subnet: 10.12.0.0/24}\n")
    front, only6, plain = load_topology_text(text).hosts[0].networks
    assert (front.ipv6, front.ipv4, front.subnet6) == (True, True, "fd00:11::/64")
    request = network_request(front)
    assert request.enable_ipv6 is True and request.enable_ipv4 is None
    assert request.ipam_configs() == (IpamConfig("10.11.0.0/24", None, None, {}),
                                      IpamConfig("fd00:11::/64", None, None, {}))
    request = network_request(only6)
    assert request.enable_ipv4 is False
    assert request.ipam_configs() == (IpamConfig("fd00:66::/64", None, "fd00:66::fe", {}),)
    request = network_request(plain)
    assert request.enable_ipv6 is None
    assert request.ipam_configs() == (IpamConfig("10.12.0.0/24", None, None, {}),)
