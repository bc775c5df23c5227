"""Swarm overlay networks on the real kernel, judged by packets.

h1 initialises a swarm and h2 joins it as a worker; overlays made on h1 carry
containers of both hosts over VXLAN on the underlay (192.0.2.0/24). Verdicts come
from traffic: pings and TCP probes between containers, captures on the outside
host and on h2's underlay NIC (dissected by Debian's tshark), and the state the
kernel shows inside each host's overlay namespace.
"""

from __future__ import annotations

import subprocess
import threading
import time
from ipaddress import IPv4Address, IPv4Network

import pytest
from conftest import ping, tcp_reaches

from emulator import errdefs as err
from emulator.api.shapes import swarm as swarm_shapes

VNI_LIST = "com.docker.network.driver.overlay.vxlanid_list"
MTU = "com.docker.network.driver.mtu"
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                 'join" to connect this node to swarm and try again.')


@pytest.fixture(scope="module")
def swarm_lab(lab):
    """The module's lab with h1 as the swarm's manager and h2 as a worker."""
    manager, worker = lab.host("h1").engine, lab.host("h2").engine
    manager.swarm_init()
    worker.swarm_join([f"{lab.host('h1').address}:2377"],
                      manager.swarm_join_token("worker"))
    yield lab
    for engine, force in ((worker, False), (manager, True)):
        if engine.swarm is not None:
            engine.swarm_leave(force=force)


def _reset(lab) -> None:
    """Containers of both hosts, then user overlays (from the manager), then local networks
    (docker_gwbridge stays: the swarm made it). Then wait until the kernel has really
    destroyed the overlay namespaces: until then their VXLAN devices hold their VNIs on
    the host's socket, and the next test's first overlay (VNI 4097 again) could not be made
    (see test_a_host_can_remake_an_overlay_namespace_at_once). The ingress network's
    namespace stays (each node's ingress sandbox is on it), and with it the host's
    socket on port 4789."""
    engines = [lab.host(name).engine for name in ("h1", "h2")]
    doomed = [(engine, state.namespace) for engine in engines
              for net_id, state in engine.driver("overlay")._networks.items()
              if state.namespace is not None and not _is_ingress(engine, net_id)]
    for engine in engines:
        engine.remove_containers(list(engine.containers), force=True)
    manager = engines[0]
    if manager.swarm is not None:
        for network in [n for n in manager.swarm.networks.values() if not n.ingress]:
            manager.remove_network(network.id)
    for engine in engines:
        for network in list(engine.networks.values()):
            if (not network.predefined and network.scope != "swarm"
                    and network.name != "docker_gwbridge"):
                engine.remove_network(network.id)
    for engine, namespace in doomed:
        assert wait_until(lambda e=engine, n=namespace: not e.fabric.sandbox_alive(n)), \
            f"an overlay namespace of {engine.host} is still alive"


def _is_ingress(engine, network_id: str) -> bool:
    network = engine.networks.get(network_id)
    return network is not None and network.ingress


@pytest.fixture
def h1(swarm_lab):
    yield swarm_lab.host("h1")
    _reset(swarm_lab)


@pytest.fixture
def h2(swarm_lab):
    yield swarm_lab.host("h2")
    _reset(swarm_lab)


def overlay(host, name: str = "ov", **kwargs):
    return host.networks.create(name, "overlay", attachable=True, **kwargs)


def overlay_namespace(host, network):
    """The handle of `network`'s overlay namespace on `host` (None if it has none)."""
    state = host.engine.driver("overlay")._networks.get(network.id)
    return state.namespace if state is not None else None


def in_overlay_ns(host, network, argv: list[str]) -> str:
    result = host.engine.fabric.exec(overlay_namespace(host, network), argv)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def gwbridge_address(host, container) -> IPv4Address:
    gw = host.engine.get_network("docker_gwbridge")
    return gw.endpoints[container._container.endpoints[gw.id].id].address.ip


def vxlan_sockets(host) -> str:
    """The UDP sockets on the data path port in the host's own namespace (the VXLAN
    devices' sockets live there)."""
    return host.exec(["ss", "-Huln", "sport = :4789"]).stdout.strip()


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Poll a kernel condition that has no event to wait on (a namespace's cleanup runs
    in a kernel work queue after its last reference goes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        threading.Event().wait(0.05)
    return condition()


def capture_while(lab, node: str, tcpdump_args: list[str], traffic, timeout: int = 15) -> str:
    """Run `tcpdump -c 1` on a lab node and make traffic until it has caught its packet.

    tcpdump tells nothing when it starts listening (node_exec returns its output only
    at the end), so the traffic is repeated until the capture ends.
    """
    result: dict[str, tuple[int, str]] = {}
    argv = ["timeout", str(timeout), "tcpdump", "-n", "-c", "1", *tcpdump_args]
    thread = threading.Thread(target=lambda: result.update(out=lab.node_exec(node, argv)))
    thread.start()
    deadline = time.monotonic() + timeout + 5
    while thread.is_alive() and time.monotonic() < deadline:
        traffic()
        thread.join(0.1)
    thread.join()
    code, out = result["out"]
    assert code == 0, f"tcpdump on {node} caught nothing: {out}"
    return out


# -- reachability -----------------------------------------------------------------


def test_containers_on_one_overlay_reach_each_other_across_hosts(h1, h2):
    net = overlay(h1)
    a = h1.containers.run("ca", network="ov")
    b = h2.containers.run("cb", network="ov")
    subnet = IPv4Network(net.inspect()["IPAM"]["Config"][0]["Subnet"])
    assert a.ip() in subnet and b.ip() in subnet and a.ip() != b.ip()
    assert a.mac() == "02:42:" + ":".join(f"{x:02x}" for x in a.ip().packed)
    assert ping(a, b.ip()) and ping(b, a.ip())
    assert tcp_reaches(a, b.ip(), 80) and tcp_reaches(b, a.ip(), 80)


def test_two_overlays_are_isolated_from_each_other(h1, h2):
    overlay(h1, "ov1")
    overlay(h1, "ov2")
    a1 = h1.containers.run("a1", network="ov1")
    b1 = h2.containers.run("b1", network="ov1")
    a2 = h1.containers.run("a2", network="ov2")
    b2 = h2.containers.run("b2", network="ov2")
    assert ping(a1, b1.ip()) and ping(a2, b2.ip())
    for src, dst in ((a1, b2), (b2, a1), (a1, a2), (a2, a1), (b1, b2), (b2, b1)):
        assert not ping(src, dst.ip()), f"{src.name} reached {dst.name}"
        assert not tcp_reaches(src, dst.ip()), f"{src.name} reached {dst.name} over TCP"


def test_overlay_and_bridge_containers_are_isolated(h1, h2):
    overlay(h1)
    a = h1.containers.run("ca", network="ov")
    plain = h1.containers.run("plain")
    h2.networks.create("front")
    b = h2.containers.run("cb", network="ov")
    web = h2.containers.run("web", network="front")
    for src, dst in ((a, plain), (plain, a), (b, web), (web, b)):
        assert not ping(src, dst.ip()), f"{src.name} reached {dst.name}"
        assert not tcp_reaches(src, dst.ip()), f"{src.name} reached {dst.name} over TCP"
    assert ping(a, b.ip())


def test_overlay_container_reaches_the_outside_masqueraded(swarm_lab, h1):
    lab = swarm_lab
    overlay(h1)
    a = h1.containers.run("ca", network="ov")
    route = a.exec(["ip", "route", "show", "default"]).stdout
    assert route.startswith("default via 172.18.0.1 dev eth1"), route
    assert ping(a, lab.outside_address)
    assert tcp_reaches(a, lab.outside_address)
    seen = capture_while(lab, "outside", ["-l", "-i", "eth0", "icmp[icmptype] == icmp-echo"],
                         lambda: ping(a, lab.outside_address))
    assert f"IP {h1.address} > {lab.outside_address}: ICMP echo request" in seen, seen


def test_internal_overlay_reaches_only_itself(swarm_lab, h1, h2):
    lab = swarm_lab
    overlay(h1, internal=True)
    a = h1.containers.run("ca", network="ov")
    b = h2.containers.run("cb", network="ov")
    assert ping(a, b.ip()) and ping(b, a.ip())
    assert a.exec(["ip", "route", "show", "default"]).stdout == ""
    links = a.exec(["ip", "-br", "link"]).stdout
    assert "eth1" not in links, "an internal overlay gets no docker_gwbridge endpoint"
    assert not ping(a, lab.outside_address) and not tcp_reaches(a, lab.outside_address)


def test_docker_gwbridge_does_not_carry_traffic_between_containers(h1):
    overlay(h1)
    a = h1.containers.run("ca", network="ov")
    b = h1.containers.run("cb", network="ov")
    peer = gwbridge_address(h1, b)
    assert peer in IPv4Network("172.18.0.0/16")
    assert f"{peer}/16" in b.exec(["ip", "-4", "-o", "addr", "show", "eth1"]).stdout
    assert ping(a, b.ip()), "the overlay itself joins them"
    assert not ping(a, peer) and not tcp_reaches(a, peer), "ICC is off on docker_gwbridge"
    assert ping(a, "172.18.0.1"), "the host stays reachable on the bridge's address"


# -- MTU ---------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "mtu"), [({}, 1450), ({MTU: "1400"}, 1400)])
def test_overlay_mtu_leaves_room_for_vxlan(h1, h2, options, mtu):
    overlay(h1, options=options)
    a = h1.containers.run("ca", network="ov")
    b = h2.containers.run("cb", network="ov")
    assert f"mtu {mtu} " in a.exec(["ip", "link", "show", "eth0"]).stdout
    largest = mtu - 28  # IPv4 and ICMP headers
    fits = a.exec(["ping", "-M", "do", "-c", "1", "-W", "1", "-s", str(largest), str(b.ip())])
    assert fits.exit_code == 0, fits.stdout + fits.stderr
    too_big = a.exec(["ping", "-M", "do", "-c", "1", "-W", "1", "-s", str(largest + 1),
                      str(b.ip())])
    assert too_big.exit_code != 0
    assert f"message too long, mtu={mtu}" in too_big.stderr, too_big.stderr


# -- the data path ---------------------------------------------------------------------


def test_vxlan_device_and_programmed_peers(h1, h2):
    net = overlay(h1)
    assert net.inspect()["Options"][VNI_LIST] == "4097"
    a = h1.containers.run("ca", network="ov")
    b = h2.containers.run("cb", network="ov")
    link = in_overlay_ns(h1, net, ["ip", "-d", "link", "show", "vxlan0"])
    for word in ("vxlan id 4097 ", "dstport 4789 ", "nolearning ", "proxy ", "master br0 ",
                 "mtu 1450 "):
        assert word in link, f"{word!r} missing from {link}"
    for host, remote, vtep in ((h1, b, "192.0.2.12"), (h2, a, "192.0.2.11")):
        fdb = in_overlay_ns(host, net, ["bridge", "fdb", "show", "dev", "vxlan0"])
        assert f"{remote.mac()} dst {vtep} " in fdb, fdb
        neigh = in_overlay_ns(host, net, ["ip", "neigh", "show", "dev", "vxlan0"])
        assert f"{remote.ip()} lladdr {remote.mac()} PERMANENT" in neigh, neigh
    assert ping(a, b.ip())
    gone_mac = b.mac()
    b.remove(force=True)
    fdb = in_overlay_ns(h1, net, ["bridge", "fdb", "show", "dev", "vxlan0"])
    assert f"{gone_mac} dst" not in fdb and "dst 192.0.2.12" not in fdb, fdb
    assert in_overlay_ns(h1, net, ["ip", "neigh", "show", "dev", "vxlan0"]).strip() == ""


def test_encapsulated_packet_is_vxlan_with_the_networks_vni(swarm_lab, h1, h2, tmp_path):
    lab = swarm_lab
    net = overlay(h1)
    vni = net.inspect()["Options"][VNI_LIST]
    a = h1.containers.run("ca", network="ov")
    b = h2.containers.run("cb", network="ov")
    pcap = tmp_path / "vxlan.pcap"
    capture_while(lab, "h2", ["-i", "eth0", "-w", str(pcap), "udp", "port", "4789"],
                  lambda: ping(a, b.ip()))
    fields = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|", "-e", "vxlan.vni",
         "-e", "ip.src", "-e", "ip.dst", "-e", "udp.dstport", "-e", "eth.src"],
        capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    got_vni, sources, destinations, port, macs = fields.split("|")
    assert got_vni == vni == "4097"
    assert sources.split(",") == ["192.0.2.11", str(a.ip())]
    assert destinations.split(",") == ["192.0.2.12", str(b.ip())]
    assert port == "4789"
    assert a.mac() in macs.split(",")
    verbose = subprocess.run(["tshark", "-r", str(pcap), "-V"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    assert "Virtual eXtensible Local Area Network" in verbose
    assert "VXLAN Network Identifier (VNI): 4097" in verbose


def test_removing_containers_and_networks_removes_the_overlay_namespace(h1, h2):
    net = overlay(h1)
    a = h1.containers.run("ca", network="ov")
    b = h2.containers.run("cb", network="ov")
    namespaces = {host.name: overlay_namespace(host, net) for host in (h1, h2)}
    assert all(namespaces.values())
    assert vxlan_sockets(h1) and vxlan_sockets(h2)
    control = h1.engine.swarm.control
    assert {p.host for p in control.peers(net.id)} == {"h1", "h2"}
    a.remove(force=True)
    b.remove(force=True)
    assert overlay_namespace(h1, net) is None and overlay_namespace(h2, net) is None
    assert control.peers(net.id) == []
    net.remove()
    for host in (h1, h2):
        assert net.id not in host.engine.driver("overlay")._networks
        assert not host.engine.fabric.sandbox_alive(namespaces[host.name])
        # the ingress sandbox's overlay keeps the host's VXLAN socket, as in Docker
        assert vxlan_sockets(host)


def test_a_host_can_remake_an_overlay_namespace_at_once(h1):
    """The last local container leaves (namespace retired), the next one comes at once."""
    overlay(h1)
    for i in range(5):
        h1.containers.run(f"c{i}", network="ov").remove(force=True)


def test_a_freed_vni_can_be_used_again_at_once(h1):
    for i in range(5):
        net = overlay(h1, f"ov{i}")
        assert net.inspect()["Options"][VNI_LIST] == "4097"
        h1.containers.run(f"c{i}", network=f"ov{i}").remove(force=True)
        net.remove()


def test_leaving_the_swarm_removes_ingress(swarm_lab):
    """Last: the module's swarm ends here."""
    h1, h2 = swarm_lab.host("h1"), swarm_lab.host("h2")
    assert "ingress" in {n.name for n in h2.networks.list()}
    h2.engine.swarm_leave()
    assert "ingress" not in {n.name for n in h2.networks.list()}
    assert swarm_shapes.swarm_info(h2.engine)["LocalNodeState"] == "inactive"
    h1.engine.swarm_leave(force=True)
    assert "ingress" not in {n.name for n in h1.networks.list()}
    assert "docker_gwbridge" in {n.name for n in h1.networks.list()}
    assert h1.exec(["ip", "link", "show", "docker_gwbridge"]).exit_code == 0
    with pytest.raises(err.Forbidden) as info:
        h1.networks.create("late", "overlay")
    assert info.value.message == NOT_A_MANAGER

