"""The fake fabric's nftables table refuses what nft refuses, and all or nothing."""

from __future__ import annotations

import pytest

from emulator.drivers.hostfirewall import SKELETON
from emulator.fabric.fakenft import FakeTable, NftRefused


@pytest.fixture
def table() -> FakeTable:
    loaded = FakeTable()
    loaded.load(SKELETON + 'add element inet cnm bridges { "docker0" }\n')
    return loaded


@pytest.mark.parametrize("transaction, refusal", [
    ('delete element inet cnm bridges { "br-x" }\n', "element does not exist"),
    ('add element inet cnm nosuch { "br-x" }\n', "set nosuch does not exist"),
    ("add rule inet cnm nosuch drop\n", "chain nosuch does not exist"),
    ("delete set inet cnm bridges\n", "belongs to the table's block"),
])
def test_a_refused_transaction_changes_nothing(table: FakeTable, transaction: str,
                                               refusal: str) -> None:
    before = table.render()
    with pytest.raises(NftRefused, match=refusal):
        table.apply('add element inet cnm bridges { "br-y" }\n' + transaction)
    assert table.render() == before


def test_no_change_without_a_loaded_table() -> None:
    with pytest.raises(NftRefused, match="not loaded"):
        FakeTable().apply('add element inet cnm bridges { "br-x" }\n')


def test_a_statement_the_firewall_never_writes_is_an_error(table: FakeTable) -> None:
    with pytest.raises(ValueError, match="does not know"):
        table.apply("flush ruleset\n")


def test_a_family_comes_and_goes(table: FakeTable) -> None:
    before = table.render()
    table.apply("add set inet cnm subnets_24 { type ipv4_addr; }\n"
                "add rule inet cnm drop_to_subnets ip daddr & 255.255.255.0 @subnets_24 drop\n"
                "add element inet cnm subnets_24 { 10.1.0.0 }\n")
    assert "add element inet cnm subnets_24 { 10.1.0.0 }" in table.render()
    table.apply("flush chain inet cnm drop_to_subnets\n"
                "delete element inet cnm subnets_24 { 10.1.0.0 }\n"
                "delete set inet cnm subnets_24\n")
    assert table.render() == before
