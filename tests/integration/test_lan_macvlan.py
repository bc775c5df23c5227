"""The emulated physical LAN and the macvlan driver on the real kernel, judged by packets.

Two labs of their own: a promiscuous LAN (h1, h2, DHCP hosts vm1 and vm2, a server
with a fixed address) and a small port-security LAN (h1, vm1, srv). Every Docker
host is plugged into the LAN switch through eth1; the router at .1 runs dnsmasq.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest
from cliresults import docker_env as cli_env
from conftest import TCP_PROBE, lab_name, links_of, machine_snapshot, ping, tcp_reaches

from emulator import Lab
from emulator.errdefs import DockerError
from emulator.fabric.netns import Namespace
from emulator.fabric.processes import ProcessId
from emulator.lab.cleanup import marked_processes
from emulator.probes.conflicts import scan_conflicts
from emulator.probes.rfc5227 import Timings, probe_address
from emulator.topology import load_topology_text

LAN_SUBNET = IPv4Network("198.51.100.0/24")
ROUTER = IPv4Address("198.51.100.1")
SRV = IPv4Address("198.51.100.10")
POOL_FIRST, POOL_LAST = IPv4Address("198.51.100.100"), IPv4Address("198.51.100.199")
H1_RANGE = IPv4Network("198.51.100.128/27")
H2_RANGE = IPv4Network("198.51.100.160/27")
DOCKER = shutil.which("docker") or "docker"
needs_docker_cli = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")

LAN_TOPOLOGY = """
name: lan
hosts:
  h1: {}
  h2: {}
lan:
  hosts:
    vm1: {}
    vm2: {}
    srv: {address: 198.51.100.10}
"""

PORT_SECURITY_TOPOLOGY = """
name: lanps
hosts:
  h1: {}
lan:
  mode: port-security
  hosts:
    vm1: {}
    srv: {address: 198.51.100.10}
"""


# -- helpers -------------------------------------------------------------------


def node_ping(lab: Lab, node: str, address) -> bool:
    return lab.node_exec(node, ["ping", "-c", "1", "-W", "1", str(address)])[0] == 0


def node_tcp_reaches(lab: Lab, node: str, address, port: int = 9) -> bool:
    """A TCP SYN from a lab node that gets any answer (SYN-ACK or RST)."""
    _, out = lab.node_exec(node, ["python3", "-c", TCP_PROBE, str(address), str(port)])
    return out.split()[0] in ("open", "refused")


def node_addresses(lab: Lab, node: str, interface: str = "eth0") -> list[IPv4Interface]:
    code, out = lab.node_exec(node, ["ip", "-4", "-o", "addr", "show", "dev", interface])
    assert code == 0, out
    return [IPv4Interface(line.split()[3]) for line in out.splitlines() if line.strip()]


def node_mac(lab: Lab, node: str, interface: str = "eth0") -> str:
    code, out = lab.node_exec(node, ["ip", "-o", "link", "show", "dev", interface])
    assert code == 0, out
    return out.split("link/ether ")[1].split()[0]


def container_mac(container, interface: str = "eth0") -> str:
    out = container.exec(["ip", "-o", "link", "show", "dev", interface]).stdout
    return out.split("link/ether ")[1].split()[0]


def lease_of(lab: Lab, name: str):
    (lease,) = [lease for lease in lab.leases() if lease.hostname == name]
    return lease


def macvlan(host, name: str = "lan", ip_range: IPv4Network | None = H1_RANGE,
            mode: str | None = None, internal: bool = False):
    options = {"parent": "eth1"}
    if mode is not None:
        options["macvlan_mode"] = mode
    return host.networks.create(name, driver="macvlan", subnet=str(LAN_SUBNET),
                                gateway=str(ROUTER),
                                ip_range=None if ip_range is None else str(ip_range),
                                internal=internal, options=options)


def endpoint_mac(network, container) -> str:
    return network.inspect()["Containers"][container.id]["MacAddress"]


def parent_promiscuity(lab: Lab, host: str, parent: str = "eth1") -> int:
    _, out = lab.node_exec(host, ["ip", "-d", "link", "show", "dev", parent])
    return int(re.search(r"promiscuity (\d+)", out).group(1))


def assert_parent_idle(lab: Lab, host: str) -> None:
    """No MACVLAN is left on the host's eth1 (each open one makes it promiscuous) as soon
    as the containers are gone: the driver deletes them before it answers, as dockerd."""
    assert parent_promiscuity(lab, host) == 0, f"{host}'s eth1 still has MACVLANs"


def reset(lab: Lab, host) -> None:
    engine = host.engine
    engine.remove_containers(list(engine.containers), force=True)
    for network in list(engine.networks.values()):
        if not network.predefined:
            engine.remove_network(network.id)
    assert_parent_idle(lab, host.name)


# -- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lan():
    """A promiscuous LAN: h1 (eth1 .11), h2 (.12), router .1, vm1 and vm2 by DHCP, srv .10."""
    with Lab(load_topology_text(LAN_TOPOLOGY), lab_name()) as running:
        yield running


@pytest.fixture
def h1(lan):
    host = lan.host("h1")
    yield host
    reset(lan, host)


@pytest.fixture
def h2(lan):
    host = lan.host("h2")
    yield host
    reset(lan, host)


@pytest.fixture(scope="module")
def ps_lan():
    with Lab(load_topology_text(PORT_SECURITY_TOPOLOGY), lab_name()) as running:
        yield running


@pytest.fixture
def ps_h1(ps_lan):
    host = ps_lan.host("h1")
    yield host
    reset(ps_lan, host)


@pytest.fixture(scope="module")
def docker_env(lan, tmp_path_factory):
    return cli_env(lan.docker_host_url("h1"), tmp_path_factory.mktemp("docker-config"))


@pytest.fixture
def docker(h1, docker_env):
    """Run `docker ARGS...` against the LAN lab's h1; h1 is reset after the test."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=docker_env, capture_output=True, text=True,
                              timeout=60)

    return run


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


# -- the LAN and DHCP ----------------------------------------------------------


def test_dhcp_hosts_hold_one_pool_address_each_equal_to_their_lease(lan):
    leases = lan.leases()
    assert sorted(lease.hostname for lease in leases) == ["vm1", "vm2"]
    assert len({lease.address for lease in leases}) == 2
    for name in ("vm1", "vm2"):
        lease = lease_of(lan, name)
        (address,) = node_addresses(lan, name)
        assert address.network == LAN_SUBNET
        assert POOL_FIRST <= address.ip <= POOL_LAST
        assert address.ip == lease.address
        assert node_mac(lan, name) == lease.mac
        code, out = lan.node_exec(name, ["ip", "-4", "-o", "addr", "show"])
        assert [line.split()[1] for line in out.splitlines()] == ["lo", "eth0"]
        assert lan.node_exec(name, ["ip", "route", "show", "default"])[1].startswith(
            f"default via {ROUTER} dev eth0")
        assert node_ping(lan, name, ROUTER)
        assert node_ping(lan, "router", address.ip)


def test_fixed_lan_host_has_its_address_and_no_lease(lan):
    assert node_addresses(lan, "srv") == [IPv4Interface(f"{SRV}/24")]
    mac = node_mac(lan, "srv")
    assert all(lease.mac != mac and lease.hostname != "srv" for lease in lan.leases())
    assert all(lease.address != SRV for lease in lan.leases())
    assert node_ping(lan, "srv", ROUTER) and node_ping(lan, "router", SRV)
    assert node_tcp_reaches(lan, "srv", lease_of(lan, "vm1").address)


def test_docker_hosts_join_the_lan_through_eth1(lan):
    assert node_addresses(lan, "h1", "eth1") == [IPv4Interface("198.51.100.11/24")]
    assert node_addresses(lan, "h2", "eth1") == [IPv4Interface("198.51.100.12/24")]
    assert node_ping(lan, "h1", ROUTER) and node_ping(lan, "h2", SRV)
    assert node_ping(lan, "vm1", "198.51.100.11")


# -- macvlan networks ----------------------------------------------------------


def test_macvlan_container_takes_an_ip_range_address_and_the_router_as_gateway(h1):
    net = macvlan(h1)
    c = h1.containers.run("mv1", network="lan")
    assert c.ip() in H1_RANGE
    assert links_of(c.exec(["ip", "-br", "link"]).stdout) == ["eth0", "lo"]
    assert "macvlan mode bridge" in c.exec(["ip", "-d", "link", "show", "eth0"]).stdout
    assert c.exec(["ip", "route", "show", "default"]).stdout.startswith(
        f"default via {ROUTER} dev eth0")
    config = net.inspect()["IPAM"]["Config"]
    assert config == [{"Subnet": str(LAN_SUBNET), "Gateway": str(ROUTER),
                       "IPRange": str(H1_RANGE)}]
    assert container_mac(c) == endpoint_mac(net, c)


def test_macvlan_container_and_lan_hosts_reach_each_other(lan, h1):
    macvlan(h1)
    c = h1.containers.run("mv1", network="lan")
    vm1 = lease_of(lan, "vm1").address
    for target in (ROUTER, SRV, vm1):
        assert ping(c, target), target
        assert tcp_reaches(c, target), target
    for node in ("router", "srv", "vm1", "vm2"):
        assert node_ping(lan, node, c.ip()), node
    assert node_tcp_reaches(lan, "vm2", c.ip())


def test_macvlan_containers_on_two_hosts_reach_each_other_over_the_lan(h1, h2):
    macvlan(h1, ip_range=H1_RANGE)
    macvlan(h2, ip_range=H2_RANGE)
    a = h1.containers.run("on-h1", network="lan")
    b = h2.containers.run("on-h2", network="lan")
    assert a.ip() in H1_RANGE and b.ip() in H2_RANGE
    assert ping(a, b.ip()) and ping(b, a.ip())
    assert tcp_reaches(a, b.ip()) and tcp_reaches(b, a.ip(), 80)


def test_the_parent_host_cannot_reach_its_own_macvlan_container_another_host_can(lan, h1):
    macvlan(h1)
    c = h1.containers.run("mv1", network="lan")
    assert ping(c, ROUTER)
    assert not node_ping(lan, "h1", c.ip())
    assert not ping(c, "198.51.100.11"), "nor the container its own host's eth1 address"
    assert node_ping(lan, "h2", c.ip())
    assert ping(c, "198.51.100.12")


def test_internal_macvlan_network_has_no_default_route(h1):
    net = macvlan(h1, internal=True)
    c = h1.containers.run("mv1", network="lan")
    assert c.ip() in H1_RANGE
    assert c.exec(["ip", "route", "show", "default"]).stdout == ""
    assert net.inspect()["Internal"] is True


# -- macvlan modes -------------------------------------------------------------


@pytest.mark.parametrize(("mode", "siblings_reach"),
                         [("bridge", True), ("private", False), ("vepa", False)])
def test_mode_decides_whether_siblings_on_one_host_reach_each_other(lan, h1, mode,
                                                                     siblings_reach):
    """bridge: the MACVLANs switch between themselves; private: never; vepa: only through
    the external switch, and the LAN switch does no hairpin."""
    net = macvlan(h1, mode=mode)
    a = h1.containers.run("ca", network="lan")
    b = h1.containers.run("cb", network="lan")
    assert f"macvlan mode {mode}" in a.exec(["ip", "-d", "link", "show", "eth0"]).stdout
    assert ping(a, b.ip()) is siblings_reach and ping(b, a.ip()) is siblings_reach
    assert tcp_reaches(a, b.ip()) is siblings_reach
    for c in (a, b):
        assert ping(c, ROUTER) and ping(c, SRV)
        assert node_ping(lan, "vm1", c.ip())
        assert container_mac(c) == endpoint_mac(net, c)


def test_passthru_takes_the_whole_parent(lan, h1):
    net = macvlan(h1, mode="passthru")
    first = h1.containers.run("ca", network="lan")
    assert "macvlan mode passthru" in first.exec(["ip", "-d", "link", "show", "eth0"]).stdout
    assert ping(first, ROUTER) and ping(first, SRV)
    assert node_ping(lan, "vm1", first.ip())

    with pytest.raises(DockerError) as second:
        h1.containers.run("cb", network="lan")
    assert second.value.message.startswith("failed to create the macvlan port: ")

    with pytest.raises(DockerError) as another:
        h1.networks.create("lan2", driver="macvlan", subnet="203.0.113.0/24",
                           options={"parent": "eth1"})
    assert another.value.message == (
        f"macvlan network {net.id} is already using parent interface eth1 in mode passthru")
    assert [n.name for n in h1.networks.list() if n.name.startswith("lan")] == ["lan"]
    assert ping(first, ROUTER), "the refusals disturbed nothing running"


def test_passthru_is_refused_on_a_parent_already_in_use(h1):
    net = macvlan(h1, mode="bridge")
    c = h1.containers.run("ca", network="lan")
    with pytest.raises(DockerError) as refused:
        h1.networks.create("lan2", driver="macvlan", subnet="203.0.113.0/24",
                           options={"parent": "eth1", "macvlan_mode": "passthru"})
    assert refused.value.message == (
        f"cannot use mode passthru, macvlan network {net.id} is already using parent "
        "interface eth1")
    assert ping(c, ROUTER)


def test_passthru_container_has_the_mac_docker_reports(h1):
    net = macvlan(h1, mode="passthru")
    c = h1.containers.run("ca", network="lan")
    assert container_mac(c) == endpoint_mac(net, c)


def test_a_removed_macvlan_container_frees_its_parent_at_once(h1):
    macvlan(h1, mode="bridge")
    h1.containers.run("ca", network="lan").remove(force=True)
    h1.networks.remove("lan")
    macvlan(h1, mode="passthru")
    c = h1.containers.run("cb", network="lan")
    assert ping(c, ROUTER)


# -- the docker CLI ------------------------------------------------------------


@needs_docker_cli
def test_docker_cli_creates_a_macvlan_network_and_connects_a_container(lan, docker):
    ok(docker("network", "create", "-d", "macvlan", "--subnet", "198.51.100.0/24",
              "-o", "parent=eth1", "lan"))
    (network,) = json.loads(ok(docker("network", "inspect", "lan")))
    assert network["Driver"] == "macvlan" and network["Options"] == {"parent": "eth1"}
    assert network["IPAM"]["Config"][0]["Subnet"] == "198.51.100.0/24"
    assert ok(docker("network", "ls", "--filter", "driver=macvlan", "--format",
                     "{{.Name}} {{.Driver}}")) == "lan macvlan\n"

    ok(docker("create", "--name", "cli-mv", "alpine", "sleep", "infinity"))
    assert ok(docker("network", "connect", "lan", "cli-mv")) == ""
    assert ok(docker("start", "cli-mv")) == "cli-mv\n"
    address = ok(docker("inspect", "-f", '{{(index .NetworkSettings.Networks "lan")'
                                         ".IPAddress}}", "cli-mv")).strip()
    assert IPv4Address(address) in LAN_SUBNET
    (network,) = json.loads(ok(docker("network", "inspect", "lan")))
    assert [c["Name"] for c in network["Containers"].values()] == ["cli-mv"]
    assert docker("exec", "cli-mv", "ping", "-c", "1", "-W", "1", str(SRV)).returncode == 0
    assert node_ping(lan, "vm1", address)


@needs_docker_cli
@pytest.mark.parametrize(("option", "message"), [
    ("parent=lo", "loopback interface is not a valid macvlan parent link"),
    ("macvlan_mode=bogus",
     "requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver "
     "default"),
    ("parent=eth1.10", "failed to create eth1.10 vlan link: "),
])
def test_docker_cli_refuses_bad_macvlan_options_with_dockers_message(docker, option, message):
    args = ["network", "create", "-d", "macvlan", "--subnet", "198.51.100.0/24"]
    if not option.startswith("parent="):
        args += ["-o", "parent=eth1"]
    refused = docker(*args, "-o", option, "badlan")
    assert refused.returncode != 0
    assert refused.stderr.startswith(f"Error response from daemon: {message}"), refused.stderr
    if option == "parent=eth1.10":
        assert "8021q" in refused.stderr, "names what this kernel lacks"
    assert "badlan" not in ok(docker("network", "ls", "--format", "{{.Name}}")).split()


# -- port security -------------------------------------------------------------


def test_port_security_lan_hosts_and_router_still_reach_each_other(ps_lan):
    vm1 = lease_of(ps_lan, "vm1").address
    assert node_ping(ps_lan, "vm1", ROUTER) and node_ping(ps_lan, "router", vm1)
    assert node_ping(ps_lan, "srv", vm1) and node_ping(ps_lan, "vm1", SRV)
    assert node_tcp_reaches(ps_lan, "srv", ROUTER)
    assert node_ping(ps_lan, "h1", ROUTER), "the Docker host's own NIC is admitted"


def test_port_security_drops_macvlan_containers_both_ways(ps_lan, ps_h1):
    macvlan(ps_h1)
    c = ps_h1.containers.run("mv1", network="lan")
    vm1 = lease_of(ps_lan, "vm1").address
    for target in (ROUTER, SRV, vm1):
        assert not ping(c, target), target
    assert not tcp_reaches(c, ROUTER) and not tcp_reaches(c, SRV)
    for node in ("router", "srv", "vm1"):
        assert not node_ping(ps_lan, node, c.ip()), node
    assert node_ping(ps_lan, "h1", ROUTER), "the host's own traffic still passes"


def test_port_security_leaves_bridge_containers_reaching_the_outside(ps_lan, ps_h1):
    macvlan(ps_h1)
    ps_h1.containers.run("mv1", network="lan")
    b = ps_h1.containers.run("br1")
    assert ping(b, ps_lan.outside_address)
    assert tcp_reaches(b, ps_lan.outside_address)


# -- duplicate addresses -------------------------------------------------------


def stage_duplicate(h1):
    """A macvlan container given srv's address, and one on a free address of its range."""
    net = macvlan(h1)
    dup = h1.containers.run("dup", network="lan", ip=str(SRV))
    free = h1.containers.run("free", network="lan")
    assert dup.ip() == SRV and free.ip() in H1_RANGE
    return net, dup, free


def test_conflict_scan_finds_exactly_the_duplicate(lan, h1):
    net, dup, free = stage_duplicate(h1)
    vm1, vm2 = lease_of(lan, "vm1"), lease_of(lan, "vm2")
    expected = {
        SRV: {node_mac(lan, "srv"), endpoint_mac(net, dup)},
        free.ip(): {endpoint_mac(net, free)},
        vm1.address: {vm1.mac},
        vm2.address: {vm2.mac},
        IPv4Address("198.51.100.11"): {node_mac(lan, "h1", "eth1")},
        IPv4Address("198.51.100.12"): {node_mac(lan, "h2", "eth1")},
    }
    assert container_mac(dup) == endpoint_mac(net, dup)
    scan = scan_conflicts(lan.node_pid("router"), "eth0", list(expected), window=0.3)
    assert [c.address for c in scan.conflicts] == [SRV]
    assert set(scan.conflicts[0].macs) == expected[SRV]
    assert scan.owners() == expected


def test_arping_dad_and_rfc5227_probe_agree_with_the_scan(lan, h1):
    net, dup, _ = stage_duplicate(h1)
    dup_mac = endpoint_mac(net, dup)
    code, out = lan.node_exec("srv", ["arping", "-D", "-c", "2", "-w", "3", "-I", "eth0",
                                      str(SRV)])
    assert code == 1, out
    assert f"[{dup_mac.upper()}]" in out
    vm1 = lease_of(lan, "vm1").address
    code, out = lan.node_exec("vm1", ["arping", "-D", "-c", "2", "-w", "3", "-I", "eth0",
                                      str(vm1)])
    assert code == 0, out

    fast = Timings(probe_wait=0.05, probe_num=2, probe_min=0.05, probe_max=0.1,
                   announce_wait=0.2)
    mine = probe_address(lan.node_pid("srv"), "eth0", SRV, fast, random.Random(5227))
    assert mine.conflict and mine.macs == (dup_mac,)
    assert mine.probes_sent == 2
    seen = probe_address(lan.node_pid("router"), "eth0", SRV, fast, random.Random(5227))
    assert set(seen.macs) == {dup_mac, node_mac(lan, "srv")}
    clear = probe_address(lan.node_pid("vm1"), "eth0", vm1, fast, random.Random(5227))
    assert not clear.conflict and clear.macs == ()


# -- cleanup -------------------------------------------------------------------


def lab_processes(name: str) -> list[ProcessId]:
    return [proc for _, proc in marked_processes(f"CNM_LAB={name}.".encode())]


def comm(proc: ProcessId) -> str:
    try:
        with open(f"/proc/{proc.pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_a_stopped_lan_lab_leaves_no_namespace_link_or_process():
    before = machine_snapshot()
    lab = Lab(load_topology_text(PORT_SECURITY_TOPOLOGY), lab_name())
    with lab:
        host = lab.host("h1")
        macvlan(host)
        host.containers.run("mv1", network="lan")
        # two dnsmasqs: the router's DHCP server and the outside host's DNS server
        where = {}
        for proc in lab_processes(lab.name):
            if comm(proc) == "dnsmasq":
                ns = Namespace.of_pid(proc.pid)
                where[ns.inode] = proc
                ns.close()
        nodes = {}
        for node in ("router", "outside"):
            ns = Namespace.of_pid(lab.node_pid(node))
            nodes[node] = ns.inode
            ns.close()
        assert set(where) == set(nodes.values()), "one dnsmasq on the router, one on outside"
        dnsmasq = [where[nodes["router"]], where[nodes["outside"]]]
        assert not [p for p in lab_processes(lab.name) if comm(p) == "udhcpc"]
        run_dir = lab.run_dir.path
        assert (run_dir / "lan" / "dnsmasq.leases").exists()
    assert not any(proc.alive() for proc in dnsmasq)
    assert lab_processes(lab.name) == []
    assert not run_dir.exists()
    after = machine_snapshot()
    assert after["netns"] == before["netns"]
    assert after["links"] == before["links"]
    assert after["nft"] == before["nft"]
    lab.stop()  # idempotent
