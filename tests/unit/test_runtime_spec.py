"""The runtime fields of a create request: what is honoured, what is refused, and how."""

from __future__ import annotations

import json

import pytest

from emulator import errdefs as err
from emulator.api.containers import create_container as create_route
from emulator.api.context import HostContext
from emulator.api.router import Request
from emulator.cnm.engine import Engine
from emulator.cnm.runtimespec import DEFAULT_CAPABILITIES, RuntimeSpec, runtime_spec
from emulator.fabric.containerroot import MountSpec
from emulator.fabric.fake import FakeFabric
from emulator.fabric.identity import CAPABILITIES, Identity


def test_nothing_asked_is_root_at_slash_with_dockers_default_capabilities():
    spec = runtime_spec({"Image": "alpine"})
    assert spec == RuntimeSpec()
    assert spec.identity() == Identity("", DEFAULT_CAPABILITIES, "/")
    assert "NET_ADMIN" not in DEFAULT_CAPABILITIES and "NET_RAW" in DEFAULT_CAPABILITIES


@pytest.mark.parametrize(("add", "drop", "has", "lacks"), [
    (["NET_ADMIN"], [], {"NET_ADMIN", "CHOWN"}, set()),
    (["cap_net_admin"], ["net_raw"], {"NET_ADMIN"}, {"NET_RAW"}),
    ([], ["ALL"], set(), {"CHOWN", "NET_RAW"}),
    (["NET_RAW"], ["ALL"], {"NET_RAW"}, {"CHOWN"}),
    (["ALL"], ["SYS_ADMIN"], {"NET_ADMIN", "SYS_TIME"}, {"SYS_ADMIN"}),
])
def test_capabilities_are_tweaked_as_moby_does(add, drop, has, lacks):
    caps = runtime_spec({"HostConfig": {"CapAdd": add, "CapDrop": drop}}).capabilities()
    assert caps is not None and has <= caps and not lacks & caps


def test_privileged_and_add_all_mean_every_capability():
    assert runtime_spec({"HostConfig": {"Privileged": True}}).capabilities() is None
    assert runtime_spec({"HostConfig": {"CapAdd": ["ALL"]}}).capabilities() is None
    assert RuntimeSpec().identity(privileged=True).capabilities is None
    assert len(CAPABILITIES) == 41


def test_an_unknown_capability_is_refused_with_dockers_text():
    with pytest.raises(err.InvalidParameter, match='unknown capability: "CAP_NOPE"'):
        runtime_spec({"HostConfig": {"CapDrop": ["nope"]}})


def test_binds_mounts_and_tmpfs(tmp_path):
    spec = runtime_spec({"HostConfig": {
        "Binds": [f"{tmp_path}:/data:ro", "/x/y:/y"],
        "Mounts": [{"Type": "bind", "Source": str(tmp_path), "Target": "/m", "ReadOnly": True},
                   {"Type": "tmpfs", "Target": "/t",
                    "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o700}}],
        "Tmpfs": {"/run/x": "size=64k,exec"},
    }})
    by_target = {m.target: m for m in spec.mounts}
    assert by_target["/data"] == MountSpec("/data", "bind", str(tmp_path), read_only=True)
    assert by_target["/y"].source == "/x/y" and not by_target["/y"].read_only
    assert by_target["/m"].read_only
    assert by_target["/t"].options == "size=1048576,mode=700"
    assert by_target["/run/x"].options == "size=64k"


@pytest.mark.parametrize(("host_config", "error", "text"), [
    ({"Binds": ["vol:/data"]}, err.NotImplementedByEmulator,
     "named volumes is not supported by the emulator"),
    ({"Mounts": [{"Type": "volume", "Target": "/v"}]}, err.NotImplementedByEmulator,
     "--mount type=volume is not supported by the emulator"),
    ({"Mounts": [{"Type": "bind", "Source": "/nonexistent/rt", "Target": "/v"}]},
     err.InvalidParameter,
     'invalid mount config for type "bind": bind source path does not exist: '
     "/nonexistent/rt"),
    ({"Binds": ["/a:/x", "/b:/x"]}, err.InvalidParameter, "Duplicate mount point: /x"),
    ({"Tmpfs": {"/t": "huge"}}, err.NotImplementedByEmulator, "option huge"),
])
def test_what_cannot_be_honoured_is_refused(host_config, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(")):
        runtime_spec({"HostConfig": host_config})


def test_a_relative_working_directory_is_refused():
    with pytest.raises(err.InvalidParameter, match="needs to be an absolute path"):
        runtime_spec({"WorkingDir": "app"})
    assert runtime_spec({"WorkingDir": "/app/"}).identity().workdir == "/app"


def test_create_keeps_the_spec_and_start_hands_the_fabric_a_sandbox():
    fabric = FakeFabric("h1")
    engine = Engine("h1", fabric)
    host = HostContext(engine)
    body = {"Image": "alpine", "Cmd": ["sleep", "1"], "User": "nobody", "WorkingDir": "/w",
            "HostConfig": {"CapDrop": ["NET_RAW"], "ReadonlyRootfs": True}}
    request = Request("POST", "/containers/create", {"name": ["rt"]}, {},
                      json.dumps(body).encode())
    cid = create_route(host, request).body["Id"]
    container = engine.get_container(cid)
    assert container.runtime.user == "nobody" and container.runtime.read_only
    engine.lifecycle.start(cid)
    root = fabric.roots[container.id]
    assert root is not None and root.base == "busybox" and root.read_only
    assert root.identity.user == "nobody" and root.identity.workdir == "/w"
    assert "NET_RAW" not in (root.identity.capabilities or ())
    engine.exec(cid, ["id"], privileged=True)
    engine.exec(cid, ["id"])
    assert [i.capabilities is None for i in fabric.exec_identities] == [True, False]


def test_without_sandboxes_the_fabric_gets_no_root():
    fabric = FakeFabric("h1")
    engine = Engine("h1", fabric)
    with engine.sandboxing(False):
        container = engine.lifecycle.create("plain", [], image="debian")
        engine.lifecycle.start(container.id)
    assert fabric.roots[container.id] is None
    other = engine.lifecycle.create("viewed", [], image="debian")
    engine.lifecycle.start(other.id)
    assert fabric.roots[other.id].base == "host"  # type: ignore[union-attr]


def test_users_are_resolved_as_runc_does(monkeypatch):
    from emulator.fabric import identity
    from emulator.fabric.rootfs import GROUP, PASSWD

    tables = {"/etc/passwd": PASSWD, "/etc/group": GROUP + "extra:x:300:nobody\n"}
    monkeypatch.setattr(identity, "_table", lambda path: [
        line.split(":") for line in tables[path].splitlines()])
    resolve = identity.resolve_user
    assert resolve("") == (0, 0, (0,))
    assert resolve("nobody") == (65534, 65534, (300, 65534))
    assert resolve("1234") == (1234, 0, (0,))
    assert resolve("1234:tty") == (1234, 5, (5,))
    assert resolve("www-data:42") == (33, 42, (42,))
    with pytest.raises(identity.SandboxSetupError,
                       match="unable to find user ghost: no matching entries in passwd file"):
        resolve("ghost")
    with pytest.raises(identity.SandboxSetupError, match="unable to find group nope"):
        resolve("root:nope")
