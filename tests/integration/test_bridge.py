"""The bridge driver on the real kernel, judged by packets."""

from __future__ import annotations

from ipaddress import IPv4Network

from conftest import links_of, ping, tcp_reaches


def test_default_bridge_is_docker0_with_docker_addresses(h1):
    addrs = h1.exec(["ip", "-br", "-4", "addr", "show", "docker0"]).stdout
    assert "172.17.0.1/16" in addrs
    c = h1.containers.run("plain")
    assert c.ip() in IPv4Network("172.17.0.0/16")
    route = c.exec(["ip", "route", "show", "default"]).stdout
    assert route.startswith("default via 172.17.0.1 dev eth0")
    assert links_of(c.exec(["ip", "-br", "link"]).stdout) == ["eth0", "lo"]


def test_bridge_container_reaches_the_outside_through_masquerade(lab, h1):
    c = h1.containers.run("out")
    assert ping(c, lab.outside_address)
    assert tcp_reaches(c, lab.outside_address)


def test_containers_on_one_user_bridge_reach_each_other(h1):
    h1.networks.create("front")
    web = h1.containers.run("web", network="front")
    db = h1.containers.run("db", network="front")
    assert web.ip() in IPv4Network("172.18.0.0/16")
    assert ping(web, db.ip()) and ping(db, web.ip())
    assert tcp_reaches(web, db.ip(), 5432)


def test_two_user_bridges_are_isolated_both_ways(h1):
    h1.networks.create("front")
    h1.networks.create("back")
    web = h1.containers.run("web", network="front")
    api = h1.containers.run("api", network="back")
    plain = h1.containers.run("plain")
    assert not ping(web, api.ip()) and not ping(api, web.ip())
    assert not tcp_reaches(web, api.ip()) and not tcp_reaches(api, web.ip())
    assert not ping(plain, web.ip()) and not ping(web, plain.ip())


def test_internal_network_reaches_nothing_outside_itself(lab, h1):
    net = h1.networks.create("secret", internal=True)
    a = h1.containers.run("ca", network="secret")
    b = h1.containers.run("cb", network="secret")
    other = h1.containers.run("other")
    assert ping(a, b.ip())
    assert a.exec(["ip", "route", "show", "default"]).stdout == ""
    assert not ping(a, lab.outside_address)
    assert not ping(a, other.ip()) and not ping(other, a.ip())
    gateway = net.inspect()["IPAM"]["Config"][0]["Gateway"]
    assert ping(a, gateway), "the Docker host stays reachable on the bridge address"
    assert h1.exec(["ping", "-c", "1", "-W", "1", str(a.ip())]).exit_code == 0


def test_icc_disabled_blocks_containers_but_not_the_gateway(lab, h1):
    net = h1.networks.create("noicc", options={"com.docker.network.bridge.enable_icc": "false"})
    a = h1.containers.run("ca", network="noicc")
    b = h1.containers.run("cb", network="noicc")
    assert not ping(a, b.ip()) and not tcp_reaches(a, b.ip())
    assert ping(a, net.inspect()["IPAM"]["Config"][0]["Gateway"])
    assert ping(a, lab.outside_address)


def test_container_on_two_networks_reaches_both(h1):
    h1.networks.create("front")
    h1.networks.create("back")
    web = h1.containers.run("web", network="front")
    api = h1.containers.run("api", network="back")
    both = h1.containers.run("both", networks=["front", "back"])
    assert links_of(both.exec(["ip", "-br", "link"]).stdout) == ["eth0", "eth1", "lo"]
    assert ping(both, web.ip()) and ping(both, api.ip())
    routes = both.exec(["ip", "route", "show", "default"]).stdout.splitlines()
    assert len(routes) == 1


def test_connect_and_disconnect_a_running_container(h1):
    h1.networks.create("front")
    back = h1.networks.create("back")
    api = h1.containers.run("api", network="back")
    web = h1.containers.run("web", network="front")
    assert not ping(web, api.ip())
    back.connect(web)
    assert "eth1" in links_of(web.exec(["ip", "-br", "link"]).stdout)
    assert ping(web, api.ip("back"))
    back.disconnect(web)
    assert "eth1" not in links_of(web.exec(["ip", "-br", "link"]).stdout)
    assert not ping(web, api.ip())


def test_bridge_name_and_mtu_options(h1):
    h1.networks.create("custom", options={"com.docker.network.bridge.name": "mybridge0",
                                          "com.docker.network.driver.mtu": "1400"})
    c = h1.containers.run("cc", network="custom")
    assert "mtu 1400" in c.exec(["ip", "link", "show", "eth0"]).stdout
    bridge = h1.exec(["ip", "-d", "link", "show", "mybridge0"])
    assert bridge.exit_code == 0 and "bridge" in bridge.stdout and "mtu 1400" in bridge.stdout


def test_ipam_options_shape_the_addresses(h1):
    net = h1.networks.create("ranged", subnet="10.30.0.0/16", ip_range="10.30.5.0/24",
                             gateway="10.30.0.254", aux_addresses={"router": "10.30.5.0"})
    first = h1.containers.run("first", network="ranged")
    fixed = h1.containers.run("fixed", network="ranged", ip="10.30.9.9")
    assert str(first.ip()) == "10.30.5.1"
    assert str(fixed.ip()) == "10.30.9.9"
    assert "10.30.0.254/16" in h1.exec(["ip", "-br", "addr", "show", net.bridge]).stdout
    assert first.exec(["ip", "route", "show", "default"]).stdout.startswith(
        "default via 10.30.0.254")
    assert ping(first, fixed.ip())


def test_stop_and_start_keep_the_network_and_release_the_address(h1):
    h1.networks.create("front")
    web = h1.containers.run("web", network="front")
    address = web.ip()
    web.stop()
    assert h1.networks.get("front").inspect()["Containers"] == {}
    h1.networks.get("front").remove()
    h1.networks.create("front")
    other = h1.containers.run("other", network="front")
    assert other.ip() == address


def test_a_reconnected_container_is_reached_at_once(h1):
    """Its endpoint gets a new random MAC; the gratuitous ARP on link-up tells the peers."""
    h1.networks.create("front")
    web = h1.containers.run("web", network="front")
    db = h1.containers.run("db", network="front")
    for _ in range(3):
        assert ping(db, web.ip())
        h1.engine.disconnect("front", "web")
        h1.engine.connect("front", "web")
        assert ping(db, web.ip())
