"""Network options of `docker run` on the real kernel, through the docker CLI, next to a
real dockerd 20.10 in the same lab where it is cheap to compare.

h1 and h3 are emulated Docker hosts, h2 runs Debian's dockerd 20.10 (`engine: docker`);
all are on the lab's LAN (eth1), so macvlan networks have a parent. Checked as a user
would: the MAC a container's interface has (--mac-address on bridge, macvlan and
overlay, and per endpoint through the API's connect), /etc/hosts and names after
--link on the default bridge and on a user-defined network, `inspect`'s top-level
NetworkSettings for the default bridge, and Docker's refusals of conflicting options.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable

import docker as docker_py
import pytest
from conftest import lab_name

from emulator import Lab
from emulator.topology import load_topology_text

DOCKER = shutil.which("docker") or "docker"
pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")
MAC = "02:42:c0:a8:00:99"
TOPOLOGY = """
name: fields
hosts:
  h1: {}
  h2: {engine: docker}
  h3: {}
lan:
  hosts:
    srv: {address: 198.51.100.10}
"""
EMULATED, REAL = "h1", "h2"
Docker = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def lab():
    with Lab(load_topology_text(TOPOLOGY), "fl" + lab_name()[1:]) as running:
        yield running


def _cli(lab: Lab, host: str, config_dir: str) -> Docker:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=lab.docker_host_url(host), DOCKER_CONFIG=config_dir,
               DOCKER_CLI_HINTS="false")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                              timeout=90)

    return run


def _reset_real(run: Docker) -> None:
    names = run("ps", "-aq").stdout.split()
    if names:
        run("rm", "-f", *names)
    networks = run("network", "ls", "-q", "--filter", "type=custom").stdout.split()
    if networks:
        run("network", "rm", *networks)


@pytest.fixture
def docker(lab, tmp_path) -> Docker:
    run = _cli(lab, EMULATED, str(tmp_path))
    yield run
    engine = lab.host(EMULATED).engine
    engine.remove_containers(list(engine.containers), force=True)
    for network in list(engine.networks.values()):
        if not network.predefined and network.scope == "local":
            engine.remove_network(network.id)


@pytest.fixture
def real(lab, tmp_path) -> Docker:
    run = _cli(lab, REAL, str(tmp_path))
    yield run
    _reset_real(run)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.args, done.stderr)
    return done.stdout


def refused(done: subprocess.CompletedProcess) -> str:
    """The daemon's message as the CLI prints it."""
    assert done.returncode != 0, done.args
    return done.stderr


def mac_of(run: Docker, container: str, ifname: str = "eth0") -> str:
    """From netlink, in the container's namespace (/sys may be the Docker host's)."""
    out = ok(run("exec", container, "ip", "-o", "link", "show", "dev", ifname))
    return out.split("link/ether ")[1].split()[0]


def link_names(run: Docker, container: str) -> list[str]:
    out = ok(run("exec", container, "ip", "-o", "link", "show"))
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def inspect(run: Docker, container: str, template: str) -> str:
    return ok(run("inspect", "-f", template, container)).strip()


def hosts_without_ids(run: Docker, container: str) -> list[str]:
    """/etc/hosts with addresses and container IDs made comparable across engines."""
    text = ok(run("exec", container, "cat", "/etc/hosts"))
    text = re.sub(r"\b\d+\.\d+\.\d+\.\d+\b", "IP", text)
    return re.sub(r"\b[0-9a-f]{12}\b", "ID", text).splitlines()


# -- --mac-address ------------------------------------------------------------------------


def test_mac_address_on_bridge_macvlan_and_overlay(lab, docker):
    ok(docker("run", "-d", "--name", "br", "--mac-address", MAC, "alpine", "sleep", "600"))
    assert mac_of(docker, "br") == MAC
    assert inspect(docker, "br", "{{.NetworkSettings.MacAddress}} "
                                 "{{.NetworkSettings.Networks.bridge.MacAddress}}") == \
        f"{MAC} {MAC}"

    ok(docker("network", "create", "-d", "macvlan", "--subnet", "198.51.100.0/24",
              "--ip-range", "198.51.100.128/27", "-o", "parent=eth1", "lan"))
    ok(docker("run", "-d", "--name", "mv", "--network", "lan", "--mac-address",
              "02:42:c0:a8:00:98", "alpine", "sleep", "600"))
    assert mac_of(docker, "mv") == "02:42:c0:a8:00:98"
    code, out = lab.node_exec("srv", ["ping", "-c", "1", "-W", "2", inspect(
        docker, "mv", "{{.NetworkSettings.Networks.lan.IPAddress}}")])
    assert code == 0, out
    _, neighbours = lab.node_exec("srv", ["ip", "neigh", "show", "dev", "eth0"])
    assert "02:42:c0:a8:00:98" in neighbours  # the LAN learnt it from the wire

    manager, worker = lab.host(EMULATED).engine, lab.host("h3").engine
    manager.swarm_init()
    try:
        worker.swarm_join([f"{lab.host(EMULATED).address}:2377"],
                          manager.swarm_join_token("worker"))
        ok(docker("network", "create", "-d", "overlay", "--attachable", "ov"))
        ok(docker("run", "-d", "--name", "ovc", "--network", "ov", "--mac-address",
                  "02:42:c0:a8:00:97", "alpine", "sleep", "600"))
        assert mac_of(docker, "ovc") == "02:42:c0:a8:00:97"
        # a peer on another host reaches it: its VXLAN entries carry the MAC asked for
        peer = lab.host("h3").containers.run("peer", "ov")
        ovc_ip = inspect(docker, "ovc", "{{.NetworkSettings.Networks.ov.IPAddress}}")
        assert peer.exec(["ping", "-c", "1", "-W", "2", ovc_ip]).exit_code == 0
        neighbours = peer.exec(["ip", "neigh", "show", ovc_ip]).stdout
        assert "02:42:c0:a8:00:97" in neighbours
    finally:
        worker.remove_containers(list(worker.containers), force=True)
        manager.remove_containers(list(manager.containers), force=True)
        if manager.swarm is not None:
            for network in [n for n in manager.swarm.networks.values() if not n.ingress]:
                manager.remove_network(network.id)
        worker.swarm_leave()
        manager.swarm_leave(force=True)


def test_per_endpoint_mac_through_the_api_connect(lab, docker):
    ok(docker("network", "create", "n1"))
    ok(docker("run", "-d", "--name", "web", "alpine", "sleep", "600"))
    client = docker_py.DockerClient(base_url=lab.docker_host_url(EMULATED))
    try:
        client.api.connect_container_to_network("web", "n1", mac_address=MAC)
    finally:
        client.close()
    assert mac_of(docker, "web", "eth1") == MAC
    assert inspect(docker, "web", "{{.NetworkSettings.Networks.n1.MacAddress}}") == MAC


def test_invalid_mac_is_refused_by_the_cli_as_by_docker(docker):
    assert "zz is not a valid mac address" in refused(
        docker("run", "--rm", "--mac-address", "zz", "alpine", "true"))


def test_mac_address_with_network_none_is_taken_as_docker_28_does(docker):
    """Docker 28 (API 1.44+) takes it and has no interface to give it; 20.10 (API < 1.44)
    refused "conflicting options: mac-address and the network mode"."""
    ok(docker("run", "-d", "--name", "solo", "--network", "none", "--mac-address", MAC,
              "alpine", "sleep", "600"))
    assert link_names(docker, "solo") == ["lo"]


def _create_with_mac(lab: Lab, host: str, version: str, mode: str):
    client = docker_py.DockerClient(base_url=lab.docker_host_url(host), version=version)
    try:
        return client.api.create_container("alpine", ["true"], mac_address=MAC,
                                           host_config=client.api.create_host_config(
                                               network_mode=mode))
    finally:
        client.close()


def _refused_by(lab: Lab, host: str, version: str, mode: str) -> str | None:
    """The explanation of dockerd's 400, None if it created the container."""
    try:
        _create_with_mac(lab, host, version, mode)
    except docker_py.errors.APIError as error:
        assert error.status_code == 400
        return error.explanation
    return None


def test_container_wide_mac_with_host_or_none_on_old_api(lab, docker, real):
    """docker-py's mac_address is Config.MacAddress. Before API 1.44 dockerd refuses it
    beside a network mode that gives no interface of its own: 20.10 for host (and
    container:) only (runconfig/hostconfig.go validateNetContainerMode), 28 for anything
    but bridge or a user-defined network, none too (container_routes.go
    handleMACAddressBC); the emulator answers as 28. From API 1.44 28 takes it with a
    warning. (The CLI 28 refuses before asking a 1.41 daemon: "specify mac-address per
    network" requires API version 1.44.)"""
    conflict = "conflicting options: mac-address and the network mode"
    assert _refused_by(lab, REAL, "1.41", "host") == conflict
    assert _refused_by(lab, REAL, "1.41", "none") is None
    assert _refused_by(lab, EMULATED, "1.41", "host") == conflict
    assert _refused_by(lab, EMULATED, "1.41", "none") == conflict
    created = _create_with_mac(lab, EMULATED, "1.45", "host")
    assert created["Warnings"] == ["The container-wide MacAddress field is now deprecated. It "
                                   "should be specified in EndpointsConfig instead."]


# -- --link ---------------------------------------------------------------------------------


def _linked_pair(run: Docker) -> list[str]:
    ok(run("run", "-d", "--name", "db", "--hostname", "dbhost", "alpine", "sleep", "600"))
    ok(run("run", "-d", "--name", "web", "--link", "db:database", "alpine", "sleep", "600"))
    return hosts_without_ids(run, "web")


def test_link_on_the_default_bridge(docker, real):
    """The link's line comes before the container's own, as 20.10 writes it (28's
    addLegacyLinks adds it the same way, before the endpoint joins)."""
    emulated = _linked_pair(docker)
    assert emulated[-2:] == _linked_pair(real)[-2:] == ["IP\tdatabase dbhost db", "IP\tID"]
    db_ip = inspect(docker, "db", "{{.NetworkSettings.IPAddress}}")
    pinged = ok(docker("exec", "web", "ping", "-c", "1", "-W", "2", "database"))
    assert f"({db_ip})" in pinged
    assert inspect(docker, "web", "{{json .HostConfig.Links}}") == '["/db:/web/database"]'
    assert inspect(real, "web", "{{json .HostConfig.Links}}") == '["/db:/web/database"]'


def _link_variables(run: Docker) -> list[str]:
    ok(run("run", "-d", "--name", "db", "-e", "PASSWORD=gordon", "--expose", "5432",
           "--expose", "6379/udp", "alpine", "sleep", "600"))
    env = ok(run("run", "--rm", "--name", "web", "--link", "db:data-base", "alpine", "env"))
    db_ip = inspect(run, "db", "{{.NetworkSettings.IPAddress}}")
    return sorted(line.replace(db_ip, "IP") for line in env.splitlines()
                  if line.startswith("DATA_BASE_"))


def test_link_variables_as_real_docker(docker, real):
    """Where 20.10 and 28 differ (daemon/links/links.go) the emulator is 28 and the
    unit test follows 28's links_test.go: contiguous ports make a _START/_END range from
    two ports on (20.10: three), and ALIAS_PORT is the lowest tcp port (20.10: the
    lowest port of any protocol). Here they agree."""
    emulated = _link_variables(docker)
    assert "DATA_BASE_NAME=/web/data-base" in emulated
    assert "DATA_BASE_PORT=tcp://IP:5432" in emulated
    assert "DATA_BASE_PORT_6379_UDP_ADDR=IP" in emulated
    assert emulated == _link_variables(real)


def test_link_errors_are_dockers(docker, real):
    for run in (docker, real):
        assert ("Error response from daemon: could not get container for nope: No such "
                "container: nope") in refused(run("run", "--rm", "--link", "nope:x", "alpine",
                                                  "true"))
        ok(run("create", "--name", "stopped", "alpine", "sleep", "600"))
        assert ("Cannot link to a non running container: /stopped AS /linker/x") in refused(
            run("run", "--name", "linker", "--link", "stopped:x", "alpine", "true"))
        assert ("conflicting options: host type networking can't be used with links. This "
                "would result in undefined behavior") in refused(
            run("run", "--rm", "--network", "host", "--link", "stopped:x", "alpine", "true"))


def test_link_on_a_user_network_is_an_alias(docker):
    """Docker 28's CLI sends --link on a user-defined network as the endpoint's Links:
    a name only the linking container resolves, through the embedded DNS."""
    ok(docker("network", "create", "un"))
    ok(docker("run", "-d", "--name", "db", "--network", "un", "alpine", "sleep", "600"))
    ok(docker("run", "-d", "--name", "web", "--network", "un", "--link", "db:database",
              "alpine", "sleep", "600"))
    ok(docker("run", "-d", "--name", "other", "--network", "un", "alpine", "sleep", "600"))
    db_ip = inspect(docker, "db", "{{.NetworkSettings.Networks.un.IPAddress}}")
    assert f"({db_ip})" in ok(docker("exec", "web", "ping", "-c", "1", "-W", "2", "database"))
    assert docker("exec", "other", "ping", "-c", "1", "-W", "2", "database").returncode != 0
    assert "database" not in ok(docker("exec", "web", "cat", "/etc/hosts"))


# -- inspect's NetworkSettings -----------------------------------------------------------------

TOP_LEVEL = ("{{.NetworkSettings.IPAddress}} {{.NetworkSettings.IPPrefixLen}} "
             "{{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} "
             "{{.NetworkSettings.EndpointID}} [{{.NetworkSettings.GlobalIPv6Address}}] "
             "{{.NetworkSettings.GlobalIPv6PrefixLen}} [{{.NetworkSettings.IPv6Gateway}}]")
BRIDGE = ("{{with .NetworkSettings.Networks.bridge}}{{.IPAddress}} {{.IPPrefixLen}} {{.Gateway}} "
          "{{.MacAddress}} {{.EndpointID}} [{{.GlobalIPv6Address}}] {{.GlobalIPv6PrefixLen}} "
          "[{{.IPv6Gateway}}]{{end}}")


def test_top_level_network_settings(docker, real):
    """dockerd's getDefaultNetworkSettings, the same in 20.10 and 28 (daemon/inspect.go):
    the default bridge's endpoint copied to the top level, empty elsewhere."""
    for run in (docker, real):
        ok(run("network", "create", "n1"))
        ok(run("run", "-d", "--name", "onbridge", "alpine", "sleep", "600"))
        ok(run("run", "-d", "--name", "elsewhere", "--network", "n1", "alpine", "sleep", "600"))
        top = inspect(run, "onbridge", TOP_LEVEL)
        assert top == inspect(run, "onbridge", BRIDGE)
        ip, prefix, gateway = top.split()[:3]
        assert ip.startswith("172.17.") and prefix == "16" and gateway == "172.17.0.1"
        assert inspect(run, "elsewhere", TOP_LEVEL).split() == ["0", "[]", "0", "[]"]
        ok(run("stop", "-t", "1", "onbridge"))
        assert inspect(run, "onbridge", "{{.NetworkSettings.IPAddress}}") == ""
    # 28's releaseNetwork forgets the sandbox of a stopped container; 20.10 kept it
    assert inspect(docker, "onbridge", "{{.NetworkSettings.SandboxKey}}") == ""
    assert inspect(real, "onbridge", "{{.NetworkSettings.SandboxKey}}") != ""


# -- --sysctl -------------------------------------------------------------------------------


def test_network_sysctls_in_the_containers_namespace(lab, docker):
    ttl = "/proc/sys/net/ipv4/ip_default_ttl"
    assert ok(docker("run", "--rm", "--sysctl", "net.ipv4.ip_default_ttl=33", "alpine",
                     "cat", ttl)) == "33\n"
    assert lab.host(EMULATED).exec(["cat", ttl]).stdout == "64\n"  # the Docker host's own
    done = docker("run", "-d", "--name", "quiet", "--sysctl",
                  "net.ipv4.conf.eth0.accept_redirects=0", "alpine", "sleep", "600")
    assert ok(done) and ('Migrated sysctl "net.ipv4.conf.eth0.accept_redirects" to DriverOpts'
                         '{"com.docker.network.endpoint.sysctls":'
                         '"net.ipv4.conf.IFNAME.accept_redirects=0"}.') in done.stderr
    assert ok(docker("exec", "quiet", "cat",
                     "/proc/sys/net/ipv4/conf/eth0/accept_redirects")) == "0\n"
    assert 'sysctl "net.ipv4.ip_default_ttl" not allowed in host network namespace' in refused(
        docker("run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_default_ttl=33",
               "alpine", "true"))


# -- exec start ---------------------------------------------------------------------------------


def test_exec_start_detach_and_tty(docker):
    ok(docker("run", "-d", "--name", "web", "alpine", "sleep", "600"))
    assert ok(docker("exec", "-d", "web", "sh", "-c", "echo done > /tmp/fields-exec")) == ""
    assert ok(docker("exec", "web", "cat", "/tmp/fields-exec")) == "done\n"
    assert ok(docker("exec", "-t", "web", "tty")).startswith("/dev/pts/")
    assert docker("exec", "web", "tty").stdout == "not a tty\n"


# -- conflicting options -------------------------------------------------------------------------


def test_refused_options_name_the_option(docker):
    refusal = refused(docker("run", "-d", "--restart", "always", "--memory", "64m", "alpine",
                             "true"))
    assert ("Error response from daemon: --restart, --memory are not supported by the "
            "emulator") in refusal
    assert ("--sysctl kernel.shmmax is not supported by the emulator: only net.* sysctls "
            "are, in the container's network namespace") in refused(
        docker("run", "--rm", "--sysctl", "kernel.shmmax=65536", "alpine", "true"))
    assert ok(docker("ps", "-aq")) == ""


def test_dns_with_network_host_is_refused(docker):
    assert "--dns with --network host is not supported by the emulator" in refused(
        docker("run", "--rm", "--network", "host", "--dns", "192.0.2.53", "alpine", "true"))
