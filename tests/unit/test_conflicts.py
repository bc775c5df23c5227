"""ARP conflict scan and RFC 5227 mode: frames, parsing, grouping and schedules."""

from __future__ import annotations

import os
import random
from ipaddress import IPv4Address

import pytest

from emulator.fabric.netns import current_net_inode, machine_net_inode
from emulator.probes.conflicts import (
    Answer,
    ConflictScan,
    find_conflicts,
    parse_arp,
    probe_frame,
    scan_conflicts,
)
from emulator.probes.engine import MachineNamespaceRefused
from emulator.probes.rfc5227 import Timings, conflict_kind, probe_schedule

OURS = bytes.fromhex("02420a010002")
A, B = IPv4Address("10.1.0.3"), IPv4Address("10.1.0.4")
MAC1, MAC2, MAC3 = "02:42:0a:01:00:03", "02:42:0a:01:00:33", "02:42:0a:01:00:63"


def arp_frame(op: int, sha: str, spa: str, tha: str, tpa: str, dst: str = "ff" * 6) -> bytes:
    sha_raw, tha_raw = bytes.fromhex(sha.replace(":", "")), bytes.fromhex(tha.replace(":", ""))
    return (bytes.fromhex(dst) + sha_raw + bytes.fromhex("0806 0001 0800 06 04")
            + op.to_bytes(2, "big") + sha_raw + IPv4Address(spa).packed + tha_raw
            + IPv4Address(tpa).packed)


def test_probe_frame_is_an_rfc5227_probe_to_broadcast():
    assert probe_frame(OURS, A) == bytes.fromhex(
        "ffffffffffff" "02420a010002" "0806"   # broadcast, from us, ARP
        "0001" "0800" "06" "04" "0001"         # Ethernet/IPv4, request
        "02420a010002" "00000000"              # sender: our MAC, 0.0.0.0
        "000000000000" "0a010003")             # target: zero MAC, the address


def test_probe_parses_back_as_a_probe():
    packet = parse_arp(probe_frame(OURS, A))
    assert packet is not None and packet.is_probe
    assert (packet.sender_mac, packet.target_ip, packet.target_mac) == (
        "02:42:0a:01:00:02", A, "00:00:00:00:00:00")


def test_reply_to_a_probe_parses():
    reply = arp_frame(2, MAC1, "10.1.0.3", "02:42:0a:01:00:02", "0.0.0.0", dst="02420a010002")
    packet = parse_arp(reply + b"\0" * 18)  # Ethernet padding to 60 bytes is ignored
    assert packet is not None and not packet.is_probe
    assert (packet.op, packet.sender_mac, packet.sender_ip) == (2, MAC1, A)


@pytest.mark.parametrize("frame", [
    b"",
    arp_frame(2, MAC1, "10.1.0.3", MAC2, "0.0.0.0")[:41],                    # truncated
    arp_frame(2, MAC1, "10.1.0.3", MAC2, "0.0.0.0").replace(b"\x08\x06", b"\x08\x00", 1),
    arp_frame(2, MAC1, "10.1.0.3", MAC2, "0.0.0.0").replace(b"\x08\x00", b"\x86\xdd", 1),
])
def test_not_ipv4_arp_is_ignored(frame):
    assert parse_arp(frame) is None


def test_one_mac_per_address_is_no_conflict():
    answers = [Answer(A, MAC1, 0.001), Answer(B, MAC2, 0.002), Answer(A, MAC1, 0.003)]
    assert find_conflicts(answers) == ()


def test_conflict_is_detected_when_the_second_mac_arrives():
    answers = [Answer(A, MAC3, 0.009), Answer(B, MAC1, 0.001), Answer(A, MAC1, 0.002),
               Answer(B, MAC1, 0.003), Answer(A, MAC2, 0.004), Answer(B, MAC2, 0.006)]
    conflicts = find_conflicts(answers)
    assert [(c.address, c.macs, c.detected_at) for c in conflicts] == [
        (A, (MAC1, MAC2, MAC3), 0.004), (B, (MAC1, MAC2), 0.006)]
    scan = ConflictScan("eth0", (A, B), tuple(answers), conflicts, 0.0001, 0.2, [])
    assert scan.owners() == {A: {MAC1, MAC2, MAC3}, B: {MAC1, MAC2}}
    assert (scan.first_detection, scan.last_detection) == (0.004, 0.006)


def test_no_conflict_has_no_detection_time():
    scan = ConflictScan("eth0", (A,), (Answer(A, MAC1, 0.001),), (), 0.0001, 0.2, [])
    assert scan.first_detection is None and scan.last_detection is None


@pytest.mark.parametrize("seed", range(50))
def test_schedule_keeps_rfc5227_bounds(seed):
    timings = Timings()
    sends, end = probe_schedule(timings, random.Random(seed))
    assert len(sends) == timings.probe_num == 3
    assert 0 <= sends[0] <= timings.probe_wait
    for before, after in zip(sends, sends[1:], strict=False):
        assert timings.probe_min <= after - before <= timings.probe_max
    assert end == pytest.approx(sends[-1] + timings.announce_wait)
    assert probe_schedule(timings, random.Random(seed)) == (sends, end), "reproducible"


def test_shrunken_timings_scale_the_schedule():
    timings = Timings(probe_wait=0.01, probe_num=4, probe_min=0.02, probe_max=0.03,
                      announce_wait=0.05)
    sends, end = probe_schedule(timings, random.Random(7))
    assert len(sends) == 4 and sends[0] <= 0.01 and end <= 0.01 + 3 * 0.03 + 0.05


@pytest.mark.parametrize("bad", [dict(probe_num=0), dict(probe_min=3.0),
                                 dict(probe_wait=-1.0)])
def test_impossible_timings_are_refused(bad):
    with pytest.raises(ValueError):
        Timings(**bad)


OUR_MAC = "02:42:0a:01:00:02"


@pytest.mark.parametrize("frame, kind", [
    (arp_frame(2, MAC1, "10.1.0.3", OUR_MAC, "0.0.0.0"), "arp-reply"),
    (arp_frame(1, MAC1, "10.1.0.3", "00" * 6, "10.1.0.9"), "arp-request"),
    (arp_frame(1, MAC1, "0.0.0.0", "00" * 6, "10.1.0.3"), "arp-probe"),       # a rival prober
    (arp_frame(1, OUR_MAC, "0.0.0.0", "00" * 6, "10.1.0.3"), None),           # our own probe
    (arp_frame(2, OUR_MAC, "10.1.0.3", MAC1, "10.1.0.9"), None),              # from our MAC
    (arp_frame(1, MAC1, "0.0.0.0", "00" * 6, "10.1.0.4"), None),              # other address
    (arp_frame(1, MAC1, "10.1.0.9", "00" * 6, "10.1.0.3"), None),             # asks, not claims
])
def test_rfc5227_conflicts(frame, kind):
    packet = parse_arp(frame)
    assert packet is not None
    assert conflict_kind(packet, A, OUR_MAC) == kind


@pytest.mark.skipif(current_net_inode() != machine_net_inode(),
                    reason="only meaningful from the machine's own namespace")
def test_scan_refuses_the_machine_namespace():
    with pytest.raises(MachineNamespaceRefused):
        scan_conflicts(os.getpid(), "lo", [A])
