"""Internal networks on the real kernel: what their containers send each other over
the bridge, with and without a network with ICC off on the host (Docker 28).

A network with ICC off is what turns bridge-nf-call-iptables and -ip6tables on (as
dockerd does, never off again), and then bridged frames meet the host firewall. Over
IPv6 that changes nothing on an internal network: Docker 28's ip6tables rules for it
(`-i br ! -o br ! -d PREFIX -j DROP` and its mirror; moby/moby#45649, Docker 25) leave
what stays on the bridge alone, where 20.10's (`-i br ! -d PREFIX`) drop neighbour
solicitations and link-local traffic, so that no IPv6 gets through at all
(moby/libnetwork#2626). Over IPv4 Docker 28 kept the subnet-only rules: multicast and
the limited broadcast stop, unicast and the subnet's broadcast pass. h1 gets a
network with ICC off; h2 never does, and keeps the knobs off.
"""

from __future__ import annotations

import secrets

import pytest
from test_bridge_dual_stack import Ipv6Networks, ping4, ping6

from emulator import Lab

ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}
INTERNAL, QUIET, OPEN = 21, 22, 23
KNOBS = ("/proc/sys/net/bridge/bridge-nf-call-iptables",
         "/proc/sys/net/bridge/bridge-nf-call-ip6tables")


@pytest.fixture(scope="module")
def lab():
    with Lab.default("n6" + secrets.token_hex(2)) as running:
        yield running


@pytest.fixture
def h1(lab):
    networks = Ipv6Networks(lab.host("h1"))
    yield networks
    networks.close()


@pytest.fixture
def h2(lab):
    networks = Ipv6Networks(lab.host("h2"))
    yield networks
    networks.close()


def knobs(lab, host: str) -> list[str]:
    return lab.host(host).exec(["cat", *KNOBS]).stdout.split()


def link_local(v6: Ipv6Networks, sandbox) -> str:
    out = v6.run(sandbox, ["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"])
    return out.stdout.split()[3].split("/")[0]


def ping6_link_local(v6: Ipv6Networks, sandbox, address: str) -> bool:
    """Up to 5 s: both link-locals may still be in DAD right after the join."""
    argv = ["ping", "-6", "-c", "1", "-w", "5", f"{address}%eth0"]
    return v6.run(sandbox, argv).exit_code == 0


def assert_both_families_between(v6: Ipv6Networks, a, b) -> None:
    assert ping4(v6, a, f"10.96.{INTERNAL}.3") and ping4(v6, b, f"10.96.{INTERNAL}.2")
    assert ping6(v6, a, f"fd00:b6:{INTERNAL}::3") and ping6(v6, b, f"fd00:b6:{INTERNAL}::2")
    assert ping6_link_local(v6, a, link_local(v6, b))


RECEIVER = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('', 9999)); s.settimeout(10); print('listening', flush=True)\n"
            "got = []\n"
            "while not got or got[-1] != 'unicast':\n"
            "    got.append(s.recvfrom(100)[0].decode())\n"
            "print(' '.join(got), flush=True)\n")
SENDER = ("import socket, sys\n"
          "own, peer = sys.argv[1:]\n"
          "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n"
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'eth0')\n"
          "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(own))\n"
          "for word, address in (('multicast', '224.0.0.1'), ('broadcast', '255.255.255.255'),\n"
          "                      ('subnet-broadcast', sys.argv[2].rsplit('.', 1)[0] + '.255'),\n"
          "                      ('unicast', peer)):\n"
          "    s.sendto(word.encode(), (address, 9999))\n")


def datagrams_between(v6: Ipv6Networks, net_id: str) -> str:
    """What b receives of what a sends to a multicast group, the limited broadcast
    address, the subnet's broadcast address and then b itself (in that order, by one
    bridge: all that passes arrives before the unicast one)."""
    index = int(net_id[:2], 16)
    a, b = v6.container(net_id, 2), v6.container(net_id, 3)
    receiver, _ = v6.fabric.popen(b, ["python3", "-u", "-c", RECEIVER])
    try:
        assert receiver.stdout.readline().decode().strip() == "listening"
        sent = v6.run(a, ["python3", "-c", SENDER, f"10.96.{index}.2", f"10.96.{index}.3"])
        assert sent.exit_code == 0, sent.stderr
        return receiver.stdout.readline().decode().strip()
    finally:
        receiver.kill()



def test_internal_network_beside_an_icc_off_network(lab, h1) -> None:
    quiet = h1.network(QUIET, options=ICC_OFF)
    assert knobs(lab, "h1") == ["1", "1"]
    q1, q2 = h1.container(quiet, 2), h1.container(quiet, 3)
    assert not ping6(h1, q1, f"fd00:b6:{QUIET}::3"), "bridged IPv6 meets the firewall"
    internal = h1.network(INTERNAL, internal=True)
    a, b = h1.container(internal, 2), h1.container(internal, 3)
    assert_both_families_between(h1, a, b)
    assert not ping6(h1, a, f"fd00:b6:{QUIET}::2") and not ping4(h1, a, f"10.96.{QUIET}.2")
    assert not ping6(h1, q2, f"fd00:b6:{INTERNAL}::2"), "nothing gets into the internal one"
    h1.close()  # the knobs stay on once the network with ICC off is gone
    h1.networks.clear()
    h1.sandboxes.clear()
    assert knobs(lab, "h1") == ["1", "1"]
    assert datagrams_between(h1, h1.network(INTERNAL, internal=True)) == \
        "subnet-broadcast unicast"
    assert datagrams_between(h1, h1.network(OPEN)) == \
        "multicast broadcast subnet-broadcast unicast"


def test_internal_network_on_a_host_without_icc_off(lab, h2) -> None:
    """Nothing turned bridge netfilter on: bridged frames do not meet the firewall."""
    assert knobs(lab, "h2") == ["0", "0"]
    internal = h2.network(INTERNAL, internal=True)
    a, b = h2.container(internal, 2), h2.container(internal, 3)
    assert_both_families_between(h2, a, b)
    assert datagrams_between(h2, h2.network(INTERNAL + 10, internal=True)) == \
        "multicast broadcast subnet-broadcast unicast"
