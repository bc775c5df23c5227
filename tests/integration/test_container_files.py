"""What a container finds in /etc/resolv.conf, /etc/hosts and /etc/hostname.

Through the real docker CLI against an emulated host, as a user would look:
`docker run --rm alpine cat /etc/resolv.conf` and the like, on the default
bridge, on a user-defined network, with --dns, --dns-search, --dns-option,
--add-host, --hostname, --domainname; connect and disconnect changing the hosts
file; host mode seeing the host's own files; `docker exec` and `cnm exec`
seeing the container's; and nothing mounted or written left once the lab is down.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import _reset, run_cnm
from leftovers import assert_nothing_left, machine_state

from emulator import Lab

DOCKER = shutil.which("docker") or "docker"
BRIDGE_IP = "{{.NetworkSettings.Networks.bridge.IPAddress}}"
pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")


@pytest.fixture(scope="module")
def lab():
    with Lab.default("fi" + secrets.token_hex(3)) as running:
        yield running


@pytest.fixture
def docker(lab, tmp_path):
    env = {**os.environ, "DOCKER_HOST": lab.docker_host_url("h1"),
           "DOCKER_CONFIG": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env,
                              timeout=60)

    yield run
    _reset(lab.host("h1"))


def out(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_default_bridge_gets_the_hosts_resolvers(lab, docker):
    resolv = lines(out(docker("run", "--rm", "alpine", "cat", "/etc/resolv.conf")))
    assert [line for line in resolv if not line.startswith("#") and line] == [
        f"nameserver {lab.outside_address}"]
    assert "# Based on host file: '/etc/resolv.conf' (legacy)" in resolv


def test_default_bridge_hosts_and_hostname(docker):
    cid = out(docker("run", "-d", "--name", "b1", "alpine", "sleep", "600")).strip()
    ip = out(docker("inspect", "-f", BRIDGE_IP, "b1")).strip()
    hosts = out(docker("exec", "b1", "cat", "/etc/hosts"))
    assert hosts == ("127.0.0.1\tlocalhost\n"
                     "::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "fe00::\tip6-localnet\nff00::\tip6-mcastprefix\n"
                     "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
                     f"{ip}\t{cid[:12]}\n")
    assert out(docker("exec", "b1", "cat", "/etc/hostname")) == cid[:12] + "\n"


def test_user_network_uses_the_embedded_resolver(lab, docker):
    out(docker("network", "create", "dn"))
    resolv = lines(out(docker("run", "--rm", "--network", "dn", "alpine",
                              "cat", "/etc/resolv.conf")))
    assert [line for line in resolv if not line.startswith("#") and line] == [
        "nameserver 127.0.0.11", "options ndots:0"]
    assert f"# ExtServers: [host({lab.outside_address})]" in resolv
    assert "# Option ndots from: internal" in resolv


def test_dns_options_on_a_user_network_reach_the_resolver_not_the_file(docker):
    out(docker("network", "create", "dn"))
    resolv = lines(out(docker(
        "run", "--rm", "--network", "dn", "--dns", "192.0.2.53", "--dns-search",
        "corp.example", "--dns-option", "edns0", "alpine", "cat", "/etc/resolv.conf")))
    assert [line for line in resolv if not line.startswith("#") and line] == [
        "nameserver 127.0.0.11", "search corp.example", "options edns0 ndots:0"]
    assert "# ExtServers: [192.0.2.53]" in resolv
    assert "# Overrides: [nameservers search options]" in resolv


def test_dns_on_the_default_bridge_is_written_as_is(docker):
    resolv = out(docker("run", "--rm", "--dns", "192.0.2.53", "--dns", "192.0.2.54",
                        "--dns-option", "ndots:2", "alpine", "cat", "/etc/resolv.conf"))
    assert [line for line in lines(resolv) if not line.startswith("#") and line] == [
        "nameserver 192.0.2.53", "nameserver 192.0.2.54", "options ndots:2"]
    assert "# Option ndots from: override" in lines(resolv)


def test_add_host_hostname_and_domainname(lab, docker):
    out(docker("network", "create", "dn"))
    out(docker("run", "-d", "--name", "web", "--network", "dn", "--hostname", "web",
               "--domainname", "corp.example", "--add-host", "db:192.0.2.7",
               "--add-host", "gw:host-gateway", "alpine", "sleep", "600"))
    ip = out(docker("inspect", "-f", "{{.NetworkSettings.Networks.dn.IPAddress}}",
                    "web")).strip()
    gateway = out(docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}",
                         "bridge")).strip()
    assert lines(out(docker("exec", "web", "cat", "/etc/hosts")))[-3:] == [
        "192.0.2.7\tdb", f"{gateway}\tgw", f"{ip}\tweb.corp.example web"]
    assert out(docker("exec", "web", "cat", "/etc/hostname")) == "web\n"
    assert out(docker("exec", "web", "hostname")).strip() == "web"


def test_inspect_round_trips_the_options_and_names_the_files(docker):
    out(docker("run", "-d", "--name", "c1", "--dns", "192.0.2.53", "--dns-search", "a.example",
               "--dns-option", "edns0", "--add-host", "db:192.0.2.7", "--domainname",
               "corp.example", "alpine", "sleep", "600"))
    fmt = ("{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}} "
           "{{json .HostConfig.DnsOptions}} {{json .HostConfig.ExtraHosts}} "
           "{{.Config.Domainname}}")
    assert out(docker("inspect", "-f", fmt, "c1")).split() == [
        '["192.0.2.53"]', '["a.example"]', '["edns0"]', '["db:192.0.2.7"]', "corp.example"]
    for field, inside in (("ResolvConfPath", "/etc/resolv.conf"), ("HostsPath", "/etc/hosts"),
                          ("HostnamePath", "/etc/hostname")):
        path = out(docker("inspect", "-f", "{{." + field + "}}", "c1")).strip()
        assert Path(path).read_text() == out(docker("exec", "c1", "cat", inside))


def test_bad_add_host_is_refused_as_docker_does(docker):
    done = docker("run", "--rm", "--add-host", "db:not-an-ip", "alpine", "true")
    assert done.returncode != 0
    assert "invalid IP address in add-host" in done.stderr


def test_connect_and_disconnect_change_the_hosts_file(docker):
    out(docker("network", "create", "dn"))
    out(docker("run", "-d", "--name", "c1", "alpine", "sleep", "600"))
    bridge_ip = out(docker("inspect", "-f", BRIDGE_IP, "c1")).strip()
    resolv_before = out(docker("exec", "c1", "cat", "/etc/resolv.conf"))
    assert "nameserver 127.0.0.11" not in resolv_before
    out(docker("network", "connect", "dn", "c1"))
    dn_ip = out(docker("inspect", "-f", "{{.NetworkSettings.Networks.dn.IPAddress}}",
                       "c1")).strip()
    hosts = lines(out(docker("exec", "c1", "cat", "/etc/hosts")))
    cid = out(docker("inspect", "-f", "{{.Id}}", "c1")).strip()
    assert hosts[-2:] == [f"{bridge_ip}\t{cid[:12]}", f"{dn_ip}\t{cid[:12]}"]
    assert "nameserver 127.0.0.11" in out(docker("exec", "c1", "cat", "/etc/resolv.conf"))
    out(docker("network", "disconnect", "bridge", "c1"))
    hosts = lines(out(docker("exec", "c1", "cat", "/etc/hosts")))
    assert hosts[-1] == f"{dn_ip}\t{cid[:12]}" and f"{bridge_ip}\t{cid[:12]}" not in hosts


def test_host_mode_sees_the_hosts_own_files(docker):
    for path in ("/etc/resolv.conf", "/etc/hosts", "/etc/hostname"):
        assert out(docker("run", "--rm", "--network", "host", "alpine", "cat", path)) == \
            Path(path).read_text()
    refused = docker("run", "--rm", "--network", "host", "--dns", "192.0.2.53", "alpine",
                     "true")
    assert refused.returncode != 0 and "--dns with --network host" in refused.stderr


def test_cnm_exec_sees_the_containers_files_and_the_hosts_binaries(lab, docker):
    cid = out(docker("run", "-d", "--name", "c1", "--hostname", "seen", "debian",
                     "sleep", "600")).strip()
    done = run_cnm("exec", "--lab", lab.name, "h1/c1", "--", "cat", "/etc/hostname",
                   "/etc/resolv.conf")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("seen\n")
    assert f"nameserver {lab.outside_address}" in done.stdout
    host = lab.host("h1")
    assert host.engine.exec(cid, ["cat", "/etc/hostname"]).stdout == "seen\n"
    # the rest of a debian container's filesystem is the machine's: its Python runs there
    assert run_cnm("exec", "--lab", lab.name, "h1/c1", "--", "python3", "-c",
                   "print(1)").stdout == "1\n"


def test_nothing_mounted_or_written_is_left_after_lab_down():
    before = machine_state()
    name = "fi" + secrets.token_hex(3)
    with Lab.default(name) as running:
        host = running.host("h1")
        container = host.containers.run("c1")
        namespace = os.readlink(f"/proc/{container.pid}/ns/mnt")
        assert namespace != os.readlink("/proc/self/ns/mnt")
        state_dir = Path(host.client.api.inspect_container(container.id)["HostsPath"]).parent
        assert (state_dir / "hosts").exists()
        host.engine.remove_container(container.id, force=True)
        assert not state_dir.exists()
        host.containers.run("d1")
    assert_nothing_left(name)
    assert machine_state() == before
    holders = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == namespace:
                holders.append(pid)
        except OSError:
            pass
    assert not holders, f"processes still in the container's mount namespace: {holders}"


def test_starting_and_exec_leave_the_callers_namespace_and_directory(lab, tmp_path):
    """The engine enters a container's mount namespace in the calling thread and leaves
    it before it returns, from the main thread as from any other."""
    host = lab.host("h1")

    def start_and_exec(name: str) -> tuple[str, str, str]:
        before = os.readlink("/proc/thread-self/ns/mnt")
        container = host.containers.run(name)
        assert container.exec(["cat", "/etc/hostname"]).stdout == container.id[:12] + "\n"
        assert Path("marker").read_text() == "here"  # relative to the working directory
        return before, os.readlink("/proc/thread-self/ns/mnt"), os.getcwd()

    (tmp_path / "marker").write_text("here")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        before, after, where = start_and_exec("main1")
        assert after == before and where == str(tmp_path)
        with ThreadPoolExecutor(1) as pool:
            before, after, where = pool.submit(start_and_exec, "other1").result()
        assert after == before and where == str(tmp_path)
    finally:
        os.chdir(cwd)
        host.engine.remove_containers(["main1", "other1"], force=True)
