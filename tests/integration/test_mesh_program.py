"""The `mesh` network driver program (emulator/mesh) on real namespaces.

mesh is a separate program, so it is tested the way Docker would use it, without the
emulator's remote driver: `python -m emulator.mesh launch` runs inside each Docker
host's network namespace (CNM_PLUGIN_DIR and CNM_LAB set as the emulator sets them),
and the test speaks Docker's remote driver protocol to its plugin socket in raw
HTTP (Plugin.Activate, CreateNetwork on every host, CreateEndpoint, Join ...). It
then does what the engine does with Join's answer: moves SrcName into a container's
namespace, names it eth0, gives it its address. Verdicts come from pings between
containers on different hosts, and from what is (not) left in the host namespaces.
"""

from __future__ import annotations

import ast
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import lab_name

from emulator import Lab
from emulator.fabric.netns import Namespace
from emulator.topology import load_topology_text

TOPOLOGY = """
name: mesh
hosts:
  h1: {}
  h2: {}
  h3: {}
"""
CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
MESH = [sys.executable, "-m", "emulator.mesh"]
PREFIXES = ("mb-", "mv-", "mh-", "mc-")
NET_A = "a1" + "0" * 62
NET_B = "b2" + "0" * 62


def in_namespace(pid: int, argv: list[str], env: dict[str, str] | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
    ns = Namespace.of_pid(pid)
    try:
        with ns.entered():
            return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    finally:
        ns.close()


def eventually(condition, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def ping_once(container, address: str) -> bool:
    return container.exec(["ping", "-c", "1", "-W", "1", address]).exit_code == 0


def reaches(container, address: str, timeout: float = 10.0) -> bool:
    try:
        eventually(lambda: ping_once(container, address), timeout, f"ping {address}")
    except AssertionError:
        return False
    return True


def blocked(container, address: str) -> bool:
    """Three echo requests in one window, no answer."""
    done = container.exec(["ping", "-c", "3", "-i", "0.2", "-W", "1", address])
    return done.exit_code != 0


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=15)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Plugin:
    """Docker's side of the remote driver protocol, in raw HTTP."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def raw(self, call: str, body: object = None, method: str = "POST",
            conn: http.client.HTTPConnection | None = None):
        own = conn is None
        conn = conn or _UnixHTTP(self.path)
        if not isinstance(body, bytes):
            body = b"" if body is None else json.dumps(body).encode()
        try:
            conn.request(method, "/" + call, body, {"Content-Type": CONTENT_TYPE,
                                                    "Accept": CONTENT_TYPE})
            response = conn.getresponse()
            payload = response.read()
        finally:
            if own:
                conn.close()
        return response.status, response.getheader("Content-Type"), payload

    def call(self, call: str, body: object = None) -> dict:
        status, _, payload = self.raw(call, body)
        assert status == 200, (call, status, payload)
        return json.loads(payload)

    def ok(self, call: str, body: object = None) -> dict:
        answer = self.call(call, body)
        assert not answer.get("Err"), (call, answer)
        return answer


class MeshHost:
    def __init__(self, lab: Lab, name: str, root: Path) -> None:
        self.lab = lab
        self.name = name
        self.address = str(lab.host(name).address)
        self.pid = lab.node_pid(name)
        self.plugin_dir = root / name / "plugins"
        self.log = root / name / "mesh.log"
        self.log.parent.mkdir(parents=True)
        self.env = {**os.environ, **lab.process_env, "CNM_PLUGIN_DIR": str(self.plugin_dir)}
        self.plugin = Plugin(self.plugin_dir / "mesh.sock")
        self.containers = []

    def mesh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = in_namespace(self.pid, [*MESH, *args], self.env)
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr, self.log_text())
        return done

    def launch(self, *peers: str) -> int:
        out = self.mesh("launch", "--log", str(self.log), *peers).stdout
        assert out.startswith("mesh: launched (pid "), out
        return int(out.split("(pid ")[1].split(")")[0])

    def status(self) -> dict:
        return json.loads(self.mesh("status", "--json").stdout)

    def daemon_pid(self) -> int | None:
        try:
            return int((self.plugin_dir / "mesh.d" / "mesh.pid").read_text())
        except (OSError, ValueError):
            return None

    def peer_state(self, peer: str) -> str | None:
        for row in self.status()["peers"]:
            if row["peer"] == peer:
                return row["state"]
        return None

    def run(self, *argv: str) -> str:
        done = in_namespace(self.pid, list(argv))
        assert done.returncode == 0, (argv, done.stderr)
        return done.stdout

    def links(self) -> dict[str, dict]:
        return {link["ifname"]: link for link in json.loads(self.run("ip", "-d", "-j", "link"))}

    def mesh_links(self) -> list[str]:
        return sorted(name for name in self.links() if name.startswith(PREFIXES))

    def fdb(self, net_id: str) -> set[tuple[str, str]]:
        """(MAC, peer) entries of the network's VXLAN device."""
        out = json.loads(self.run("bridge", "-j", "fdb", "show", "dev", f"mv-{net_id[:8]}"))
        return {(e["mac"], e["dst"]) for e in out if "dst" in e}

    def log_text(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else "(no log)"

    # -- what the engine does --------------------------------------------------

    def create_network(self, net_id: str, subnet: str = "10.40.0.0/24",
                       gateway: str = "10.40.0.1/24", options: dict | None = None) -> None:
        self.plugin.ok("NetworkDriver.CreateNetwork", {
            "NetworkID": net_id,
            "Options": {"com.docker.network.generic": options or {},
                        "com.docker.network.enable_ipv6": False},
            "IPv4Data": [{"AddressSpace": "", "Pool": subnet, "Gateway": gateway,
                          "AuxAddresses": {}}],
            "IPv6Data": []})

    def container(self, name: str, net_id: str, ep_id: str, address: str,
                  mac: str = ""):
        """A container (network none) given an endpoint of the mesh network, as the
        engine would: CreateEndpoint, Join, then the interface moved in and set up."""
        container = self.lab.host(self.name).containers.run(name, network="none")
        self.containers.append(container)
        answer = self.plugin.ok("NetworkDriver.CreateEndpoint", {
            "NetworkID": net_id, "EndpointID": ep_id,
            "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": mac},
            "Options": {}})
        mac = mac or answer["Interface"]["MacAddress"]
        joined = self.plugin.ok("NetworkDriver.Join", {
            "NetworkID": net_id, "EndpointID": ep_id,
            "SandboxKey": f"/var/run/docker/netns/{container.id[:12]}", "Options": {}})
        assert joined["InterfaceName"]["DstPrefix"] == "eth"
        src = joined["InterfaceName"]["SrcName"]
        self.run("ip", "link", "set", "dev", src, "netns", str(container.pid))
        done = in_namespace(container.pid, ["sh", "-ec", f"ip link set dev {src} name eth0; "
                                            f"ip addr add {address} dev eth0; "
                                            "ip link set dev eth0 up"])
        assert done.returncode == 0, done.stderr
        container.mesh_mac = mac
        container.mesh_ip = address.split("/")[0]
        return container

    def stop(self) -> None:
        pid = self.daemon_pid()
        if pid is not None:
            done = self.mesh("stop", check=False)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"{self.name}: mesh stop left the daemon: {done}")
        for container in self.containers:
            container.remove(force=True)
        self.containers.clear()


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def endpoint_id(n: int) -> str:
    return f"{n:02d}" + "e" * 62


@pytest.fixture(scope="module")
def mesh_lab():
    with Lab(load_topology_text(TOPOLOGY), lab_name()) as running:
        yield running


@pytest.fixture
def hosts(mesh_lab, tmp_path):
    made = {name: MeshHost(mesh_lab, name, tmp_path) for name in ("h1", "h2", "h3")}
    yield made
    errors = []
    for host in made.values():
        try:
            host.stop()
        except AssertionError as exc:
            errors.append(str(exc))
        left = host.mesh_links()
        if left:
            for name in left:
                in_namespace(host.pid, ["ip", "link", "del", "dev", name])
            errors.append(f"{host.name}: devices left: {left}")
    assert not errors, errors


# -- the program -------------------------------------------------------------------------


def test_mesh_imports_nothing_else_of_the_emulator():
    package = Path(__file__).resolve().parents[2] / "emulator" / "mesh"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name == "emulator" or name.startswith("emulator."):
                    assert name.startswith("emulator.mesh") or name == "emulator.pluginhttp", \
                        f"{path.name} imports {name}"


def test_launch_needs_a_plugin_directory_and_refuses_a_second_daemon(hosts):
    h1 = hosts["h1"]
    env = {k: v for k, v in h1.env.items() if k != "CNM_PLUGIN_DIR"}
    done = in_namespace(h1.pid, [*MESH, "launch"], env)
    assert done.returncode == 1 and "CNM_PLUGIN_DIR" in done.stderr
    bad = h1.mesh("launch", "--advertise", "192.0.2.99", check=False)
    assert bad.returncode == 1 and "not an address of this host" in bad.stderr
    pid = h1.launch()
    again = h1.mesh("launch", check=False)
    assert again.returncode == 1
    assert f"already running on this host (pid {pid})" in again.stderr
    # Another plugin directory, the same host: the port is taken; nothing of the first
    # daemon is touched, nothing of the second is left.
    h1.create_network(NET_A)
    other = h1.plugin_dir.parent / "other" / "plugins"
    second = h1.mesh("launch", "--plugin-dir", str(other), check=False)
    assert second.returncode == 1 and "Address already in use" in second.stderr
    assert not other.parent.exists()
    assert _alive(pid) and h1.plugin.ok("Plugin.Activate")
    assert h1.mesh_links() == [f"mb-{NET_A[:8]}", f"mv-{NET_A[:8]}"]


def test_daemon_is_detached_in_the_host_namespace_and_keeps_cnm_lab(hosts, mesh_lab):
    h1 = hosts["h1"]
    pid = h1.launch()
    assert h1.daemon_pid() == pid
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/proc/{h1.pid}/ns/net").st_ino
    assert os.getsid(pid) == pid  # its own session
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    marker = mesh_lab.process_env["CNM_LAB"]
    assert f"CNM_LAB={marker}".encode() in environ
    listening = h1.run("ss", "-Hltn", "sport", "= :6783")
    assert f"{h1.address}:6783" in listening
    status = h1.status()
    assert status["address"] == h1.address and status["mtu"] == 1450
    assert h1.plugin.path == status["plugin"]


# -- the protocol ---------------------------------------------------------------------------


def test_plugin_answers_docker_remote_driver_calls(hosts):
    h1 = hosts["h1"]
    h1.launch()
    plugin = h1.plugin
    status, ctype, payload = plugin.raw("Plugin.Activate")  # Docker sends no body here
    assert (status, ctype) == (200, CONTENT_TYPE)
    assert json.loads(payload) == {"Implements": ["NetworkDriver"]}
    assert plugin.ok("Plugin.Activate", None) == {"Implements": ["NetworkDriver"]}
    status, _, payload = plugin.raw("Plugin.Activate", b"null\n")  # Go's encoding of nil
    assert status == 200 and json.loads(payload) == {"Implements": ["NetworkDriver"]}
    assert plugin.ok("NetworkDriver.GetCapabilities", {}) == {
        "Scope": "global", "ConnectivityScope": "global"}
    for optional in ("NetworkDriver.AllocateNetwork", "NetworkDriver.FreeNetwork",
                     "NetworkDriver.ProgramExternalConnectivity",
                     "NetworkDriver.RevokeExternalConnectivity", "Nope.Nothing"):
        assert plugin.raw(optional, {})[0] == 404, optional
    assert plugin.raw("Plugin.Activate", method="GET")[0] == 405
    chunked = _UnixHTTP(plugin.path)  # a body in chunks, no Content-Length
    chunked.request("POST", "/NetworkDriver.GetCapabilities", iter([b'{"a"', b': 1}']),
                    {"Content-Type": CONTENT_TYPE}, encode_chunked=True)
    assert json.loads(chunked.getresponse().read())["Scope"] == "global"
    chunked.close()
    assert plugin.ok("NetworkDriver.DiscoverNew", {"DiscoveryType": 1, "DiscoveryData": {
        "Address": h1.address, "BindAddress": h1.address, "Self": True}}) == {}
    assert plugin.ok("NetworkDriver.DiscoverDelete", {"DiscoveryType": 1,
                                                      "DiscoveryData": {}}) == {}

    # Errors: 200 with Err, nothing made.
    assert "not found" in plugin.call("NetworkDriver.CreateEndpoint", {
        "NetworkID": NET_A, "EndpointID": endpoint_id(1), "Interface": {}})["Err"]
    assert plugin.call("NetworkDriver.CreateNetwork", {"NetworkID": "../x"})["Err"]
    status, _, payload = plugin.raw("NetworkDriver.CreateNetwork", None)
    assert status == 200 and json.loads(payload)["Err"]
    status, _, payload = plugin.raw("NetworkDriver.Join", [1, 2])
    assert status == 200 and "JSON object" in json.loads(payload)["Err"]
    assert h1.mesh_links() == []

    # Networks: created (idempotently), with the VNI and MTU asked for.
    h1.create_network(NET_A)
    h1.create_network(NET_A)
    h1.create_network(NET_B, options={"com.docker.network.driver.mtu": "1400"})
    links = h1.links()
    for net, vni, mtu in ((NET_A, 0xA10000, 1450), (NET_B, 0xB20000, 1400)):
        vxlan, bridge = links[f"mv-{net[:8]}"], links[f"mb-{net[:8]}"]
        data = vxlan["linkinfo"]["info_data"]
        assert (data["id"], data["port"], data["learning"]) == (vni, 6784, False)
        assert data["local"] == h1.address
        assert vxlan["master"] == bridge["ifname"] and vxlan["mtu"] == mtu
        assert bridge["linkinfo"]["info_kind"] == "bridge"
    assert "MTU" in plugin.call("NetworkDriver.CreateNetwork", {
        "NetworkID": "c3" + "0" * 62,
        "Options": {"com.docker.network.generic": {"com.docker.network.driver.mtu": "9000"}}
    })["Err"]

    # Endpoints: the MAC given is kept; none given, one is made and returned.
    given = "02:42:0a:28:00:02"
    assert plugin.ok("NetworkDriver.CreateEndpoint", {
        "NetworkID": NET_A, "EndpointID": endpoint_id(1),
        "Interface": {"Address": "10.40.0.2/24", "AddressIPv6": "", "MacAddress": given},
        "Options": {}}) == {"Interface": {}}
    made = plugin.ok("NetworkDriver.CreateEndpoint", {
        "NetworkID": NET_A, "EndpointID": endpoint_id(2),
        "Interface": {"Address": "10.40.0.3/24", "AddressIPv6": "", "MacAddress": ""},
        "Options": {}})["Interface"]["MacAddress"]
    assert int(made.split(":")[0], 16) & 0b11 == 0b10  # unicast, locally administered
    assert plugin.ok("NetworkDriver.EndpointOperInfo", {
        "NetworkID": NET_A, "EndpointID": endpoint_id(1)}) == {"Value": {}}

    # Join on one kept-alive connection, as Docker's client reuses connections.
    conn = _UnixHTTP(plugin.path)
    answers = []
    for n in (1, 2):
        status, _, payload = plugin.raw("NetworkDriver.Join", {
            "NetworkID": NET_A, "EndpointID": endpoint_id(n), "SandboxKey": "/x",
            "Options": {}}, conn=conn)
        assert status == 200
        answers.append(json.loads(payload))
    conn.close()
    assert answers[0] == {"InterfaceName": {"SrcName": f"mc-{endpoint_id(1)[:10]}",
                                            "DstPrefix": "eth"},
                          "StaticRoutes": [], "DisableGatewayService": True}
    links = h1.links()
    src, host_end = links[f"mc-{endpoint_id(1)[:10]}"], links[f"mh-{endpoint_id(1)[:10]}"]
    assert src["address"] == given and links[f"mc-{endpoint_id(2)[:10]}"]["address"] == made
    assert host_end["master"] == f"mb-{NET_A[:8]}" and "UP" in host_end["flags"]
    assert src["mtu"] == host_end["mtu"] == 1450
    assert "Err" in plugin.call("NetworkDriver.Join", {
        "NetworkID": NET_A, "EndpointID": endpoint_id(9), "SandboxKey": "/x"})

    # Leave deletes the veth; DeleteEndpoint and DeleteNetwork what is left.
    plugin.ok("NetworkDriver.Leave", {"NetworkID": NET_A, "EndpointID": endpoint_id(1)})
    assert f"mh-{endpoint_id(1)[:10]}" not in h1.links()
    plugin.ok("NetworkDriver.Leave", {"NetworkID": NET_A, "EndpointID": endpoint_id(1)})
    plugin.ok("NetworkDriver.DeleteEndpoint", {"NetworkID": NET_A, "EndpointID": endpoint_id(1)})
    plugin.ok("NetworkDriver.DeleteNetwork", {"NetworkID": NET_A})  # endpoint 2 still joined
    plugin.ok("NetworkDriver.DeleteNetwork", {"NetworkID": NET_A})
    assert h1.mesh_links() == [f"mb-{NET_B[:8]}", f"mv-{NET_B[:8]}"]
    plugin.ok("NetworkDriver.DeleteNetwork", {"NetworkID": NET_B})
    assert h1.mesh_links() == []


# -- the data plane ------------------------------------------------------------------------


def test_containers_on_two_hosts_reach_each_other(hosts):
    h1, h2 = hosts["h1"], hosts["h2"]
    h1.launch()
    h2.launch(h1.address)
    for host in (h1, h2):
        host.create_network(NET_A)
    c1 = h1.container("mc1", NET_A, endpoint_id(1), "10.40.0.2/24", "02:42:0a:28:00:02")
    c2 = h2.container("mc2", NET_A, endpoint_id(2), "10.40.0.3/24")
    assert reaches(c1, c2.mesh_ip), h1.log_text()
    assert reaches(c2, c1.mesh_ip)
    # Unicast only: broadcasts to every peer, each endpoint's MAC to its own host.
    assert {("00:00:00:00:00:00", h2.address), (c2.mesh_mac, h2.address)} <= h1.fdb(NET_A)
    assert {("00:00:00:00:00:00", h1.address), (c1.mesh_mac, h1.address)} <= h2.fdb(NET_A)
    # Full-size packets fit: the interfaces' MTU leaves room for VXLAN.
    big = c1.exec(["ping", "-c", "1", "-W", "2", "-M", "do", "-s", str(1450 - 28), c2.mesh_ip])
    assert big.exit_code == 0, big.stdout
    status = h1.status()
    assert [(p["peer"], p["state"]) for p in status["peers"]] == [(h2.address, "established")]
    remote = [r for r in status["endpoints"] if not r["local"]]
    assert [(r["endpoint"], r["mac"], r["ip"], r["peer"]) for r in remote] == [
        (endpoint_id(2), c2.mesh_mac, "10.40.0.3/24", h2.address)]
    table = h1.mesh("status").stdout
    assert "PEER" in table and h2.address in table and "established" in table


def test_mesh_networks_are_isolated(hosts):
    h1, h2 = hosts["h1"], hosts["h2"]
    h1.launch(h2.address)
    h2.launch(h1.address)
    for host in (h1, h2):
        host.create_network(NET_A)
        host.create_network(NET_B)  # the same subnet: only the network can keep them apart
    a1 = h1.container("ia1", NET_A, endpoint_id(1), "10.40.0.2/24")
    a2 = h2.container("ia2", NET_A, endpoint_id(2), "10.40.0.3/24")
    b1 = h1.container("ib1", NET_B, endpoint_id(3), "10.40.0.4/24")
    b2 = h2.container("ib2", NET_B, endpoint_id(4), "10.40.0.5/24")
    assert reaches(a1, a2.mesh_ip) and reaches(b2, b1.mesh_ip)
    assert blocked(a1, b2.mesh_ip) and blocked(a1, b1.mesh_ip)
    assert blocked(b2, a2.mesh_ip) and blocked(b1, a2.mesh_ip)
    links = h1.links()
    assert (links[f"mv-{NET_A[:8]}"]["linkinfo"]["info_data"]["id"]
            != links[f"mv-{NET_B[:8]}"]["linkinfo"]["info_data"]["id"])


def test_endpoints_of_a_network_not_yet_created_here_are_kept_and_applied(hosts):
    """Global scope: h1's engine made the network; h2 gets CreateNetwork later."""
    h1, h2 = hosts["h1"], hosts["h2"]
    h1.launch()
    h2.launch(h1.address)
    h1.create_network(NET_A)
    c1 = h1.container("gc1", NET_A, endpoint_id(1), "10.40.0.2/24")
    eventually(lambda: any(r["endpoint"] == endpoint_id(1) for r in h2.status()["endpoints"]),
               what="h2 to hear of h1's endpoint")
    assert f"mv-{NET_A[:8]}" not in h2.links()
    assert "(not here)" in h2.mesh("status").stdout
    h2.create_network(NET_A)
    assert (c1.mesh_mac, h1.address) in h2.fdb(NET_A)  # at once, from what it kept
    c2 = h2.container("gc2", NET_A, endpoint_id(2), "10.40.0.3/24")
    assert reaches(c2, c1.mesh_ip) and reaches(c1, c2.mesh_ip)


def test_connect_peers_running_daemons(hosts):
    h1, h2 = hosts["h1"], hosts["h2"]
    h1.launch()
    h2.launch()
    for host in (h1, h2):
        host.create_network(NET_A)
    c1 = h1.container("kc1", NET_A, endpoint_id(1), "10.40.0.2/24")
    c2 = h2.container("kc2", NET_A, endpoint_id(2), "10.40.0.3/24")
    assert blocked(c1, c2.mesh_ip)
    assert h1.status()["peers"] == []
    out = h1.mesh("connect", h2.address).stdout
    assert out.strip() == f"mesh: connected to {h2.address}"
    assert reaches(c1, c2.mesh_ip) and reaches(c2, c1.mesh_ip)
    assert h2.peer_state(h1.address) == "established"
    # A peer that is not there: the command says so; the daemon keeps trying.
    done = h1.mesh("connect", "--timeout", "1", "192.0.2.99", check=False)
    assert done.returncode == 1 and "keeps trying" in done.stderr
    assert h1.peer_state("192.0.2.99") in ("connecting", "retrying")


def test_peers_learn_the_peers_of_their_peers(hosts):
    h1, h2, h3 = hosts["h1"], hosts["h2"], hosts["h3"]
    h1.launch()
    h2.launch(h1.address)
    h3.launch(h2.address)  # knows only h2; learns h1 from it
    eventually(lambda: h1.peer_state(h3.address) == "established"
               and h3.peer_state(h1.address) == "established", what="h1 and h3 to connect")
    for host in (h1, h2, h3):
        host.create_network(NET_A)
    c1 = h1.container("tc1", NET_A, endpoint_id(1), "10.40.0.2/24")
    c3 = h3.container("tc3", NET_A, endpoint_id(3), "10.40.0.4/24")
    assert reaches(c1, c3.mesh_ip) and reaches(c3, c1.mesh_ip)
    assert (c3.mesh_mac, h3.address) in h1.fdb(NET_A)
    assert (c3.mesh_mac, h3.address) in h2.fdb(NET_A)


def test_leave_withdraws_the_endpoint_from_the_peers(hosts):
    h1, h2 = hosts["h1"], hosts["h2"]
    h1.launch()
    h2.launch(h1.address)
    for host in (h1, h2):
        host.create_network(NET_A)
    c1 = h1.container("lc1", NET_A, endpoint_id(1), "10.40.0.2/24")
    c2 = h2.container("lc2", NET_A, endpoint_id(2), "10.40.0.3/24")
    assert reaches(c1, c2.mesh_ip)
    h2.plugin.ok("NetworkDriver.Leave", {"NetworkID": NET_A, "EndpointID": endpoint_id(2)})
    assert "eth0" not in c2.exec(["ip", "-o", "link"]).stdout  # the veth went with Leave
    eventually(lambda: (c2.mesh_mac, h2.address) not in h1.fdb(NET_A),
               what="h1 to drop the entry of h2's endpoint")
    assert ("00:00:00:00:00:00", h2.address) in h1.fdb(NET_A)
    h2.plugin.ok("NetworkDriver.DeleteEndpoint", {"NetworkID": NET_A,
                                                  "EndpointID": endpoint_id(2)})
    h2.plugin.ok("NetworkDriver.DeleteNetwork", {"NetworkID": NET_A})
    assert h2.mesh_links() == []


# -- stopping ------------------------------------------------------------------------------


def _mesh_world(hosts):
    h1, h2 = hosts["h1"], hosts["h2"]
    h1.launch()
    h2.launch(h1.address)
    for host in (h1, h2):
        host.create_network(NET_A)
        host.create_network(NET_B)
    c1 = h1.container("sc1", NET_A, endpoint_id(1), "10.40.0.2/24")
    c2 = h2.container("sc2", NET_A, endpoint_id(2), "10.40.0.3/24")
    assert reaches(c1, c2.mesh_ip)
    assert len(h1.mesh_links()) == 5  # 2 bridges, 2 VXLANs, 1 host end of a veth
    return h1, h2, c1, c2


def _assert_gone(host: MeshHost, pid: int) -> None:
    eventually(lambda: not _alive(pid), what=f"{host.name}'s daemon to exit")
    assert host.mesh_links() == []
    assert not (host.plugin_dir / "mesh.sock").exists()
    assert not (host.plugin_dir / "mesh.d").exists()
    assert not host.plugin_dir.exists()  # launch made it, so stop removed it


def test_stop_removes_everything_and_the_peers_notice(hosts):
    h1, h2, c1, c2 = _mesh_world(hosts)
    pid = h2.daemon_pid()
    out = h2.mesh("stop").stdout
    assert out.strip() == f"mesh: stopped (pid {pid})"
    _assert_gone(h2, pid)
    assert "eth0" not in c2.exec(["ip", "-o", "link"]).stdout
    # h1 heard it leave: no more entries towards it, and (known only by gossip) forgotten.
    eventually(lambda: h1.fdb(NET_A) == set(), what="h1 to drop h2's entries")
    assert h1.peer_state(h2.address) is None
    assert blocked(c1, c2.mesh_ip)
    assert "not running" in h2.mesh("status", check=False).stderr


def test_sigterm_cleans_up_like_stop(hosts):
    h1, h2, _, _ = _mesh_world(hosts)
    pid = h1.daemon_pid()
    os.kill(pid, signal.SIGTERM)
    _assert_gone(h1, pid)
    # h2 asked for h1 (launch argument): it keeps trying to reach it.
    eventually(lambda: h2.peer_state(h1.address) in ("stopped", "retrying", "connecting"),
               what="h2 to see h1 stop")
    assert h2.fdb(NET_A) == set()


def test_stop_after_a_killed_daemon_removes_what_it_left(hosts):
    h1, _, _, _ = _mesh_world(hosts)
    pid = h1.daemon_pid()
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not _alive(pid), what="the daemon to die")
    assert len(h1.mesh_links()) == 5
    out = h1.mesh("stop").stdout
    assert out.startswith("mesh: not running; removed what it left:"), out
    assert h1.mesh_links() == []
    assert not (h1.plugin_dir / "mesh.sock").exists()
    # and it can be launched again at once
    h1.launch()
