"""A remote driver's IPv6 on the real kernel, with the sample plugin (bridgeplugin).

The remote driver is driven directly (the engine's IPv6 allocation is another part
of the work), as the engine will drive it: CreateNetwork with IPv6Data, endpoints
with Interface.AddressIPv6, Join. The plugin puts the IPv6 gateway on its bridge
and answers GatewayIPv6; the emulator moves the plugin's interface into the
container and gives it its IPv6 address and default route. Containers then reach
each other and the gateway over IPv6."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from ipaddress import IPv6Network as Net6
from pathlib import Path

import pytest

from emulator import Lab
from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.probes.namespaced import popen_in

IPAM = IPAMData(IPv4Network("10.56.0.0/24"), IPv4Address("10.56.0.1"),
                Net6("fd00:56::/64"), IPv6Address("fd00:56::1"))


@pytest.fixture(scope="module")
def lab():
    with Lab.default("d6" + secrets.token_hex(3)) as running:
        yield running


def start(lab: Lab, host: str, argv: list[str], sock: Path) -> subprocess.Popen:
    proc = popen_in(lab.node_pid(host), argv, lab.process_env)
    deadline = time.monotonic() + 10
    while not sock.is_socket():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the plugin never made its socket"
        time.sleep(0.01)
    return proc


@pytest.fixture
def bp6(lab):
    """The sample plugin as driver bp6 on h1, and a dual-stack network of it."""
    sock = lab.plugin_dir("h1") / "bp6.sock"
    proc = start(lab, "h1", [sys.executable, "-m", "emulator.plugins.bridgeplugin",
                             str(sock)], sock)
    host = lab.host("h1")
    driver = host.engine.drivers.get("bp6")
    net_id = secrets.token_hex(32)
    driver.create_network(NetworkSpec(net_id, "pn6", {}, enable_ipv6=True), IPAM)
    yield host, driver, net_id
    driver.delete_network(net_id)
    host.engine.remove_containers(list(host.engine.containers), force=True)
    host.engine.drivers.forget("bp6")
    proc.terminate()
    proc.wait()
    for leftover in lab.plugin_dir("h1").iterdir():
        leftover.unlink()


def joined(host, driver, net_id: str, name: str, index: int):
    container = host.containers.run(name, network="none")
    ep_id = secrets.token_hex(32)
    driver.create_endpoint(net_id, EndpointSpec(
        ep_id, IPv4Interface(f"10.56.0.{index}/24"), None,
        IPv6Interface(f"fd00:56::{index}/64")))
    sandbox = host.engine.get_container(container.id).sandbox
    return container, driver.join(net_id, ep_id, SandboxRef(sandbox, "eth0", True))


def test_plugin_containers_reach_each_other_and_the_gateway_over_ipv6(lab, bp6):
    host, driver, net_id = bp6
    a, info = joined(host, driver, net_id, "d6ra", 2)
    b, _ = joined(host, driver, net_id, "d6rb", 3)
    assert info.gateway6 == IPv6Address("fd00:56::1")
    out = a.exec(["ip", "-6", "-o", "addr", "show", "dev", "eth0"]).stdout
    (static,) = [line for line in out.splitlines() if " fd00:56::2/64 " in line]
    assert "nodad" in static and "tentative" not in static  # usable at once, no DAD
    route = a.exec(["ip", "-6", "route", "show", "default"]).stdout
    assert route.startswith("default via fd00:56::1 dev eth0")
    for target in ("fd00:56::3", "fd00:56::1"):
        done = a.exec(["ping", "-6", "-c", "1", "-W", "2", target])
        assert done.exit_code == 0, (target, done.stdout, done.stderr)
    assert b.exec(["ping", "-6", "-c", "1", "-W", "2", "fd00:56::2"]).exit_code == 0
