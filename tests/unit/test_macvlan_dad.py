"""macvlan-conflicts' IPv6 section: SLAAC addresses, RAs, kernel flags, checks and rows."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest

from emulator.experiments import conflict_lab as cl
from emulator.experiments import dad_lab as dl
from emulator.experiments import macvlan_conflicts as mc
from emulator.experiments import macvlan_dad as md
from emulator.experiments.results import RunContext
from emulator.probes.conflicts import Answer, ConflictScan, find_conflicts
from emulator.probes.ndp import IFA_F_DADFAILED, IFA_F_TENTATIVE
from emulator.probes.rfc5227 import DadResult

PREFIX = IPv6Network("2001:db8:100::/64")
NAS_MAC, CONTAINER_MAC, VM_MAC = "02:4c:07:32:f3:c6", "b6:16:ba:41:99:63", "02:4c:f0:c9:93:ec"


def test_eui64_flips_the_universal_local_bit_and_inserts_fffe():
    assert dl.eui64(PREFIX, "02:4c:f0:c9:93:ec") == IPv6Address("2001:db8:100:0:4c:f0ff:fec9:93ec")
    assert dl.eui64(PREFIX, "00:11:22:33:44:55") == IPv6Address("2001:db8:100:0:211:22ff:fe33:4455")


def test_the_ip_range_holds_the_slaac_address_of_every_mac_starting_02():
    assert dl.eui64(PREFIX, "02:ff:ff:ff:ff:ff") in dl.IP_RANGE6
    assert dl.eui64(PREFIX, "02:00:00:00:00:01") in dl.IP_RANGE6
    assert dl.eui64(PREFIX, "b6:16:ba:41:99:63") not in dl.IP_RANGE6
    assert dl.IP_RANGE6.subnet_of(dl.LAN_PREFIX6)


def test_the_router_advertisement_parses_as_an_ra_with_a_slaac_prefix():
    from scapy.layers.inet6 import (
        ICMPv6ND_RA,
        ICMPv6NDOptPrefixInfo,
        ICMPv6NDOptSrcLLAddr,
    )

    ra = ICMPv6ND_RA(dl.router_advertisement(PREFIX, "02:4c:aa:bb:cc:dd"))
    assert ra.type == 134 and ra.routerlifetime == dl.RA_ROUTER_LIFETIME
    pio = ra[ICMPv6NDOptPrefixInfo]
    assert (pio.prefix, pio.prefixlen, pio.L, pio.A) == ("2001:db8:100::", 64, 1, 1)
    assert pio.validlifetime > 0 and pio.preferredlifetime > 0
    assert ra[ICMPv6NDOptSrcLLAddr].lladdr == "02:4c:aa:bb:cc:dd"


@pytest.mark.parametrize(("flags", "origin", "state"), [
    (dl.IFA_F_PERMANENT | dl.IFA_F_NODAD, "static-nodad", "usable"),
    (dl.IFA_F_PERMANENT, "static-dad", "usable"),
    (dl.IFA_F_PERMANENT | IFA_F_TENTATIVE, "static-dad", "tentative"),
    (0, "slaac", "usable"),
    (IFA_F_TENTATIVE | IFA_F_DADFAILED, "slaac", "dadfailed"),
])
def test_kernel_flags_say_where_an_address_came_from_and_what_dad_made_of_it(
        flags, origin, state):
    assert (dl.origin(flags), dl.kernel_state(flags)) == (origin, state)


def held(address, kind, name, mac, origin="static-nodad", state="usable") -> dl.Held6:
    return dl.Held6(IPv6Address(address), cl.Owner(kind, name, mac), origin, state)


def test_only_usable_addresses_answer_so_only_they_make_duplicates():
    found = dl.owners6([
        held("2001:db8:100::10", "lan-host", "nas", NAS_MAC, "static-dad"),
        held("2001:db8:100::10", "container", "c1", CONTAINER_MAC),
        held("2001:db8:100::20", "lan-host", "vm02", VM_MAC, "slaac", "dadfailed"),
        held("2001:db8:100::20", "container", "c2", "8e:a5:61:f0:ae:e3"),
    ])
    assert set(cl.injected(found)) == {IPv6Address("2001:db8:100::10")}
    assert len(found[IPv6Address("2001:db8:100::20")]) == 1


def test_flips_count_changes_of_mac_between_rounds():
    assert dl.flips(["a", "a", "b", None, "a"]) == 2
    assert dl.flips([]) == 0


def dad(address: str, *macs: str) -> DadResult:
    return DadResult(IPv6Address(address), bool(macs), macs, 1, 1.0, ())


def scan(*answers: tuple[str, str]) -> ConflictScan:
    found = tuple(Answer(IPv6Address(a), m, 0.01 * i) for i, (a, m) in enumerate(answers))
    return ConflictScan("eth0", tuple(IPv6Address(a) for a, _ in answers), found,
                        find_conflicts(found), 0.0, 0.5, [])


def section(nas_state: str = "usable", vm02_state: str = "dadfailed",
            dad_macs: tuple[str, ...] = (NAS_MAC, CONTAINER_MAC)) -> md.DadSection:
    nas, slaac, late = "2001:db8:100::10", "2001:db8:100:0:4c:f0ff:fec9:93ec", \
        "2001:db8:100:0:4c:8fff:fe07:d815"
    own, dyn = "2001:db8:100:0:b416:baff:fe41:9963", "2001:db8:100::2"
    rounds = tuple(dl.Round6(i, CONTAINER_MAC, True, "", False) for i in range(3))
    cases = (
        md.DadCase("static-vs-lan-static", IPv6Address(nas), (
            held(nas, "lan-host", "nas", NAS_MAC, "static-dad", nas_state),
            held(nas, "container", "c6nas", CONTAINER_MAC)),
            tuple(sorted((NAS_MAC, CONTAINER_MAC))), dad(nas, *dad_macs), rounds),
        md.DadCase("static-vs-slaac", IPv6Address(slaac), (
            held(slaac, "lan-host", "vm01", VM_MAC, "slaac"),
            held(slaac, "container", "c6slaac", "de:cc:7b:24:78:b9")),
            (VM_MAC, "de:cc:7b:24:78:b9"), dad(slaac, VM_MAC, "de:cc:7b:24:78:b9")),
        md.DadCase("slaac-after-static", IPv6Address(late), (
            held(late, "container", "c6early", "8e:a5:61:f0:ae:e3"),
            held(late, "lan-host", "vm02", "02:4c:8f:07:d8:15", "slaac", vm02_state)),
            ("8e:a5:61:f0:ae:e3",), dad(late, "8e:a5:61:f0:ae:e3")),
        md.DadCase("container-slaac", IPv6Address(own), (
            held(own, "container", "c6nas", CONTAINER_MAC, "slaac"),),
            (CONTAINER_MAC,), dad(own, CONTAINER_MAC)),
        md.DadCase("ipam-dynamic", IPv6Address(dyn), (
            held(dyn, "container", "c6dyn", "aa:d5:e0:ff:d2:98"),),
            ("aa:d5:e0:ff:d2:98",), dad(dyn, "aa:d5:e0:ff:d2:98")),
    )
    answers = [(str(c.address), m) for c in cases for m in c.scan_macs]
    probe = scan(*answers)
    truth = cl.injected(dl.owners6([h for c in cases for h in c.held]))
    return md.DadSection(cases, probe, cl.score(probe, truth), True,
                         (("accept_ra", "1"), ("autoconf", "1")))


def test_every_check_passes_on_what_the_real_lab_showed():
    failed = [c for c in md.checks(section()) if not c.ok]
    assert not failed


def test_checks_fail_when_the_kernel_refused_a_copy_or_dad_missed_an_owner():
    refused = {c.what for c in md.checks(section(nas_state="dadfailed")) if not c.ok}
    assert "the kernel refuses neither copy (Docker's NODAD address, the LAN host's)" in refused
    missed = [c for c in md.checks(section(dad_macs=(NAS_MAC,))) if not c.ok]
    assert [c.what for c in missed] == ["RFC 4862 DAD probe finds both owners"]
    kept = [c for c in md.checks(section(vm02_state="usable")) if not c.ok]
    assert kept and kept[0].step == "ipv6 slaac-after-static"


def test_a_case_says_who_held_the_neighbour_cache():
    c = section().case("static-vs-lan-static")
    assert c.winners() == {"container:c6nas": 3}
    assert c.kernel == ("lan-host nas: static-dad, usable; "
                        "container c6nas: static-nodad, usable")
    assert c.probe == "NDP scan: duplicate (2 MACs); RFC 4862 DAD: in use by 2 MACs"
    assert md.probe_text(1, dad("2001:db8::1")) == "NDP scan: one owner (1 MAC); RFC 4862 DAD: free"


def test_the_family_table_has_the_ipv4_rows_then_one_row_per_ipv6_case():
    v4 = [{"mode": "promiscuous", "overlap": 1.0, "detected": 16, "injected": 16,
           "false_positives": 0},
          {"mode": "port-security", "overlap": 1.0, "detected": 0, "injected": 16,
           "false_positives": 0}]
    rows = md.family_rows(v4, section())
    assert [r["family"] for r in rows] == ["ipv4", "ipv4"] + ["ipv6"] * len(md.CASES)
    assert rows[0]["probe"] == "ARP scan (RFC 5227): 16 of 16 found, 0 false"
    assert [r["case"] for r in rows[2:]] == list(md.CASES)
    table = md.family_table_md(rows)
    assert table[0].startswith("| case | family | what the kernel did | what the probe found")
    assert len(table) == 2 + len(rows)
    assert [r["family"] for r in md.family_rows(v4, None)] == ["ipv4", "ipv4"]


def test_case_and_round_rows_carry_the_measurements():
    rows = md.case_rows(section())
    first = rows[0]
    assert (first["case"], first["cache_rounds"], first["followup_failures"],
            first["tcp_failures"]) == ("static-vs-lan-static", 3, 3, 0)
    assert first["cache_winners"] == "container:c6nas=3"
    assert {r["cache_holds"] for r in md.round_rows(section())} == {"container:c6nas"}


def context(tmp_path, **params) -> RunContext:
    return RunContext("macvlan-conflicts", tmp_path, params, step=lambda _: None)


def test_sections_and_lab_prefix_parameters(tmp_path):
    assert mc.sections(context(tmp_path)) == ("ipv4", "ipv6")
    assert mc.sections(context(tmp_path, sections="ipv6")) == ("ipv6",)
    with pytest.raises(ValueError, match="each must be one of ipv4, ipv6"):
        mc.sections(context(tmp_path, sections="ipv5"))
    assert mc.lab_prefix(context(tmp_path, lab="v6d")) == "v6d"
    assert mc.lab_prefix(context(tmp_path)).startswith("mc")
    with pytest.raises(ValueError, match="at most 6 characters"):
        mc.lab_prefix(context(tmp_path, lab="toolongx"))
