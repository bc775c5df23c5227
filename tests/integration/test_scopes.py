"""Local scope: same-named networks on two Docker hosts are two separate networks."""

from __future__ import annotations

from conftest import ping, tcp_reaches


def test_same_name_on_two_hosts_does_not_join_them(h1, h2):
    n1 = h1.networks.create("front")
    n2 = h2.networks.create("front")
    assert n1.id != n2.id
    a = h1.containers.run("ca", network="front")
    b = h2.containers.run("cb", network="front")
    assert a.ip() == b.ip(), "each host allocates the same default subnet independently"
    c = h2.containers.run("cc", network="front")
    assert not ping(a, c.ip())


def test_distinct_subnets_on_two_hosts_do_not_route_to_each_other(h1, h2):
    h1.networks.create("front", subnet="10.41.0.0/24")
    h2.networks.create("front", subnet="10.42.0.0/24")
    a = h1.containers.run("ca", network="front")
    b = h2.containers.run("cb", network="front")
    assert not ping(a, b.ip()) and not ping(b, a.ip())
    assert not tcp_reaches(a, b.ip())


def test_docker_hosts_reach_each_other_on_the_underlay(lab, h1, h2):
    assert h1.exec(["ping", "-c", "1", "-W", "1", str(h2.address)]).exit_code == 0
    assert h1.exec(["ping", "-c", "1", "-W", "1", str(lab.outside_address)]).exit_code == 0
