"""The topology's `lan` section: defaults, addresses, every problem, render, schema, dry run."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network

import jsonschema
import pytest
import yaml

from emulator.lab.dryrun import check_topology
from emulator.topology import (
    LanHostSpec,
    LanSpec,
    Topology,
    TopologyError,
    export_json_schema,
    load_topology_text,
    read_topology_text,
    topology_from_data,
    topology_to_data,
)
from emulator.topology.model import DhcpSpec

LAN = "198.51.100."


def ip(last: int) -> IPv4Address:
    return IPv4Address(f"{LAN}{last}")


def lab(lan: str = "", hosts: str = "  h1: {}\n  h2: {}\n") -> str:
    """A lab whose `lan:` key is on line 7 when it has the default two hosts; `lan` is the
    section's body, indented by two spaces, or empty for `lan: {}`."""
    section = "lan:\n" + lan if lan else "lan: {}\n"
    return "name: lab\nunderlay:\n  subnet: 192.0.2.0/24\nhosts:\n" + hosts + section


def load(text: str) -> Topology:
    return load_topology_text(text, source="lab.yaml")


def lan_of(text: str) -> LanSpec:
    lan = load(text).lan
    assert lan is not None
    return lan


def problems(text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load(text)
    return str(caught.value).splitlines()


# -- defaults and addresses -------------------------------------------------------------------


def test_defaults() -> None:
    assert lan_of(lab()) == LanSpec(
        subnet=IPv4Network("198.51.100.0/24"),
        router=ip(1),
        mode="promiscuous",
        dhcp=DhcpSpec(ip(100), ip(199), "1h"),
        hosts=(),
        docker_hosts={"h1": ip(11), "h2": ip(12)},
    )


def test_no_lan_section_means_no_lan() -> None:
    text = "name: lab\nhosts:\n  h1: {}\n"
    assert load(text).lan is None
    assert "lan" not in topology_to_data(load(text))


def test_default_pool() -> None:
    dhcp = lan_of(lab()).dhcp
    assert dhcp is not None
    assert ip(100) in dhcp and ip(199) in dhcp
    assert ip(99) not in dhcp and ip(200) not in dhcp
    assert dhcp.size == 100


def test_port_security_mode() -> None:
    assert lan_of(lab("  mode: port-security\n")).mode == "port-security"


@pytest.mark.parametrize("lease", ["10m", "2h", "3600", "infinite"])
def test_lease_time(lease: str) -> None:
    dhcp = lan_of(lab(f"  dhcp:\n    lease: '{lease}'\n")).dhcp
    assert dhcp == DhcpSpec(ip(100), ip(199), lease)


def test_lan_hosts_fixed_or_dhcp_and_docker_hosts_skip_taken_addresses() -> None:
    lan = lan_of(lab(
        "  router: 198.51.100.11\n"
        "  hosts:\n"
        "    vm1:\n"
        "      address: 198.51.100.12\n"
        "    vm2: {}\n"
        "    vm3:\n"
        "      address: 198.51.100.150\n"
    ))
    assert lan.router == ip(11)
    assert lan.hosts == (
        LanHostSpec("vm1", ip(12)),
        LanHostSpec("vm2", None),
        LanHostSpec("vm3", ip(150)),  # inside the pool: a duplicate address staged on purpose
    )
    assert dict(lan.docker_hosts) == {"h1": ip(13), "h2": ip(14)}


def test_docker_hosts_skip_the_dhcp_pool() -> None:
    lan = lan_of(lab("  subnet: 198.51.100.0/28\n  dhcp:\n    range: 198.51.100.2-198.51.100.11\n"))
    assert lan.dhcp == DhcpSpec(ip(2), ip(11), "1h")
    assert dict(lan.docker_hosts) == {"h1": ip(12), "h2": ip(13)}


def test_other_subnet_router_and_pool() -> None:
    lan = lan_of(lab(
        "  subnet: 10.20.0.0/16\n"
        "  router: 10.20.0.254\n"
        "  dhcp:\n"
        "    range: 10.20.1.0-10.20.1.255\n"
    ))
    assert lan.subnet == IPv4Network("10.20.0.0/16")
    assert lan.router == IPv4Address("10.20.0.254")
    assert lan.dhcp == DhcpSpec(IPv4Address("10.20.1.0"), IPv4Address("10.20.1.255"), "1h")
    assert dict(lan.docker_hosts) == {"h1": IPv4Address("10.20.0.11"),
                                      "h2": IPv4Address("10.20.0.12")}


# -- problems ----------------------------------------------------------------------------------


def test_bad_mode_lists_the_choices() -> None:
    [problem] = problems(lab("  mode: hub\n"))
    assert problem.startswith("lab.yaml:8: lan.mode: invalid value 'hub'; allowed: ")
    allowed = problem.split("allowed: ", 1)[1]
    assert "promiscuous" in allowed and "port-security" in allowed


@pytest.mark.parametrize("subnet", ["192.0.2.0/25", "192.0.0.0/16", "192.0.2.64/26"])
def test_subnet_overlapping_the_underlay(subnet: str) -> None:
    assert problems(lab(f"  subnet: {subnet}\n")) == [
        f"lab.yaml:8: lan.subnet: {subnet} overlaps the underlay subnet 192.0.2.0/24; "
        "allowed: a LAN subnet apart from the underlay's"
    ]


def test_subnet_syntax() -> None:
    assert problems(lab("  subnet: 198.51.100.5/24\n")) == [
        "lab.yaml:8: lan.subnet: '198.51.100.5/24' has host bits set "
        "(did you mean '198.51.100.0/24'?)"
    ]


@pytest.mark.parametrize("router", ["10.0.0.1", "198.51.100.0", "198.51.100.255"])
def test_router_outside_the_subnet(router: str) -> None:
    assert problems(lab(f"  router: {router}\n")) == [
        f"lab.yaml:8: lan.router: {router} is not a usable address of the LAN subnet "
        "198.51.100.0/24; allowed: 198.51.100.1 to 198.51.100.254"
    ]


def test_pool_reversed() -> None:
    assert problems(lab("  dhcp:\n    range: 198.51.100.199-198.51.100.100\n")) == [
        "lab.yaml:9: lan.dhcp.range: the pool starts at 198.51.100.199, after its end "
        "198.51.100.100"
    ]


@pytest.mark.parametrize("pool", ["198.51.100.100-198.51.101.10", "10.0.0.1-198.51.100.10",
                                  "198.51.100.0-198.51.100.10"])
def test_pool_outside_the_subnet(pool: str) -> None:
    [problem] = problems(lab(f"  dhcp:\n    range: {pool}\n"))
    assert problem.startswith("lab.yaml:9: lan.dhcp.range: ")
    assert problem.endswith(" is not a usable address of the LAN subnet 198.51.100.0/24; "
                            "allowed: 198.51.100.1 to 198.51.100.254")


def test_pool_holding_the_router() -> None:
    assert problems(lab("  dhcp:\n    range: 198.51.100.1-198.51.100.50\n")) == [
        "lab.yaml:9: lan.dhcp.range: the pool holds the router's address 198.51.100.1"
    ]
    assert problems(lab("  router: 198.51.100.120\n  dhcp:\n    range: "
                        "198.51.100.100-198.51.100.199\n")) == [
        "lab.yaml:10: lan.dhcp.range: the pool holds the router's address 198.51.100.120"
    ]


def test_duplicate_lan_host_address() -> None:
    text = lab(
        "  hosts:\n"
        "    vm1:\n"
        "      address: 198.51.100.20\n"
        "    vm2:\n"
        "      address: 198.51.100.20\n"
    )
    assert problems(text) == [
        "lab.yaml:12: lan.hosts.vm2.address: 198.51.100.20 is already LAN host 'vm1'"
    ]


def test_lan_host_at_the_router_address() -> None:
    assert problems(lab("  hosts:\n    vm1:\n      address: 198.51.100.1\n")) == [
        "lab.yaml:10: lan.hosts.vm1.address: 198.51.100.1 is the router's address"
    ]


def test_lan_host_outside_the_subnet() -> None:
    assert problems(lab("  hosts:\n    vm1:\n      address: 10.0.0.5\n")) == [
        "lab.yaml:10: lan.hosts.vm1.address: 10.0.0.5 is not a usable address of the LAN "
        "subnet 198.51.100.0/24; allowed: 198.51.100.1 to 198.51.100.254"
    ]


@pytest.mark.parametrize(("name", "what"), [("h1", "a Docker host"), ("h2", "a Docker host"),
                                            ("router", "the router host"),
                                            ("outside", "the outside host")])
def test_lan_host_names_already_taken(name: str, what: str) -> None:
    assert problems(lab(f"  hosts:\n    {name}: {{}}\n")) == [
        f"lab.yaml:9: lan.hosts.{name}: '{name}' is already the name of {what}"
    ]


def test_subnet_too_small() -> None:
    assert problems(lab("  subnet: 198.51.100.0/30\n")) == [
        "lab.yaml:8: lan.subnet: /30 leaves no room for a router, hosts and a pool; "
        "allowed: a prefix length of /29 or shorter"
    ]


def test_default_pool_must_fit() -> None:
    assert problems(lab("  subnet: 198.51.100.0/28\n")) == [
        "lab.yaml:7: lan.dhcp: the default pool .100-.199 does not fit in 198.51.100.0/28; "
        "allowed: give dhcp.range"
    ]


def test_no_address_left_for_a_docker_host() -> None:
    assert problems(lab("  dhcp:\n    range: 198.51.100.2-198.51.100.254\n")) == [
        "lab.yaml:7: lan.subnet: no LAN address left in 198.51.100.0/24 for Docker host "
        "'h1'; allowed: a wider LAN subnet, a smaller DHCP pool"
    ]


def test_every_problem_reported_at_once() -> None:
    text = lab(
        "  router: 10.0.0.1\n"
        "  mode: hub\n"
        "  hosts:\n"
        "    h1: {}\n"
    )
    lines = problems(text)
    assert [line.split(": ", 2)[:2] for line in lines] == [
        ["lab.yaml:8", "lan.router"],
        ["lab.yaml:9", "lan.mode"],
        ["lab.yaml:11", "lan.hosts.h1"],
    ]


def test_smallest_allowed_subnet_holds_a_docker_host() -> None:
    lan = lan_of(lab("  subnet: 198.51.100.0/29\n  dhcp:\n    range: 198.51.100.2-198.51.100.3\n",
                     hosts="  h1: {}\n"))
    address = lan.docker_hosts["h1"]
    assert address in lan.subnet and address != lan.router
    assert lan.dhcp is not None and address not in lan.dhcp


def test_router_inside_the_default_pool() -> None:
    text = lab("  router: 198.51.100.150\n")
    try:
        topology = load(text)
    except TopologyError as error:
        assert "the default pool .100-.199 holds the router's address 198.51.100.150" in str(error)
        return
    assert topology.lan is not None and topology.lan.dhcp is not None
    assert topology.lan.router not in topology.lan.dhcp
    assert topology_from_data(topology_to_data(topology)) == topology


# -- render, schema ------------------------------------------------------------------------------


FULL = lab(
    "  subnet: 203.0.113.0/24\n"
    "  router: 203.0.113.254\n"
    "  mode: port-security\n"
    "  dhcp:\n"
    "    range: 203.0.113.50-203.0.113.99\n"
    "    lease: 10m\n"
    "  hosts:\n"
    "    vm1:\n"
    "      address: 203.0.113.20\n"
    "    vm2: {}\n"
)


@pytest.mark.parametrize("text", [lab(), FULL, lab("  hosts:\n    vm1: {}\n")])
def test_render_then_load_gives_an_equal_topology(text: str) -> None:
    topology = load(text)
    data = topology_to_data(topology)
    assert topology_from_data(data) == topology
    assert load_topology_text(yaml.safe_dump(data)) == topology


def test_render_makes_every_default_explicit() -> None:
    assert topology_to_data(load(lab()))["lan"] == {
        "subnet": "198.51.100.0/24",
        "router": "198.51.100.1",
        "mode": "promiscuous",
        "dhcp": {"range": "198.51.100.100-198.51.100.199", "lease": "1h"},
        "hosts": {},
    }
    assert topology_to_data(load(FULL))["lan"]["hosts"] == {
        "vm1": {"address": "203.0.113.20"}, "vm2": {}}


def test_exported_schema_describes_the_lan() -> None:
    schema = json.loads(export_json_schema())
    assert schema["properties"]["lan"] == {"$ref": "#/$defs/lan"}
    lan = schema["$defs"]["lan"]
    assert set(lan["properties"]) == {"subnet", "router", "mode", "dhcp", "hosts"}
    assert lan["additionalProperties"] is False
    assert set(lan["properties"]["dhcp"]["properties"]) == {"range", "lease"}
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load(FULL)
    assert list(validator.iter_errors(good)) == []
    for bad in ({"mode": "hub"}, {"vlan": 10}, {"dhcp": {"range": "all"}},
                {"dhcp": {"lease": "1d"}}, {"hosts": {"VM1": {}}}):
        assert list(validator.iter_errors({**good, "lan": bad})), bad


def test_unknown_lan_key_refused_by_the_loader() -> None:
    assert problems(lab("  vlan: 10\n")) == [
        "lab.yaml:8: lan.vlan: unknown field; allowed: subnet, router, mode, dhcp, hosts"
    ]


# -- dry run -----------------------------------------------------------------------------------


MACVLAN_HOST = """\
name: lab
hosts:
  h1:
    networks:
      lan:
        driver: macvlan
        subnet: 198.51.100.0/24
        gateway: 198.51.100.1
        ip_range: 198.51.100.32/28
        options: {parent: eth1}
    containers:
      web:
        network: lan
"""


def test_dry_run_accepts_a_macvlan_network_on_the_lan_nic() -> None:
    check_topology(read_topology_text(MACVLAN_HOST + "lan: {}\n", source="lab.yaml"))


def test_dry_run_without_a_lan_has_no_eth1() -> None:
    with pytest.raises(TopologyError) as caught:
        check_topology(read_topology_text(MACVLAN_HOST, source="lab.yaml"))
    lines = str(caught.value).splitlines()
    assert lines[0] == ("lab.yaml:5: hosts.h1.networks.lan: invalid subinterface vlan name "
                        "eth1, example formatting is eth0.10")
    assert lines[1:] == ["lab.yaml:12: hosts.h1.containers.web: network lan not found"]
