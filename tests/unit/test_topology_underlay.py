"""Underlay addressing: defaults, automatic host addresses, and the conflicts refused."""

from __future__ import annotations

import pytest

from emulator.topology import TopologyError, load_topology_text


def lab(subnet: str = "192.0.2.0/24", outside: str = "", hosts: str = "h1: {}") -> str:
    outside_part = f"outside: {{address: {outside}}}\n" if outside else ""
    return f"name: lab\nunderlay: {{subnet: {subnet}}}\n{outside_part}hosts: {{{hosts}}}\n"


def addresses(text: str) -> dict[str, str]:
    topology = load_topology_text(text)
    return {"outside": str(topology.outside.address)} | {
        host.name: str(host.address) for host in topology.hosts
    }


def problems(text: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        load_topology_text(text, source="t")
    return [f"{p.path and p.path[-1]}: {p.message}" for p in caught.value.problems]


def test_hosts_take_free_addresses_from_11_skipping_given_ones() -> None:
    text = lab(hosts="h1: {}, h2: {address: 192.0.2.12}, h3: {}, h4: {address: 192.0.2.3}")
    assert addresses(text) == {
        "outside": "192.0.2.254",
        "h1": "192.0.2.11",
        "h2": "192.0.2.12",
        "h3": "192.0.2.13",
        "h4": "192.0.2.3",
    }


def test_automatic_addresses_skip_the_outside_host() -> None:
    text = lab(subnet="192.0.2.0/28", hosts="h1: {}, h2: {}, h3: {}, h4: {}")
    assert addresses(text) == {
        "outside": "192.0.2.14",
        "h1": "192.0.2.11",
        "h2": "192.0.2.12",
        "h3": "192.0.2.13",
        "h4": "192.0.2.1",
    }


def test_small_subnet_starts_at_the_first_usable_address() -> None:
    assert addresses(lab(subnet="198.51.100.8/30")) == {
        "outside": "198.51.100.10",
        "h1": "198.51.100.9",
    }


def test_running_out_of_addresses_names_the_host() -> None:
    text = lab(subnet="198.51.100.8/30", hosts="h1: {}, h2: {}")
    assert problems(text) == ["h2: no free underlay address left in 198.51.100.8/30"]


def test_subnet_problems() -> None:
    assert problems(lab(subnet="192.0.2.1/24")) == [
        "subnet: '192.0.2.1/24' has host bits set (did you mean '192.0.2.0/24'?)"
    ]
    assert problems(lab(subnet="192.0.2.0/31")) == [
        "subnet: /31 leaves no room for a Docker host and the outside host"
    ]
    for bad in ("192.0.2.0", "192.0.2.0/33", "lan"):
        assert problems(lab(subnet=bad)) == [f"subnet: invalid network {bad!r}"]
    assert problems(lab(subnet="2001:db8::/64")) == [
        "subnet: '2001:db8::/64' is an IPv6 network: an IPv6-only underlay is not implemented"
    ]


def test_address_problems() -> None:
    text = lab(
        outside="192.0.2.255",
        hosts="h1: {address: 192.0.2.0}, h2: {address: 10.0.0.1}, h3: {address: 192.0.2.300},"
        " h4: {address: '2001:db8::1'}",
    )
    assert sorted(problems(text)) == [
        "address: '2001:db8::1' is not an IPv4 address",
        "address: 10.0.0.1 is not in the underlay subnet 192.0.2.0/24",
        "address: 192.0.2.0 is the network address of 192.0.2.0/24",
        "address: 192.0.2.255 is the broadcast address of 192.0.2.0/24",
        "address: invalid IPv4 address '192.0.2.300'",
    ]


def test_duplicate_and_outside_addresses_are_refused() -> None:
    text = lab(
        outside="192.0.2.1",
        hosts="h1: {address: 192.0.2.5}, h2: {address: 192.0.2.5}, h3: {address: 192.0.2.1}",
    )
    assert problems(text) == [
        "address: 192.0.2.5 is already the address of host 'h1'",
        "address: 192.0.2.1 is the outside host's address",
    ]
