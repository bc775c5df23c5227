"""The differential's overlay measurement without a kernel: VXLAN frames built with
Scapy are parsed into wire and inner sizes, a ping's fragments are grouped with their
echo message, and the payloads tried reach past the overlay's MTU."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, UDP, fragment
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vxlan import VXLAN

from emulator.experiments.differential import overlay


def vxlan(inner, vni: int = 4097, dport: int = 4789) -> bytes:
    outer = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="192.0.2.11", dst="192.0.2.12") / UDP(sport=40000, dport=dport)
             / VXLAN(vni=vni, flags=0x08))
    return bytes(outer / inner)


def inner_ether() -> Ether:
    return Ether(src="02:42:0a:00:01:02", dst="02:42:0a:00:01:03")


def echo(size: int, kind: int = 8) -> IP:
    return IP(src="10.0.1.2", dst="10.0.1.3") / ICMP(type=kind) / (b"x" * size)


def test_a_vxlan_frame_gives_its_sizes_vni_and_icmp_type() -> None:
    inner = inner_ether() / echo(56)
    frame = overlay.parse_vxlan(vxlan(inner), outgoing=True)
    assert frame is not None
    assert frame.length == 14 + 20 + 8 + 8 + 14 + 20 + 8 + 56 == 148
    assert frame.inner_length == len(bytes(inner)) == 98
    assert frame.overhead == overlay.OUTER == 50
    assert frame.vni == 4097 and frame.icmp_type == 8 and not frame.fragment


def test_frames_that_are_not_vxlan_or_too_short_are_none() -> None:
    assert overlay.parse_vxlan(vxlan(inner_ether() / echo(56), dport=4790)) is None
    plain = bytes(Ether() / IP(src="10.0.1.2", dst="10.0.1.3") / ICMP())
    assert overlay.parse_vxlan(plain) is None
    arp = overlay.parse_vxlan(vxlan(inner_ether() / ARP()))
    assert arp is not None and arp.icmp_type is None and not arp.fragment


def test_a_pings_fragments_join_its_echo_message_in_their_direction() -> None:
    request = [overlay.parse_vxlan(vxlan(inner_ether() / f), outgoing=True)
               for f in fragment(echo(2860), fragsize=1424)]
    reply = [overlay.parse_vxlan(vxlan(inner_ether() / f), outgoing=False)
             for f in fragment(echo(2860, kind=0), fragsize=1424)]
    noise = overlay.parse_vxlan(vxlan(inner_ether() / ARP()), outgoing=True)
    assert len(request) == 3 and all(f is not None and f.fragment for f in request)
    assert [f.icmp_type for f in request] == [8, None, None]
    # interleaved as a capture may see them; the ARP frame ends nothing of the reply's
    mixed = [request[0], reply[0], request[1], noise, reply[1], reply[2], request[2]]
    got_request, got_reply = overlay.ping_frames(mixed)
    assert got_request == request[:2]  # what followed the ARP frame is not this echo's
    assert got_reply == reply
    assert [f.length for f in reply] == [1508, 1508, 104]


def test_ping_sizes_reach_the_overlay_mtu_and_past_it() -> None:
    sizes = overlay.ping_sizes(1500)
    assert sizes == (56, 512, 1000, 1400, 1422, 1423, 2860)
    assert 1422 + overlay.PING_HEADERS == 1500 - overlay.OUTER
    assert overlay.ping_sizes(9000)[-3:] == (8922, 8923, 17860)


def test_rows_line_up_metrics_from_both_sides() -> None:
    rows = overlay.compare({"overhead per packet (bytes)": "50", "VXLAN ID on the wire": "4097"},
                           {"overhead per packet (bytes)": "50"})
    assert [r.as_dict() for r in rows] == [
        {"metric": "overhead per packet (bytes)", "emulated": "50", "real": "50", "agree": True},
        {"metric": "VXLAN ID on the wire", "emulated": "4097", "real": None, "agree": False}]


def test_endpoints_are_listed_by_address_without_container_ids() -> None:
    inspect = {"Containers": {
        "dfe9e4c6": {"Name": "gateway_3b2846d9da2f", "IPv4Address": "172.18.0.3/16"},
        "ingress-sbox": {"Name": "gateway_ingress-sbox", "IPv4Address": "172.18.0.2/16"},
        "lb-fxov": {"Name": "fxov-endpoint", "IPv4Address": "172.18.0.10/16"}}}
    assert overlay.endpoints_text(inspect) == (
        "gateway_ingress-sbox 172.18.0.2/16, gateway_<id> 172.18.0.3/16, "
        "fxov-endpoint 172.18.0.10/16")
    assert overlay.endpoints_text({"Containers": None}) == "none"
