"""macvlan-conflicts' IPv6 section on a real lab: Docker's NODAD addresses on a LAN with
SLAAC, the duplicates they make, and the project's probes finding them.

One lab (the section's own): a LAN router advertising 2001:db8:100::/64, LAN hosts
with a static and SLAAC addresses, a dual-stack macvlan network whose containers take
(--ip6) a LAN host's static address, a LAN host's SLAAC address, and the SLAAC
address of a LAN host that comes up later.
"""

from __future__ import annotations

import secrets

import pytest

from emulator.experiments import dad_lab as dl
from emulator.experiments import macvlan_dad as md
from emulator.probes.rfc4862 import Timings6

FAST = Timings6(max_delay=0.05, transmits=2, retrans=0.3)


@pytest.fixture(scope="module")
def section() -> md.DadSection:
    return md.measure("v6d" + secrets.token_hex(2), timings=FAST, rounds=6)


@pytest.mark.parametrize("case", md.DUPLICATES)
def test_a_static_ip6_on_a_lan_address_is_a_duplicate_the_kernel_lets_be(section, case):
    c = section.case(case)
    container, lan_host = c.holder("container"), c.holder("lan-host")
    assert container is not None and lan_host is not None
    assert (container.origin, container.state) == ("static-nodad", "usable")  # no DAD run
    assert lan_host.state == "usable"  # and the LAN host was not told either
    assert set(c.scan_macs) == c.macs() and len(c.scan_macs) == 2  # the NDP scan sees both
    assert c.dad.conflict and set(c.dad.macs) == c.macs()  # so does RFC 4862 DAD
    assert len(c.rounds) == 6 and all(r.mac in c.macs() for r in c.rounds)


def test_a_lan_host_coming_up_later_loses_its_slaac_address_to_the_container(section):
    c = section.case("slaac-after-static")
    assert c.address == dl.eui64(dl.LAN_PREFIX6, c.holder("lan-host").owner.mac)
    assert c.holder("lan-host").state == "dadfailed"
    assert c.holder("container").state == "usable"
    assert len(c.scan_macs) == 1 and c.dad.conflict and len(c.dad.macs) == 1


def test_a_dual_stack_macvlan_container_also_takes_slaac_from_the_lan(section):
    c = section.case("container-slaac")
    holder = c.holder("container")
    assert holder is not None and (holder.origin, holder.state) == ("slaac", "usable")
    assert c.address in dl.LAN_PREFIX6 and len(c.scan_macs) == 1
    assert dict(section.ra_settings) == {"accept_ra": "1", "autoconf": "1"}  # as Docker leaves


def test_the_scan_finds_exactly_the_duplicates_and_every_check_passes(section):
    assert section.score.injected == 2 and section.score.exact
    assert section.slaac_range  # the /72 --ip-range holds the LAN's SLAAC addresses
    control = section.case("ipam-dynamic")  # ::2 from IPAM: in use by its one owner
    assert control.dad.conflict and len(control.dad.macs) == 1 and len(control.scan_macs) == 1
    failed = [c for c in md.checks(section) if not c.ok]
    assert not failed, failed
