"""docker-py (7.x) against an emulated Docker host's Engine API.

docker.DockerClient(base_url=lab.docker_host_url("h1")) drives networks,
containers and exec; packets go between containers only (exec ... ping).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv4Network

import docker
import docker.errors
import pytest

THREADS = 8


@pytest.fixture
def client(h1, lab):
    """A docker-py client of h1; h1 is reset after the test."""
    api = docker.DockerClient(base_url=lab.docker_host_url("h1"), timeout=60)
    yield api
    api.close()


@contextlib.contextmanager
def own_client(url: str) -> Iterator[docker.DockerClient]:
    api = docker.DockerClient(base_url=url, timeout=120)
    try:
        yield api
    finally:
        api.close()


def uid() -> str:
    return secrets.token_hex(3)


def address(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def pings(container, target: str) -> bool:
    return container.exec_run(["ping", "-c", "1", "-W", "1", target]).exit_code == 0


def run(client, name: str, network: str | None = None, **kwargs):
    return client.containers.run("alpine", ["sleep", "infinity"], detach=True, name=name,
                                 network=network, **kwargs)


def test_ping_version_info(client):
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.45"
    assert version["Os"] == "linux" and version["Version"]
    assert client.api.api_version == "1.45"
    info = client.info()
    assert info["Name"] == "h1"
    assert info["Containers"] == 0 and info["ContainersRunning"] == 0
    assert "bridge" in info["Plugins"]["Network"]


def test_networks_create_list_get_remove(client):
    name = f"py-{uid()}"
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="10.61.0.0/24", gateway="10.61.0.1", iprange="10.61.0.128/25",
        aux_addresses={"router": "10.61.0.2"})])
    network = client.networks.create(
        name, driver="bridge", ipam=ipam, internal=True, attachable=True,
        labels={"team": "net"}, options={"com.docker.network.bridge.enable_icc": "true"})
    assert network.name == name and len(network.id) == 64

    got = client.networks.get(name)
    assert got.id == network.id
    assert got.attrs["IPAM"]["Config"] == [{
        "Subnet": "10.61.0.0/24", "Gateway": "10.61.0.1", "IPRange": "10.61.0.128/25",
        "AuxiliaryAddresses": {"router": "10.61.0.2"}}]
    assert got.attrs["Internal"] is True and got.attrs["Attachable"] is True
    assert got.attrs["Labels"] == {"team": "net"}
    assert got.attrs["Options"] == {"com.docker.network.bridge.enable_icc": "true"}
    assert client.networks.get(network.id[:12]).name == name

    assert sorted(n.name for n in client.networks.list()) == sorted(
        ["bridge", "host", "none", name])
    assert [n.name for n in client.networks.list(names=[name])] == [name]
    assert [n.name for n in client.networks.list(ids=[network.id])] == [name]
    assert [n.name for n in client.networks.list(filters={"label": "team=net"})] == [name]
    assert [n.name for n in client.networks.list(filters={"driver": "null"})] == ["none"]

    network.remove()
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(name)
    assert sorted(n.name for n in client.networks.list()) == ["bridge", "host", "none"]


def test_networks_prune(client):
    tag = uid()
    labelled = client.networks.create(f"lab-{tag}", labels={"prune": "yes"})
    plain = client.networks.create(f"plain-{tag}")
    used = client.networks.create(f"used-{tag}", labels={"prune": "yes"})
    run(client, f"user-{tag}", used.name)
    assert client.networks.prune(filters={"label": "prune=yes"}) == {
        "NetworksDeleted": [labelled.name]}
    assert client.networks.prune() == {"NetworksDeleted": [plain.name]}
    assert sorted(n.name for n in client.networks.list()) == sorted(
        ["bridge", "host", "none", used.name])


def test_containers_run_exec_stop_remove(client):
    tag = uid()
    network = client.networks.create(f"app-{tag}")
    container = run(client, f"app-{tag}", network.name, labels={"role": "app"})
    assert container.name == f"app-{tag}"
    container.reload()
    assert container.status == "running"
    assert container.labels == {"role": "app"}
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [network.name]
    ip = address(container, network.name)
    assert IPv4Address(ip) in IPv4Network(network.attrs["IPAM"]["Config"][0]["Subnet"])

    assert container.exec_run(["true"]).exit_code == 0
    assert container.exec_run(["sh", "-c", "exit 7"]).exit_code == 7
    assert container.exec_run("no-such-command").exit_code == 127
    assert [c.name for c in client.containers.list()] == [container.name]

    container.stop(timeout=1)
    container.reload()
    assert container.status == "exited"
    assert client.containers.list() == []
    assert [c.name for c in client.containers.list(all=True)] == [container.name]
    with pytest.raises(docker.errors.APIError) as refused:
        container.exec_run(["true"])
    assert refused.value.status_code == 409
    assert "is not running" in refused.value.explanation

    container.start()
    container.reload()
    assert container.status == "running"
    with pytest.raises(docker.errors.APIError) as running:
        container.remove()
    assert running.value.status_code == 409
    assert ("stop the container before removing or force remove"
            in running.value.explanation)
    container.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(container.id)
    assert client.containers.list(all=True) == []
    network.remove()


def test_exec_run_output(client):
    container = run(client, f"out-{uid()}")
    results = [container.exec_run(["sh", "-c", f"echo line{i}; exit {i % 3}"])
               for i in range(10)]
    assert [r.exit_code for r in results] == [i % 3 for i in range(10)]
    # all ten: docker-py reads the hijacked socket past http.client's buffer, so
    # output that arrives together with the 101 headers is lost (docker-py #2042)
    assert [r.output for r in results] == [f"line{i}\n".encode() for i in range(10)]


def test_exec_run_streams_tty_environment_and_demux(client):
    container = run(client, f"mux-{uid()}")
    slow = "sleep 0.3; "  # let docker-py read the 101 headers first (docker-py #2042)
    assert container.exec_run(["sh", "-c", slow + "echo $GREETING"],
                              environment={"GREETING": "hi"}).output == b"hi\n"
    assert container.exec_run(["sh", "-c", slow + "echo out; echo err >&2"],
                              demux=True).output == (b"out\n", b"err\n")
    assert container.exec_run(["sh", "-c", slow + "test -t 1 && echo tty"],
                              tty=True).output == b"tty\r\n"
    streamed = container.exec_run(["sh", "-c", slow + "echo a; sleep 0.1; echo b"],
                                  stream=True)
    assert b"".join(streamed.output) == b"a\nb\n"


def test_containers_run_in_the_foreground(client):
    assert client.containers.run("alpine", ["echo", "hello"], remove=True) == b"hello\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("alpine", ["sh", "-c", "exit 3"], remove=True)
    assert failed.value.exit_status == 3
    assert client.containers.list(all=True) == []


def test_container_wait_and_logs(client):
    container = client.containers.run("alpine", ["sh", "-c", "echo done; exit 2"],
                                      detach=True, name=f"wait-{uid()}")
    assert container.wait(timeout=30)["StatusCode"] == 2
    assert container.logs() == b"done\n"
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 2
    container.remove()


def test_containers_list_filters(client):
    tag = uid()
    one = run(client, f"one-{tag}", labels={"pick": "me"})
    run(client, f"two-{tag}")
    assert [c.name for c in client.containers.list(filters={"name": one.name})] == [one.name]
    assert [c.name for c in client.containers.list(filters={"label": "pick=me"})] == [one.name]
    assert [c.name for c in client.containers.list(filters={"id": one.id})] == [one.name]


def test_network_connect_and_disconnect(client):
    tag = uid()
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="10.62.0.0/24")])
    back = client.networks.create(f"back-{tag}", ipam=ipam)
    server = run(client, f"srv-{tag}", back.name)
    roamer = run(client, f"roam-{tag}")
    assert not pings(roamer, address(server, back.name))

    back.connect(roamer, ipv4_address="10.62.0.77", aliases=[f"r-{tag}"])
    settings = client.containers.get(roamer.id).attrs["NetworkSettings"]["Networks"]
    assert sorted(settings) == sorted(["bridge", back.name])
    assert settings[back.name]["IPAddress"] == "10.62.0.77"
    assert settings[back.name]["IPAMConfig"] == {"IPv4Address": "10.62.0.77"}
    assert settings[back.name]["Aliases"] == [f"r-{tag}"]
    back.reload()
    assert sorted(c.name for c in back.containers) == sorted([server.name, roamer.name])
    assert pings(roamer, address(server, back.name))
    assert pings(server, "10.62.0.77")

    with pytest.raises(docker.errors.APIError) as twice:
        back.connect(roamer)
    assert twice.value.status_code == 403
    assert (f"endpoint with name {roamer.name} already exists in network {back.name}"
            in twice.value.explanation)

    back.disconnect(roamer)
    assert list(client.containers.get(roamer.id).attrs["NetworkSettings"]["Networks"]) == [
        "bridge"]
    assert not pings(roamer, address(server, back.name))
    with pytest.raises(docker.errors.APIError) as absent:
        back.disconnect(roamer)
    assert f"is not connected to network {back.name}" in absent.value.explanation


def test_errors_carry_dockers_status_and_message(client):
    tag = uid()
    with pytest.raises(docker.errors.NotFound) as no_container:
        client.containers.get(f"ghost-{tag}")
    assert no_container.value.status_code == 404
    assert no_container.value.explanation == f"No such container: ghost-{tag}"

    with pytest.raises(docker.errors.NotFound) as no_network:
        client.networks.get(f"ghost-{tag}")
    assert no_network.value.explanation == f"network ghost-{tag} not found"

    with pytest.raises(docker.errors.NotFound):
        client.containers.run("alpine", "true", detach=True, network=f"ghost-{tag}")

    with pytest.raises(docker.errors.APIError) as predefined:
        client.networks.get("bridge").remove()
    assert predefined.value.status_code == 403
    assert predefined.value.explanation == (
        "bridge is a pre-defined network and cannot be removed")

    name = f"dup-{tag}"
    client.networks.create(name)
    with pytest.raises(docker.errors.APIError) as duplicate:
        client.networks.create(name)
    assert duplicate.value.status_code == 409
    assert duplicate.value.explanation == f"network with name {name} already exists"

    run(client, name, name)
    with pytest.raises(docker.errors.APIError) as taken:
        run(client, name)
    assert taken.value.status_code == 409
    assert f'The container name "/{name}" is already in use' in taken.value.explanation

    with pytest.raises(docker.errors.APIError) as bad:
        client.networks.create(f"bad-{tag}", ipam=docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet="10.63.0.0/24", gateway="10.64.0.1")]))
    assert bad.value.status_code == 400
    assert bad.value.is_client_error()

    with pytest.raises(docker.errors.APIError) as in_use:
        client.networks.get(name).remove()
    assert in_use.value.status_code == 403
    assert f"network {name} has active endpoints" in in_use.value.explanation


def test_packets_within_a_network_but_not_across(client):
    tag = uid()
    left = client.networks.create(f"left-{tag}")
    right = client.networks.create(f"right-{tag}")
    l1, l2 = run(client, f"l1-{tag}", left.name), run(client, f"l2-{tag}", left.name)
    r1 = run(client, f"r1-{tag}", right.name)
    assert pings(l1, address(l2, left.name))
    assert pings(l2, address(l1, left.name))
    assert not pings(l1, address(r1, right.name))
    assert not pings(r1, address(l1, left.name))
    for container in (l1, l2, r1):
        container.remove(force=True)
    left.remove()
    right.remove()


def test_concurrent_clients(lab, client):
    """8 clients at once, each a network and 2 containers: all succeed, nothing shared."""
    tag = uid()
    url = lab.docker_host_url("h1")
    start = threading.Barrier(THREADS)

    def build(index: int) -> dict:
        with own_client(url) as own:
            start.wait(timeout=60)
            network = own.networks.create(f"cc{index}-{tag}")
            members = [run(own, f"cc{index}-{n}-{tag}", network.name) for n in range(2)]
            ips = [address(c, network.name) for c in members]
            subnet = own.networks.get(network.id).attrs["IPAM"]["Config"][0]["Subnet"]
            reached = pings(members[0], ips[1])
            return {"network": network.id, "subnet": subnet, "ips": ips, "reached": reached,
                    "containers": [c.id for c in members]}

    with ThreadPoolExecutor(THREADS) as pool:
        built = list(pool.map(build, range(THREADS)))

    assert len({b["network"] for b in built}) == THREADS
    subnets = [IPv4Network(b["subnet"]) for b in built]
    assert len(set(subnets)) == THREADS
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])
    ips = [ip for b in built for ip in b["ips"]]
    assert len(set(ips)) == 2 * THREADS
    assert all(IPv4Address(ip) in subnet
               for b, subnet in zip(built, subnets, strict=True) for ip in b["ips"])
    assert [b["reached"] for b in built] == [True] * THREADS
    assert len(client.containers.list()) == 2 * THREADS

    def tear_down(index: int) -> None:
        with own_client(url) as own:
            start.wait(timeout=60)
            for cid in built[index]["containers"]:
                own.containers.get(cid).remove(force=True)
            own.networks.get(built[index]["network"]).remove()

    start.reset()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(tear_down, range(THREADS)))
    assert client.containers.list(all=True) == []
    assert sorted(n.name for n in client.networks.list()) == ["bridge", "host", "none"]
    engine = lab.host("h1").engine
    assert engine.containers == {} and all(n.predefined for n in engine.networks.values())


def test_endpoints_config_alone_chooses_the_networks(client):
    """dockerd (updateContainerNetworkSettings): a non-empty EndpointsConfig replaces the
    default network; NetworkMode's network is added only when no endpoint is given."""
    tag = uid()
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.65.0.0/24")])
    network = client.networks.create(f"only-{tag}", ipam=ipam)
    api = client.api
    api.create_container("alpine", ["sleep", "infinity"], name=f"only-{tag}",
                         networking_config=api.create_networking_config({
                             network.name: api.create_endpoint_config(
                                 ipv4_address="10.65.0.5")}))
    api.start(f"only-{tag}")
    networks = api.inspect_container(f"only-{tag}")["NetworkSettings"]["Networks"]
    assert list(networks) == [network.name]
    assert networks[network.name]["IPAddress"] == "10.65.0.5"


def test_dns_names_follow_dockerd(client):
    """buildEndpointDNSNames: name, aliases, short ID, hostname (deduplicated), on
    user-defined networks only; null on bridge, host and none."""
    tag = uid()
    network = client.networks.create(f"dns-{tag}")
    api = client.api
    api.create_container("alpine", ["sleep", "infinity"], name=f"named-{tag}",
                         hostname=f"host-{tag}", host_config=api.create_host_config(
                             network_mode=network.name),
                         networking_config=api.create_networking_config({
                             network.name: api.create_endpoint_config(
                                 aliases=[f"alias-{tag}"])}))
    api.start(f"named-{tag}")
    named = api.inspect_container(f"named-{tag}")
    assert named["NetworkSettings"]["Networks"][network.name]["DNSNames"] == [
        f"named-{tag}", f"alias-{tag}", named["Id"][:12], f"host-{tag}"]
    for mode in ("bridge", "host", "none"):
        container = run(client, f"{mode}-{tag}", network_mode=mode)
        settings = api.inspect_container(container.id)["NetworkSettings"]["Networks"]
        assert settings[mode]["DNSNames"] is None, mode


def test_wait_on_a_created_container_returns_at_once(client):
    """The default condition is not-running: a created container qualifies."""
    name = f"created-{uid()}"
    client.api.create_container("alpine", ["true"], name=name)
    assert client.api.wait(name, timeout=10)["StatusCode"] == 0
    client.api.remove_container(name)


def test_pull_streams_one_json_message_per_chunk(client):
    messages = list(client.api.pull("alpine", stream=True, decode=True))
    assert messages and all("status" in m for m in messages)


def test_api_versions_are_answered_as_dockerd_answers_them(lab, h1):
    url = lab.docker_host_url("h1")
    for version in ("1.24", "1.44", "1.45"):
        api = docker.APIClient(base_url=url, version=version)
        try:
            assert "bridge" in [n["Name"] for n in api.networks()]
        finally:
            api.close()
    for version, message in [  # docker-py itself refuses versions below 1.24
        ("9.99", "client version 9.99 is too new. Maximum supported API version is 1.45"),
        ("1.46", "client version 1.46 is too new. Maximum supported API version is 1.45"),
    ]:
        api = docker.APIClient(base_url=url, version=version)
        try:
            with pytest.raises(docker.errors.APIError) as refused:
                api.networks()
        finally:
            api.close()
        assert (refused.value.status_code, refused.value.explanation) == (400, message)


def test_wrong_types_are_refused_with_the_go_decoders_text(client):
    """docker-py passes options and commands on as given: a caller's mistake reaches
    the daemon, which refuses it before anything is made."""
    with pytest.raises(docker.errors.APIError) as refused:
        client.networks.create(f"mtu-{uid()}", options={"com.docker.network.driver.mtu": 1400})
    assert refused.value.status_code == 400
    assert refused.value.explanation == (
        "invalid JSON: json: cannot unmarshal number into Go struct field "
        "NetworkCreateRequest.Options of type string")
    with pytest.raises(docker.errors.APIError) as bad_command:
        client.containers.create("alpine", [5], name=f"five-{uid()}")
    assert bad_command.value.explanation == (
        "invalid JSON: json: cannot unmarshal array into Go struct field "
        "ContainerConfigWrapper.Cmd of type string")
    assert [n.name for n in client.networks.list()] == ["none", "host", "bridge"]
    assert client.containers.list(all=True) == []
