"""The `cnm` command line as a user types it: `--lab` before or after the target, the
exact command to type when several labs run, hints that keep the options given, a
"did you mean" for misspelt names, `lab ls` columns that fit their content and one
pass over a topology file's problems."""

from __future__ import annotations

import os
import textwrap

import pytest

from emulator import cli
from emulator.lab import control
from emulator.lab.cleanup import CleanReport
from emulator.lab.control import LabSummary
from emulator.lab.state import LabState, RunDir

ME = control.ProcessId.of(os.getpid())


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that need root get past the root check; nothing reaches a real lab."""
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0)
    monkeypatch.delenv("CNM_LAB_NAME", raising=False)
    monkeypatch.setattr(cli.sys, "argv", ["cnm"])
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)


def running(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """These labs run (each with h1 and h2): what `lab ls` and the lab lookup see."""
    summaries = [LabSummary(name, "running", 4242, ["h1", "h2"], 0) for name in names]
    monkeypatch.setattr(control, "summaries", lambda: summaries)
    states = {name: LabState(name, ME, ready=True, hosts={"h1": ME, "h2": ME})
              for name in names}
    monkeypatch.setattr(RunDir, "read", lambda self: states.get(self.name))


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, list[str]]]:
    """(lab, target, argv) of each command `cnm exec` would have run."""
    calls: list[tuple[str, str, list[str]]] = []
    monkeypatch.setattr(control, "exec_in",
                        lambda state, target, argv: calls.append((state.name, target, argv)))
    return calls


@pytest.mark.parametrize("argv", [
    ["exec", "h1", "--lab", "clb", "--", "ip", "-br", "addr"],
    ["exec", "--lab", "clb", "h1", "ip", "-br", "addr"],
    ["exec", "--lab", "clb", "h1", "--", "ip", "-br", "addr"],
    ["exec", "h1", "--lab=clb", "ip", "-br", "addr"],
], ids=" ".join)
def test_lab_is_taken_before_or_after_the_target(root, monkeypatch, executed, argv) -> None:
    running(monkeypatch, "cla", "clb")
    assert cli.main(argv) == 0
    assert executed == [("clb", "h1", ["ip", "-br", "addr"])]


def test_what_follows_the_command_or_a_double_dash_is_the_commands(root, monkeypatch,
                                                                    executed) -> None:
    running(monkeypatch, "cla")
    assert cli.main(["exec", "h1", "--", "--lab", "x"]) == 0
    assert cli.main(["exec", "h1", "echo", "--lab", "x"]) == 0
    assert cli.main(["exec", "h1", "--lab", "cla", "--", "--", "x"]) == 0
    assert executed == [("cla", "h1", ["--lab", "x"]), ("cla", "h1", ["echo", "--lab", "x"]),
                        ("cla", "h1", ["--", "x"])]


def test_a_lab_option_without_a_command_is_not_run_as_one(root, monkeypatch, executed,
                                                          capsys) -> None:
    running(monkeypatch, "cla", "clb")
    assert cli.main(["exec", "h1", "--lab", "cla"]) == 2
    assert executed == []
    assert capsys.readouterr().err == (
        "cnm: no command given: cnm exec [--lab NAME] TARGET -- CMD [ARG...]\n")


def test_two_different_labs_are_refused(root, monkeypatch, executed, capsys) -> None:
    running(monkeypatch, "cla", "clb")
    assert cli.main(["exec", "--lab", "cla", "h1", "--lab", "clb", "true"]) == 2
    assert "two labs named" in capsys.readouterr().err
    assert executed == []


@pytest.mark.parametrize(("argv", "suggested"), [
    (["exec", "h1", "--", "ip", "-br", "addr"],
     ["cnm exec --lab {} h1 -- ip -br addr"]),
    (["exec", "h1/web", "sh", "-c", "echo a b"],
     ["cnm exec --lab {} h1/web sh -c 'echo a b'"]),
    (["env", "h2"], ["cnm env --lab {} h2"]),
    (["lab", "down"], ["cnm lab down {}"]),
    (["lab", "logs"], ["cnm lab logs {}"]),
], ids=lambda v: " ".join(v) if isinstance(v[0], str) and " " not in v[0] else "")
def test_several_labs_answer_with_the_command_to_type(root, monkeypatch, executed, capsys,
                                                      argv, suggested) -> None:
    running(monkeypatch, "cla", "clbb")
    assert cli.main(argv) == 1
    assert executed == []
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "cnm: several labs are running (cla, clbb); name one:"
    assert err[1:] == [f"  {line.format(name)}" for name in ("cla", "clbb")
                       for line in suggested]


def test_the_suggested_commands_name_cnm_as_it_was_typed(root, monkeypatch, capsys) -> None:
    running(monkeypatch, "cla", "clb")
    monkeypatch.setattr(cli.sys, "argv", [".venv/bin/cnm", "lab", "down"])
    assert cli.main(["lab", "down"]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  .venv/bin/cnm lab down cla", "  .venv/bin/cnm lab down clb"]


def test_env_hint_keeps_the_lab_given(root, monkeypatch, capsys) -> None:
    running(monkeypatch, "cla", "clb")
    assert cli.main(["env", "--lab", "clb", "h1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"export DOCKER_HOST=unix://{RunDir('clb').socket('h1')}"
    assert out[-1] == "# eval $(cnm env --lab clb h1)"
    assert cli.main(["env", "h2", "--lab", "cla"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "# eval $(cnm env --lab cla h2)"


def test_env_hint_without_a_lab_names_none(root, monkeypatch, capsys) -> None:
    running(monkeypatch, "cla")
    monkeypatch.setattr(cli.sys, "argv", ["/opt/x/.venv/bin/cnm", "env", "h1"])
    assert cli.main(["env", "h1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "# eval $(/opt/x/.venv/bin/cnm env h1)"


def test_lab_down_and_clean_take_the_name_or_lab(root, monkeypatch, capsys) -> None:
    running(monkeypatch, "cla", "clb")
    stopped: list[str | None] = []
    monkeypatch.setattr(control, "stop", lambda name: stopped.append(name) or name)
    assert cli.main(["lab", "down", "--lab", "clb"]) == 0
    assert cli.main(["lab", "down", "cla"]) == 0
    assert stopped == ["clb", "cla"]
    assert cli.main(["lab", "down", "cla", "--lab", "clb"]) == 2
    cleaned: list[str | None] = []
    monkeypatch.setattr("emulator.lab.cleanup.clean",
                        lambda only: cleaned.append(only) or CleanReport())
    assert cli.main(["clean", "--lab", "clb"]) == 0
    assert cli.main(["clean", "cla"]) == 0
    assert cleaned == ["clb", "cla"]


def test_lab_ls_columns_fit_their_content(root, monkeypatch, capsys) -> None:
    rows = [LabSummary("a-very-long-lab", "running", 123456789, ["h1:docker", "h2:docker",
                                                                  "h3"], 1200),
            LabSummary("x", "dead (run `cnm clean`)", 7, ["h1"], 0)]
    monkeypatch.setattr(control, "summaries", lambda: rows)
    assert cli.main(["lab", "ls"]) == 0
    assert capsys.readouterr().out == textwrap.dedent("""\
        NAME              STATUS                   PID         HOSTS                    CONTAINERS
        a-very-long-lab   running                  123456789   h1:docker,h2:docker,h3   1200
        x                 dead (run `cnm clean`)   7           h1                       0
        """)


@pytest.mark.parametrize(("argv", "meant"), [
    (["rnu"], "run"),
    (["lab", "dwon"], "down"),
    (["topology", "chek", "x.yaml"], "check"),
    (["topology", "show", "isolaton"], "isolation"),
    (["lab", "up", "--engine", "dokcer"], "docker"),
], ids=" ".join)
def test_misspelt_commands_get_a_did_you_mean(capsys, argv, meant) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"; did you mean {meant!r}?")


def test_a_misspelt_experiment_gets_a_did_you_mean(root, capsys) -> None:
    assert cli.main(["run", "isolatoin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnm run: ERROR: unknown experiment 'isolatoin' "
                          "(did you mean 'isolation'?); registered: ")


def test_nothing_close_gets_no_guess(root, capsys) -> None:
    assert cli.main(["run", "zzzzzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_topology_check_reports_shape_and_docker_problems_in_one_pass(tmp_path,
                                                                       capsys) -> None:
    path = tmp_path / "two-kinds.yaml"
    path.write_text(textwrap.dedent("""\
        name: demo
        hosts:
          h1:
            networks:
              front: {subnet: 10.10.0.0/24, gateway: 10.20.0.1}
              bad: {driver: 42}
            containers:
              web: {network: front}
          h2:
            networks:
              n: {subnet: 10.30.0.0/24, gateway: 10.40.0.1}
            colour: blue
        """))
    assert cli.main(["topology", "check", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:5: hosts.h1.networks.front: invalid network config:",
        "* invalid gateway 10.20.0.1: parent subnet 10.10.0.0/24 doesn't contain this "
        "address",
        f"{path}:6: hosts.h1.networks.bad.driver: must be a string; got the number 42 "
        "(quote it to make it a string)",
        f"{path}:8: hosts.h1.containers.web: network front not found",
        f"{path}:11: hosts.h2.networks.n: invalid network config:",
        "* invalid gateway 10.40.0.1: parent subnet 10.30.0.0/24 doesn't contain this "
        "address",
        f"{path}:12: hosts.h2.colour: unknown field; allowed: engine, address, address6, "
        "networks, containers, ipv6, fixed-cidr-v6",
    ]


def test_a_field_with_a_problem_is_not_reported_twice(tmp_path, capsys) -> None:
    """A network whose own field is wrong is checked by Docker's rules without that
    field; a Docker problem about that network would repeat it, so it is left out."""
    path = tmp_path / "one.yaml"
    path.write_text(textwrap.dedent("""\
        name: demo
        hosts:
          h1:
            networks:
              n: {driver: 42, subnet: 10.30.0.0/24, gateway: 10.40.0.1}
        """))
    assert cli.main(["topology", "check", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:5: hosts.h1.networks.n.driver: must be a string; got the number 42 "
        "(quote it to make it a string)",
    ]


def test_a_file_that_cannot_be_read_names_the_file(capsys, tmp_path) -> None:
    assert cli.main(["topology", "check", str(tmp_path / "missing.yaml")]) == 1
    assert capsys.readouterr().err == (
        f"cnm: {tmp_path / 'missing.yaml'}: No such file or directory\n")


def test_cnm_lab_name_names_the_lab_where_nothing_else_does(root, monkeypatch, executed,
                                                           capsys) -> None:
    running(monkeypatch, "cla", "clb")
    monkeypatch.setenv("CNM_LAB_NAME", "clb")
    assert cli.main(["exec", "h1", "--", "true"]) == 0
    assert cli.main(["exec", "--lab", "cla", "h1", "--", "true"]) == 0
    assert executed == [("clb", "h1", ["true"]), ("cla", "h1", ["true"])]
    started: list[str] = []
    monkeypatch.setattr(control, "start_background",
                        lambda topology, name, engine: started.append(name) or name)
    assert cli.main(["lab", "up"]) == 0
    assert cli.main(["lab", "up", "--name", "clc"]) == 0
    assert started == ["clb", "clc"]


@pytest.mark.parametrize(("argv", "message"), [
    (["exec", "ouside", "--", "true"],
     "cnm: no host ouside in lab cla (did you mean 'outside'?); hosts: h1, h2, outside\n"),
    (["exec", "h3", "--", "true"], "cnm: no host h3 in lab cla; hosts: h1, h2, outside\n"),
    (["env", "h11"],
     "cnm: no Docker host h11 in lab cla (did you mean 'h1'?); hosts: h1, h2\n"),
    (["exec", "--lab", "clx", "h1", "true"],
     "cnm: no lab named clx (did you mean 'cla'?); running labs: cla\n"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_a_misspelt_host_or_lab_gets_a_did_you_mean(root, monkeypatch, capsys,
                                                    argv, message) -> None:
    running(monkeypatch, "cla")
    monkeypatch.setattr(control, "setns", lambda *a: pytest.fail("entered a namespace"))
    assert cli.main(argv) == 1
    assert capsys.readouterr().err == message


def test_a_misspelt_driver_is_refused_before_the_kit_runs(root, capsys, tmp_path) -> None:
    assert cli.main(["conformance", "--driver", "brigde", "--results", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(
        "cnm conformance: unknown driver 'brigde' (did you mean 'bridge'?): a built-in")
    assert not any(tmp_path.iterdir())


def test_run_refuses_a_topology_with_both_kinds_of_problem_before_starting(root, tmp_path,
                                                                           capsys) -> None:
    path = tmp_path / "two-kinds.yaml"
    path.write_text("name: demo\nhosts:\n  h1:\n    colour: blue\n    networks:\n"
                    "      n: {subnet: 10.30.0.0/24, gateway: 10.40.0.1}\n")
    results = tmp_path / "results"
    assert cli.main(["run", "isolation", "--topology", str(path), "--results",
                     str(results)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"{path}:4: hosts.h1.colour: unknown field; allowed: engine, address, "
                      "address6, networks, containers, ipv6, fixed-cidr-v6")
    assert err[1] == f"{path}:6: hosts.h1.networks.n: invalid network config:"
    assert not results.exists()


def test_run_topology_takes_a_packaged_name_or_a_file(tmp_path) -> None:
    from emulator.cli import packaged_or_path

    assert packaged_or_path("isolation-dualstack").endswith(
        "topologies/isolation-dualstack.yaml")
    mine = tmp_path / "isolation"
    mine.write_text("name: x\n")
    assert packaged_or_path(str(mine)) == str(mine)
    assert packaged_or_path("no-such.yaml") == "no-such.yaml"
    assert packaged_or_path(None) is None
