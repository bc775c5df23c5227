"""Two containers of one internal dual-stack network reach each other over both
families, with or without a network with ICC off on the same host (Docker 28).

A network with ICC off is what turns bridge-nf-call-ip6tables on, and then bridged
IPv6 meets the host firewall. Docker 20.10's ip6tables rules for an internal network
match the prefix (`-i br ! -d PREFIX -j DROP`), so there its containers' neighbour
solicitations (to a solicited-node multicast address) and link-local traffic are
dropped and IPv6 between them dies (moby/libnetwork#2626); Docker 25 and later
(moby/moby#45649, v28.5.2 `setupInternalNetworkRules`) add `! -o br`, and only what
enters or leaves the bridge is dropped. The emulator follows 28: these tests check
it on the real kernel, ICC off doing its own part on its own network meanwhile.
"""

from __future__ import annotations

import secrets

import pytest
from test_bridge_dual_stack import Ipv6Networks, ping4, ping6

from emulator import Lab

ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}
INTERNAL, QUIET = 21, 22


@pytest.fixture(scope="module")
def lab():
    with Lab.default("n6" + secrets.token_hex(2)) as running:
        yield running


@pytest.fixture
def v6(lab):
    networks = Ipv6Networks(lab.host("h1"))
    yield networks
    networks.close()


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


def test_internal_network_with_an_icc_off_network_on_the_host(lab, v6) -> None:
    quiet = v6.network(QUIET, options=ICC_OFF)
    q1, q2 = v6.container(quiet, 2), v6.container(quiet, 3)
    internal = v6.network(INTERNAL, internal=True)
    a, b = v6.container(internal, 2), v6.container(internal, 3)
    knob = lab.host("h1").exec(["cat", "/proc/sys/net/bridge/bridge-nf-call-ip6tables"])
    assert knob.stdout.strip() == "1"
    assert not ping6(v6, q1, f"fd00:b6:{QUIET}::3"), "bridged IPv6 meets the firewall"
    assert_both_families_between(v6, a, b)
    assert not ping6(v6, a, f"fd00:b6:{QUIET}::2") and not ping4(v6, a, f"10.96.{QUIET}.2")
    assert not ping6(v6, q2, f"fd00:b6:{INTERNAL}::2"), "nothing gets into the internal one"


def test_internal_network_alone_on_the_host(v6) -> None:
    internal = v6.network(INTERNAL, internal=True)
    a, b = v6.container(internal, 2), v6.container(internal, 3)
    assert_both_families_between(v6, a, b)
