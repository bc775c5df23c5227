"""Probe addresses may be written as text, as the README's examples do: "10.0.0.5" is
the IPv4Address it names, and text that names no address is refused by name before
any socket is opened."""

from __future__ import annotations

import os
from ipaddress import AddressValueError, IPv4Address

import pytest

from emulator.probes import ProbeTarget
from emulator.probes.conflicts import scan_conflicts
from emulator.probes.rfc5227 import probe_address


def test_a_probe_target_takes_its_address_as_text() -> None:
    assert ProbeTarget("web", 1, "10.0.0.5") == ProbeTarget("web", 1, IPv4Address("10.0.0.5"))
    assert ProbeTarget("src", 1, None).address is None


def test_text_that_is_no_address_is_refused_by_name() -> None:
    with pytest.raises(AddressValueError, match="10.0.0.300"):
        scan_conflicts(os.getpid(), "lo", ["10.0.0.1", "10.0.0.300"])
    with pytest.raises(AddressValueError, match="nonsense"):
        probe_address(os.getpid(), "lo", "nonsense")
