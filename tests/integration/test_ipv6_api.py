"""IPv6 through the Engine API of an emulated host: the real docker CLI (28.2) and
docker-py create `--ipv6` networks, dual stack and IPv6-only ones, run containers with
`--ip6`, and read back what `network inspect` / `inspect` say, with Docker 28's
texts for what it refuses.

What these tests check is the API state (IPAM, inspect); addresses on the
containers' interfaces are the drivers' and the fabric's part. The bridge driver
declares IPv6 in its own change (issue 19); until then this module's lab makes the
engine see it declared.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import replace

import docker as docker_py
import pytest
from cliresults import docker_env, ok, refused

from emulator import Lab
from emulator.drivers import registry

DOCKER = shutil.which("docker") or "docker"


@pytest.fixture(scope="module")
def lab():
    real = registry.builtin()
    patched = dict(real)
    patched["bridge"] = replace(real["bridge"],
                                capability=replace(real["bridge"].capability, ipv6=True))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "builtin", lambda: patched)
        with Lab.default("c6" + secrets.token_hex(2)) as running:
            yield running


@pytest.fixture
def docker(lab, h1, tmp_path):
    env = docker_env(lab.docker_host_url("h1"), tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    return run


def inspect(docker, *args: str) -> dict:
    return json.loads(ok(docker(*args)))[0]


@pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")
def test_cli_ipv6_network_and_ip6(docker):
    ok(docker("network", "create", "--ipv6", "--subnet", "fd00:1::/64", "v6"))
    net = inspect(docker, "network", "inspect", "v6")
    assert (net["EnableIPv4"], net["EnableIPv6"]) == (True, True)
    assert net["IPAM"]["Config"] == [{"Subnet": "fd00:1::/64"},
                                     {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    ok(docker("run", "-d", "--name", "ca", "--network", "v6", "--ip6", "fd00:1::10", "alpine",
              "sleep", "infinity"))
    ok(docker("run", "-d", "--name", "cb", "--network", "v6", "alpine", "sleep", "infinity"))
    a = inspect(docker, "inspect", "ca")["NetworkSettings"]["Networks"]["v6"]
    b = inspect(docker, "inspect", "cb")["NetworkSettings"]["Networks"]["v6"]
    assert a["IPAMConfig"] == {"IPv6Address": "fd00:1::10"}
    assert (a["GlobalIPv6Address"], a["GlobalIPv6PrefixLen"], a["IPv6Gateway"]) == (
        "fd00:1::10", 64, "fd00:1::1")
    assert (b["GlobalIPv6Address"], b["IPAddress"]) == ("fd00:1::2", "172.18.0.3")
    containers = inspect(docker, "network", "inspect", "v6")["Containers"]
    assert sorted(c["IPv6Address"] for c in containers.values()) == [
        "fd00:1::10/64", "fd00:1::2/64"]


@pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")
def test_cli_dual_stack_ipv6_only_and_auto_ula(docker, lab):
    ok(docker("network", "create", "--ipv6", "--subnet", "172.30.0.0/24", "--subnet",
              "fd00:2::/64", "--aux-address", "r=fd00:2::1", "--gateway", "fd00:2::fe", "ds"))
    ok(docker("network", "create", "--ipv6", "--ipv4=false", "--subnet", "fd00:6::/64", "only6"))
    ok(docker("network", "create", "--ipv6", "auto6"))
    ds = inspect(docker, "network", "inspect", "ds")
    assert ds["IPAM"]["Config"] == [
        {"Subnet": "172.30.0.0/24"},
        {"Subnet": "fd00:2::/64", "Gateway": "fd00:2::fe",
         "AuxiliaryAddresses": {"r": "fd00:2::1"}}]
    only6 = inspect(docker, "network", "inspect", "only6")
    assert (only6["EnableIPv4"], only6["IPAM"]["Config"]) == (False, [{"Subnet": "fd00:6::/64"}])
    auto6 = inspect(docker, "network", "inspect", "auto6")["IPAM"]["Config"]
    ula = lab.host("h1").engine.addresses.predefined[-1].base
    assert auto6[1] == {"Subnet": str(next(ula.subnets(new_prefix=64))),
                        "Gateway": str(ula.network_address + 1)}
    ok(docker("run", "-d", "--name", "cd", "--network", "ds", "alpine", "sleep", "infinity"))
    d = inspect(docker, "inspect", "cd")["NetworkSettings"]["Networks"]["ds"]
    assert (d["IPAddress"], d["GlobalIPv6Address"], d["IPv6Gateway"]) == (
        "172.30.0.2", "fd00:2::2", "fd00:2::fe")
    refused(docker("run", "--name", "ce", "--network", "auto6", "--ip6", "fd00:9::5", "alpine",
                   "true"),
            "invalid config for network auto6: invalid endpoint settings:\nuser specified IP "
            "address is supported only when connecting to networks with user configured "
            "subnets")
    ok(docker("run", "-d", "--name", "cf", "alpine", "sleep", "infinity"))
    refused(docker("network", "connect", "--ip6", "fd00:9::5", "ds", "cf"),
            "invalid endpoint settings:\nno configured subnet or ip-range contain the IP "
            "address fd00:9::5")


@pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")
def test_cli_refusals_in_dockers_words(docker):
    refused(docker("network", "create", "--ipv6", "--subnet", "fd00:1::1/64", "bad"),
            "invalid network config:\n* invalid subnet fd00:1::1/64: it should be fd00:1::/64")
    refused(docker("network", "create", "--ipv6", "--subnet", "fd00:1::/64", "--subnet",
                   "fd00:2::/64", "two"),
            "bridge driver doesn't support multiple subnets")
    refused(docker("network", "create", "--ipv4=false", "no4"),
            "IPv4 or IPv6 must be enabled")
    refused(docker("run", "--name", "cx", "--ip6", "fd00::5", "alpine", "true"),
            "invalid config for network bridge: invalid endpoint settings:\nuser specified IP "
            "address is supported on user defined networks only")
    names = ok(docker("network", "ls", "--format", "{{.Name}}")).split()
    assert sorted(names) == ["bridge", "host", "none"]


def test_docker_py_ipv6(lab, h1):
    client = docker_py.DockerClient(base_url=lab.docker_host_url("h1"), timeout=60)
    try:
        ipam = docker_py.types.IPAMConfig(pool_configs=[
            docker_py.types.IPAMPool(subnet="fd00:3::/64", gateway="fd00:3::1")])
        net = client.networks.create("py6", enable_ipv6=True, ipam=ipam)
        assert net.attrs["EnableIPv6"] is True
        ctr = client.containers.run("alpine", ["sleep", "infinity"], name="cp", detach=True,
                                    network="bridge")
        net.connect(ctr, ipv6_address="fd00:3::33")
        ctr.reload()
        got = ctr.attrs["NetworkSettings"]["Networks"]["py6"]
        assert (got["GlobalIPv6Address"], got["IPv6Gateway"]) == ("fd00:3::33", "fd00:3::1")
        with pytest.raises(docker_py.errors.APIError) as refusal:
            net.connect(client.containers.run("alpine", ["sleep", "infinity"], detach=True),
                        ipv6_address="fd00:3::33")
        assert "Address already in use" in str(refusal.value)
    finally:
        client.close()


def test_topology_default_bridge_ipv6(tmp_path):
    """A topology host's `ipv6` / `fixed-cidr-v6` reach its engine's default bridge."""
    from emulator.lab.lab import Lab as TopologyLab
    from emulator.topology import topology_from_data

    topology = topology_from_data({
        "name": "c6t", "underlay": {"subnet": "192.0.2.0/24"},
        "hosts": {"h1": {"ipv6": True, "fixed-cidr-v6": "2001:db8:1::/64"}}})
    real = registry.builtin()
    patched = dict(real)
    patched["bridge"] = replace(real["bridge"],
                                capability=replace(real["bridge"].capability, ipv6=True))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "builtin", lambda: patched)
        with TopologyLab(topology, "c6" + secrets.token_hex(2)) as running:
            engine = running.host("h1").engine
            bridge = engine.get_network("bridge")
            assert (bridge.enable_ipv6, bridge.ipam_config[1]["Subnet"]) == (
                True, "2001:db8:1::/64")
            ctr = running.host("h1").containers.run("cv")
            ctr = engine.get_container(ctr.id)
            assert str(ctr.endpoints[bridge.id].address6) == (
                "2001:db8:1::2/64")
