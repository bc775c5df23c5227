"""The host and null drivers on the real kernel."""

from __future__ import annotations

from conftest import links_of

LISTEN = (
    "import socket\n"
    "s = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen(); print('up', flush=True)\n"
    "s.accept()\n"
)
BIND = (
    "import socket, sys\n"
    "s = socket.socket()\n"
    "try:\n"
    "    s.bind(('0.0.0.0', 8080)); print('bound')\n"
    "except OSError as exc:\n"
    "    print(exc.errno, exc.strerror); sys.exit(1)\n"
)


def _wait_listening(container) -> None:
    for _ in range(300):
        if container.exec(["ss", "-ltnH", "sport = :8080"]).stdout.strip():
            return
    raise AssertionError("listener never appeared")


def test_host_network_container_sees_the_docker_hosts_interfaces(h1):
    c = h1.containers.run("hostnet", network="host")
    assert links_of(c.exec(["ip", "-br", "link"]).stdout) == links_of(
        h1.exec(["ip", "-br", "link"]).stdout)
    assert "docker0" in links_of(c.exec(["ip", "-br", "link"]).stdout)


def test_none_network_container_has_only_loopback(h1):
    c = h1.containers.run("isolated", network="none")
    assert links_of(c.exec(["ip", "-br", "link"]).stdout) == ["lo"]
    assert c.exec(["ping", "-c", "1", "-W", "1", "172.17.0.1"]).exit_code != 0


def test_port_conflict_in_host_mode_is_real_and_absent_in_bridge_mode(h1):
    first = h1.containers.run("l1", network="host", command=["python3", "-c", LISTEN])
    second = h1.containers.run("l2", network="host")
    _wait_listening(second)
    clash = second.exec(["python3", "-c", BIND])
    assert clash.exit_code == 1 and clash.stdout.startswith("98 Address already in use")
    h1.containers.run("b1", command=["python3", "-c", LISTEN])
    b2 = h1.containers.run("b2")
    assert b2.exec(["python3", "-c", BIND]).stdout.strip() == "bound"
    assert first.running
