"""Request bodies through the HTTP server: refused as dockerd refuses them, before
anything is touched, and every client can still list afterwards.

dockerd (v26.1, Go 1.21) decodes bodies with Go's encoding/json: the texts below
are Go's, prefixed by dockerd's `invalid JSON: `. Each refused request must leave
the engine, the fake kernel and the address pools exactly as they were, and
`GET /networks` and `GET /containers/json?all=1` must still decode for a strict
client (the spec's response schemas).
"""

from __future__ import annotations

import pytest
from api_properties import listing_problems
from engine_helpers import engine_state
from served import served

GO = "invalid JSON: json: cannot unmarshal "

REFUSED = [
    ("/networks/create", {"Name": 5},
     GO + "number into Go struct field NetworkCreateRequest.Name of type string"),
    ("/networks/create", {"Name": "lbl", "Labels": [1]},
     GO + "array into Go struct field NetworkCreateRequest.Labels of type map[string]string"),
    ("/networks/create", {"Name": "x", "Internal": "no"},
     GO + "string into Go struct field NetworkCreateRequest.Internal of type bool"),
    ("/networks/create", {"Name": "x", "Labels": {"a": 1}},
     GO + "number into Go struct field NetworkCreateRequest.Labels of type string"),
    ("/networks/create", {"Name": "x", "IPAM": {"Config": [{"Subnet": 5}]}},
     GO + "number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string"),
    ("/networks/create", {"Name": "x", "IPAM": "default"},
     GO + "string into Go struct field NetworkCreateRequest.IPAM of type network.IPAM"),
    ("/networks/create", {"Name": "x", "Options": {"com.docker.network.driver.mtu": 1500}},
     GO + "number into Go struct field NetworkCreateRequest.Options of type string"),
    ("/networks/create", {"Name": "x", "ConfigFrom": {"Network": True}},
     GO + "bool into Go struct field ConfigReference.ConfigFrom.Network of type string"),
    ("/networks/create", [],
     GO + "array into Go value of type types.NetworkCreateRequest"),
    ("/networks/create", {"Internal": "no", "Name": 5},
     GO + "string into Go struct field NetworkCreateRequest.Internal of type bool"),
    ("/networks/create", {"name": 5},
     GO + "number into Go struct field NetworkCreateRequest.Name of type string"),
    ("/networks/bridge/connect", {"Container": 5},
     GO + "number into Go struct field NetworkConnect.Container of type string"),
    ("/networks/bridge/connect", {"Container": "c", "EndpointConfig": {"Aliases": "a"}},
     GO + "string into Go struct field EndpointSettings.EndpointConfig.Aliases of type []string"),
    ("/networks/bridge/connect",
     {"Container": "c", "EndpointConfig": {"IPAMConfig": {"IPv4Address": 10}}},
     GO + "number into Go struct field EndpointIPAMConfig.EndpointConfig.IPAMConfig.IPv4Address "
          "of type string"),
    ("/networks/bridge/disconnect", {"Container": "c", "Force": "yes"},
     GO + "string into Go struct field NetworkDisconnect.Force of type bool"),
    ("/containers/create", {"Image": "a", "Cmd": [5]},
     GO + "array into Go struct field ContainerConfigWrapper.Cmd of type string"),
    ("/containers/create", {"Image": "a", "Cmd": 5},
     GO + "number into Go struct field ContainerConfigWrapper.Cmd of type string"),
    ("/containers/create", {"Image": "a", "Env": "A=b"},
     GO + "string into Go struct field ContainerConfigWrapper.Env of type []string"),
    ("/containers/create", {"Image": "a", "HostConfig": {"NetworkMode": 5}},
     GO + "number into Go struct field HostConfig.HostConfig.NetworkMode of type "
          "container.NetworkMode"),
    ("/containers/create", {"Image": "a", "HostConfig": {"Memory": 1.5}},
     GO + "number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ("/containers/create", {"Image": "a", "HostConfig": {"BlkioWeight": 70000}},
     GO + "number 70000 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16"),
    ("/containers/create",
     {"Image": "a", "NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": 3}}}},
     GO + "number into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases"
          " of type []string"),
    ("/containers/create", {"Image": "a", "Labels": {"a": 1}, "Cmd": [5]},
     GO + "array into Go struct field ContainerConfigWrapper.Cmd of type string"),
    ("/containers/create", {"Image": "a", "StopTimeout": "10"},
     GO + "string into Go struct field ContainerConfigWrapper.StopTimeout of type int"),
    ("/containers/web/exec", {"Cmd": "ls"},
     GO + "string into Go struct field ExecConfig.Cmd of type []string"),
    ("/containers/web/exec", {"Cmd": ["ls", 5]},
     GO + "number into Go struct field ExecConfig.Cmd of type string"),
    ("/containers/web/exec", {"Cmd": ["ls"], "Tty": "yes"},
     GO + "string into Go struct field ExecConfig.Tty of type bool"),
    ("/containers/web/exec", {"Cmd": ["ls"], "ConsoleSize": [1, -1]},
     GO + "number -1 into Go struct field ExecConfig.ConsoleSize of type uint"),
    ("/exec/nope/start", {"Detach": "x"},
     GO + "string into Go struct field ExecStartCheck.Detach of type bool"),
    ("/swarm/init", {"DataPathPort": -1},
     GO + "number -1 into Go struct field InitRequest.DataPathPort of type uint32"),
    ("/swarm/init", {"SubnetSize": 1.5},
     GO + "number 1.5 into Go struct field InitRequest.SubnetSize of type uint32"),
    ("/swarm/init", {"Spec": {"Raft": {"ElectionTick": "x"}}},
     GO + "string into Go struct field RaftConfig.Spec.Raft.ElectionTick of type int"),
    ("/swarm/init", {"DefaultAddrPool": "10.0.0.0/8"},
     GO + "string into Go struct field InitRequest.DefaultAddrPool of type []string"),
    ("/swarm/join", {"RemoteAddrs": "h1:2377"},
     GO + "string into Go struct field JoinRequest.RemoteAddrs of type []string"),
    ("/swarm/join", {"JoinToken": 7},
     GO + "number into Go struct field JoinRequest.JoinToken of type string"),
]

SYNTAX = [
    ("/networks/create", b"{not json",
     "invalid JSON: invalid character 'n' looking for beginning of object key string"),
    ("/networks/create", b'{"Name": "x"', "invalid JSON: unexpected EOF"),
    ("/networks/create", b'{"Name": "x"} {}', "unexpected content after JSON"),
    ("/networks/create", b"   ", "invalid JSON: got EOF while reading request body"),
    ("/containers/create", b"", "invalid JSON: got EOF while reading request body"),
    ("/networks/create", b'{"Name": tru}',
     "invalid JSON: invalid character '}' in literal true (expecting 'e')"),
    ("/networks/create", b'{"Name": "x",}',
     "invalid JSON: invalid character '}' looking for beginning of object key string"),
    ("/networks/create", b"[1 2]", "invalid JSON: invalid character '2' after array element"),
    ("/networks/create", b'{"Name": NaN}',
     "invalid JSON: invalid character 'N' looking for beginning of value"),
    ("/networks/create", b'{"Name": 1.}',
     "invalid JSON: invalid character '}' after decimal point in numeric literal"),
    ("/networks/create", b'{"Name": "a\nb"}',
     "invalid JSON: invalid character '\\n' in string literal"),
    ("/containers/create", b"{}", "config cannot be empty in order to create a container"),
]


@pytest.fixture
def host(tmp_path):
    with served(tmp_path) as running:
        running.engine.create_container("web", [], command=["sleep", "9"])
        yield running


@pytest.mark.parametrize(("path", "body", "message"), REFUSED,
                         ids=[f"{p} {m.removeprefix(GO)[:50]}" for p, _, m in REFUSED])
def test_a_wrong_type_is_refused_with_gos_text_and_changes_nothing(host, path, body, message):
    before = engine_state(host.engine), sorted(host.engine.containers)
    response = host.post(path, body)
    assert (response.status_code, response.json()) == (400, {"message": message})
    assert (engine_state(host.engine), sorted(host.engine.containers)) == before
    assert listing_problems(host.api) == []


@pytest.mark.parametrize(("path", "data", "message"), SYNTAX, ids=[m for _, _, m in SYNTAX])
def test_bad_json_is_refused_with_gos_text(host, path, data, message):
    before = engine_state(host.engine), sorted(host.engine.containers)
    response = host.post(path, data, raw=True)
    assert (response.status_code, response.json()) == (400, {"message": message})
    assert (engine_state(host.engine), sorted(host.engine.containers)) == before


def test_a_wrong_typed_request_no_longer_breaks_the_listings(host):
    """Finding 2: `{"Name": 5}` was accepted and broke `docker network ls` for every
    client; `Cmd: [5]` broke `docker ps -a`."""
    assert host.post("/networks/create", {"Name": 5}).status_code == 400
    assert host.post("/containers/create?name=five", {"Image": "a", "Cmd": [5]}).status_code == 400
    assert [n["Name"] for n in host.get("/networks").json()] == ["none", "host", "bridge"]
    assert [c["Names"] for c in host.get("/containers/json", all=1).json()] == [["/web"]]
    assert listing_problems(host.api) == []


def test_internal_no_makes_no_network(host):
    assert host.post("/networks/create", {"Name": "x", "Internal": "no"}).status_code == 400
    assert [n.name for n in host.engine.networks.values()] == ["none", "host", "bridge"]


def test_labels_of_the_wrong_type_leave_no_bridge_rules_or_pool(host):
    """Finding 3: a refused create left a bridge, its rules and 172.18.0.0/16 taken."""
    before = engine_state(host.engine)
    response = host.post("/networks/create", {"Name": "lbl", "Labels": [1]})
    assert response.json() == {"message": GO + "array into Go struct field "
                                          "NetworkCreateRequest.Labels of type map[string]string"}
    assert engine_state(host.engine) == before
    created = host.post("/networks/create", {"Name": "lbl"})
    assert created.status_code == 201
    shown = host.get(f"/networks/{created.json()['Id']}").json()
    assert shown["IPAM"]["Config"][0]["Subnet"] == "172.18.0.0/16"


def test_what_go_accepts_is_accepted(host):
    """Nulls leave the zero value, unknown keys are ignored, keys match a field
    whatever their case, a command may be one string, and what follows a closing
    bracket is no content (json.Decoder.More)."""
    assert host.post("/networks/create", {"Name": "nul", "Labels": None, "IPAM": None,
                                          "Internal": None}).status_code == 201
    assert host.post("/networks/create", {"Name": "extra", "Bogus": [1]}).status_code == 201
    assert host.post("/networks/create", {"name": "lower", "internal": True}).status_code == 201
    assert host.post("/networks/create", b'{"Name": "trail"}}', raw=True).status_code == 201
    networks = {n["Name"]: n for n in host.get("/networks").json()}
    assert networks["nul"]["Labels"] == {} and networks["nul"]["Internal"] is False
    assert networks["lower"]["Internal"] is True
    assert "trail" in networks and "extra" in networks
    created = host.post("/containers/create?name=one", {"Image": "a", "Cmd": "sleep"})
    assert created.status_code == 201
    assert host.engine.get_container("one").command == ["sleep"]
    assert listing_problems(host.api) == []
