"""Random Engine API request sequences thrown at one emulated host (hypothesis).

`HostMachine` is a hypothesis state machine: each rule sends one request, valid
or not (wrong types, bad JSON, unknown references, unsupported API versions,
cases of keys), as the docker CLI or a hostile client would; after each one:

- no answer was a server error (5xx), but for the emulator's 501 (an operation
  it does not support, refused before anything is touched) and the few 500s that
  are dockerd's own answer to a client's mistake (DOCKERD_500);
- a refused request (4xx, 501) left the host exactly as it was;
- `GET /networks` and `GET /containers/json?all=1` decode for a strict client:
  every body conforms to the spec's response schemas (api_schema.check_exchange);
- what the API lists is the engine's CNM state: the same networks and containers,
  each container on the networks it is attached to, no address twice on a network;
- the target's own check of the CNM state against the (fake or real) kernel.

tests/unit/test_api_properties.py runs it on the fake fabric,
tests/integration/test_api_random_sequences.py on a host of a real lab.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import docker
from api_schema import check_exchange
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from emulator.cnm.engine import Engine

LISTINGS = ("/networks", "/containers/json?all=1")


def listing_problems(api: docker.APIClient) -> list[str]:
    """How `GET /networks` and `GET /containers/json?all=1` fail a strict client."""
    problems = []
    for path in LISTINGS:
        target, _, query = path.partition("?")
        response = api._get(api._url(target), params=dict([query.split("=")]) if query else None)
        try:
            body = response.json()
        except ValueError as exc:
            problems.append(f"GET {path}: not JSON: {exc}")
            continue
        if response.status_code != 200:
            problems.append(f"GET {path}: {response.status_code} {body}")
        problems += check_exchange({"method": "GET", "path": path, "status": response.status_code,
                                    "body": body, "later": False}, strict=False)
    return problems


@dataclass
class Target:
    """One emulated host under test."""

    engine: Engine
    api: docker.APIClient
    snapshot: Callable[[], object]
    """Everything a refused request must leave as it was (kernel, IPAM, CNM)."""
    kernel_problems: Callable[[], list[str]]
    """How the CNM state and the kernel disagree."""
    reset: Callable[[], None]


# -- what requests are made of ------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)
"""Any JSON value: what a wrong-typed field gets."""

NAMES = st.sampled_from(["n1", "n2", "n3", "my net", "Ünï", "a.b-c_d", "n1", "n2", ""])
CONTAINER_NAMES = st.sampled_from(["c1", "c2", "c3", "c4", "web", "c1", "c2", "bad name",
                                   "x" * 70, "-x"])
SUBNETS = st.sampled_from(["10.90.0.0/24", "10.90.0.0/16", "10.91.0.0/24", "10.91.0.128/25",
                           "10.92.0.1/24", "300.0.0.0/8", "10.93.0.0/33", "bogus"])
LABELS = st.dictionaries(st.sampled_from(["a", "b", "com.example"]), st.text(max_size=4),
                         max_size=2)
OPTIONS = st.dictionaries(
    st.sampled_from(["com.docker.network.bridge.enable_icc", "com.docker.network.driver.mtu",
                     "com.docker.network.bridge.enable_ip_masquerade", "made.up"]),
    st.sampled_from(["true", "false", "1400", "maybe", ""]), max_size=2)
VERSIONS = st.sampled_from([""] * 6 + ["/v1.45", "/v1.24", "/v1.44"] * 2
                           + ["/v9.99", "/v0.1", "/v1.45.1"])
COMMANDS = st.sampled_from([["sleep", "60"], ["true"], "sleep 60", [], None])


def mutated(draw, body: dict[str, Any]) -> Any:
    """Sometimes a field gets any JSON value, a key another case, or the body is no object."""
    how = draw(st.sampled_from(["keep"] * 5 + ["field", "case", "whole"]))
    if how == "field" and body:
        key = draw(st.sampled_from(sorted(body)))
        return {**body, key: draw(JSON)}
    if how == "case" and body:
        key = draw(st.sampled_from(sorted(body)))
        return {(k.lower() if k == key else k): v for k, v in body.items()}
    if how == "whole":
        return draw(JSON)
    return body


NOT_TEXT = [5, 1.5, True, [1], {"a": 1}]
NOT_NUMBER = [-1, 1.5, "x", [1], {"a": 1}, True]
WRONG_SWARM = {
    "/swarm/init": {"DataPathPort": NOT_NUMBER, "SubnetSize": NOT_NUMBER,
                    "ListenAddr": NOT_TEXT, "Spec": [5, "x", [1], True],
                    "AutoLockManagers": [5, "x", [1], {"a": 1}],
                    "DefaultAddrPool": ["x", 5, {"a": 1}, [1]]},
    "/swarm/join": {"RemoteAddrs": ["x", 5, {"a": 1}, [1], True], "ListenAddr": NOT_TEXT,
                    "JoinToken": NOT_TEXT},
}
"""Fields of the swarm bodies, and values of a type Go refuses for each."""

GARBAGE = st.sampled_from([b"{", b"{not json", b'{"Name": "x"', b"[1 2]", b'{"a": NaN}',
                           b"   ", b"\xff\xfe", b'{"Name": "x"} {}'])


DOCKERD_500 = ("is not connected to",)
"""dockerd's own 500s (a plain Go error, not an errdefs class), which the emulator
keeps: `docker network disconnect` of a container not on the network."""


@dataclass
class Answer:
    status: int
    body: Any


class HostMachine(RuleBasedStateMachine):
    """Set `target` on a subclass before running it."""

    target: Target

    def __init__(self) -> None:
        super().__init__()
        self.target.reset()
        self.networks: list[str] = []
        self.network_names: list[str] = []
        self.containers: list[str] = []

    def teardown(self) -> None:
        self.target.reset()

    @initialize(running=st.booleans())
    def populate(self, running):
        """Every sequence starts on a host with a user network and two containers."""
        created = self.send("POST", "/networks/create",
                            {"Name": "base", "IPAM": {"Config": [{"Subnet": "10.80.0.0/24"}]}})
        assert created.status == 201, created
        self.networks.append(created.body["Id"])
        self.network_names.append("base")
        for name, network in (("c0", "base"), ("d0", "bridge")):
            made = self.send("POST", "/containers/create", {
                "Image": "alpine", "Cmd": ["sleep", "60"],
                "HostConfig": {"NetworkMode": network}}, name=name)
            assert made.status == 201, made
            self.containers.append(made.body["Id"])
        if running:
            assert self.send("POST", "/containers/c0/start").status == 204

    # -- sending ------------------------------------------------------------------

    def send(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             version: str = "", **query: Any) -> Answer:
        """One request; a refused one must leave the host as it was."""
        api = self.target.api
        before = self.target.snapshot()
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        response = api.request(method, f"{api.base_url}{version}{path}", data=data,
                               params=query or None,
                               headers={"Content-Type": "application/json"})
        text = response.text
        payload = json.loads(text) if text.strip() and response.headers.get(
            "Content-Type", "").startswith("application/json") else None
        status = response.status_code
        assert status < 500 or status == 501 or (
            status == 500 and isinstance(payload, dict)
            and any(t in payload.get("message", "") for t in DOCKERD_500)), (
            f"{method} {version}{path} {data!r}: {status} {text}")
        if status >= 400:
            assert isinstance(payload, dict) and isinstance(payload.get("message"), str), text
            assert self.target.snapshot() == before, (
                f"{method} {version}{path} {data!r} was refused ({status} {text.strip()}) "
                "but changed the host")
        return Answer(status, payload)

    def ref(self, data, known: list[str], extra: list[str]) -> str:
        """One of `known` (existing objects), most of the time, or one of `extra`."""
        return data.draw(st.sampled_from(known * 4 + extra))

    # -- networks -----------------------------------------------------------------

    @rule(data=st.data(), action=st.sampled_from(["create"] * 4 + ["remove"] * 2
                                                 + ["inspect", "prune"]),
          version=VERSIONS)
    def networks_request(self, data, action, version):
        if action == "create":
            self.create_network(data, version)
            return
        ref = quote(self.ref(data, self.networks, ["bridge", "host", "nope", "my net"]), safe="")
        if action == "remove":
            self.send("DELETE", f"/networks/{ref}", version=version)
        elif action == "inspect":
            self.send("GET", f"/networks/{ref}", version=version)
        else:
            label = data.draw(st.sampled_from(["a", "b=x", "com.example", "nope"]))
            self.send("POST", "/networks/prune", version=version,
                      filters=json.dumps({"label": [label]}))

    def create_network(self, data, version: str) -> None:
        draw = data.draw
        body: dict[str, Any] = {"Name": draw(NAMES), "Labels": draw(LABELS),
                                "Options": draw(OPTIONS), "Internal": draw(st.booleans())}
        driver = draw(st.sampled_from([None, None, "bridge", "null", "foo"]))
        if driver is not None:
            body["Driver"] = driver
        subnet = draw(st.none() | SUBNETS)
        if subnet is not None:
            body["IPAM"] = {"Config": [{"Subnet": subnet}]}
        answer = self.send("POST", "/networks/create", mutated(draw, body), version=version)
        if answer.status == 201:
            self.networks.append(answer.body["Id"])
            self.network_names.append(body["Name"])

    # -- containers ---------------------------------------------------------------

    @rule(data=st.data(), action=st.sampled_from(["create"] * 3 + ["start"] * 2
                                                 + ["stop", "kill", "restart", "remove"]))
    def containers_request(self, data, action):
        if action == "create":
            self.create_container(data)
            return
        ref = quote(self.ref(data, self.containers, ["nope", "c1"]), safe="")
        if action == "remove":
            self.send("DELETE", f"/containers/{ref}", force=int(data.draw(st.booleans())))
        else:
            self.send("POST", f"/containers/{ref}/{action}")

    def create_container(self, data) -> None:
        draw = data.draw
        network = self.ref(data, self.network_names + self.networks,
                           ["bridge", "bridge", "none", "host", "nope", "default"])
        body: dict[str, Any] = {"Image": "alpine", "Labels": draw(LABELS),
                                "HostConfig": {"NetworkMode": network}}
        command = draw(COMMANDS)
        if command is not None:
            body["Cmd"] = command
        static = draw(st.none() | st.sampled_from(["10.90.0.9", "10.91.0.200", "172.17.0.9",
                                                   "bogus"]))
        if static is not None:
            body["NetworkingConfig"] = {"EndpointsConfig": {network: {
                "IPAMConfig": {"IPv4Address": static}}}}
        answer = self.send("POST", "/containers/create", mutated(draw, body),
                           name=draw(CONTAINER_NAMES))
        if answer.status == 201:
            self.containers.append(answer.body["Id"])

    @rule(data=st.data(), disconnect=st.booleans())
    def connect_request(self, data, disconnect):
        draw = data.draw
        network = quote(self.ref(data, self.networks, ["bridge", "none", "host", "nope"]),
                        safe="")
        container = self.ref(data, self.containers, ["nope", "c1"])
        if disconnect:
            body: dict[str, Any] = {"Container": container, "Force": draw(st.booleans())}
            self.send("POST", f"/networks/{network}/disconnect", mutated(draw, body))
            return
        config: dict[str, Any] = {}
        static = draw(st.none() | st.sampled_from(["10.90.0.10", "10.91.0.201", "nonsense"]))
        if static is not None:
            config["IPAMConfig"] = {"IPv4Address": static}
        aliases = draw(st.none() | st.lists(st.sampled_from(["a", "b", ""]), max_size=2))
        if aliases is not None:
            config["Aliases"] = aliases
        body = {"Container": container, "EndpointConfig": config}
        self.send("POST", f"/networks/{network}/connect", mutated(draw, body))

    @rule(data=st.data(), command=COMMANDS)
    def exec_request(self, data, command):
        container = quote(self.ref(data, self.containers, ["nope"]), safe="")
        self.send("POST", f"/containers/{container}/exec",
                  mutated(data.draw, {"Cmd": command, "AttachStdout": True}))

    # -- hostile requests ------------------------------------------------------------

    @rule(data=st.data(), kind=st.sampled_from(["garbage", "swarm", "unknown"]))
    def hostile_request(self, data, kind):
        draw = data.draw
        if kind == "garbage":
            path = draw(st.sampled_from(["/networks/create", "/containers/create",
                                         "/swarm/init", "/swarm/join",
                                         "/networks/bridge/connect", "/exec/nope/start"]))
            self.send("POST", path, raw=draw(GARBAGE))
        elif kind == "swarm":
            # types dockerd refuses (a valid body would change the host beyond this model)
            path = draw(st.sampled_from(sorted(WRONG_SWARM)))
            field = draw(st.sampled_from(sorted(WRONG_SWARM[path])))
            answer = self.send("POST", path, {field: draw(st.sampled_from(
                WRONG_SWARM[path][field]))})
            assert answer.status == 400, answer
        else:
            path = draw(st.sampled_from(["/nonsense", "/networks/a/b/c", "/containers",
                                         "/v1.45/v1.45/networks", "/networks/bridge/connect"]))
            method = draw(st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]))
            answer = self.send(method, path)
            assert answer.status in (404, 501), answer

    # -- what must hold after each request -----------------------------------------

    @invariant()
    def listings_decode_and_match_the_engine(self):
        api, engine = self.target.api, self.target.engine
        assert listing_problems(api) == []
        networks = api._result(api._get(api._url("/networks")), json=True)
        assert {n["Id"] for n in networks} == set(engine.networks)
        containers = api._result(api._get(api._url("/containers/json"), params={"all": 1}),
                                 json=True)
        assert {c["Id"] for c in containers} == set(engine.containers)
        names = {n["Id"]: n["Name"] for n in networks}
        for shown in containers:
            container = engine.containers[shown["Id"]]
            listed = shown["NetworkSettings"]["Networks"]
            # a stopped container keeps its wish for a network removed since (dockerd too)
            assert set(listed) == {names[n] for n in container.attachments if n in names}, shown
        for network_id in names:
            addresses = [c["NetworkSettings"]["Networks"][names[network_id]]["IPAddress"]
                         for c in containers
                         if names[network_id] in c["NetworkSettings"]["Networks"]]
            taken = [a for a in addresses if a]
            assert len(taken) == len(set(taken)), (names[network_id], addresses)

    @invariant()
    def kernel_matches(self):
        assert self.target.kernel_problems() == []
