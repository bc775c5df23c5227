"""Without root, a `cnm` command that builds or reads labs says so in one line; reading
topology files and listing experiments or checks still work."""

from __future__ import annotations

import pytest

from emulator import cli

NOBODY = 65534
NEEDS_ROOT = {
    "lab up": ["lab", "up"],
    "lab ls": ["lab", "ls"],
    "lab down": ["lab", "down", "x"],
    "clean": ["clean"],
    "exec": ["exec", "h1", "--", "true"],
    "env": ["env", "h1"],
    "run": ["run", "tour"],
    "conformance": ["conformance", "--driver", "bridge"],
}
ROOT_FREE = [
    ["topology", "schema"],
    ["topology", "show", "default"],
    ["topology", "check", "emulator/topology/default.yaml"],
    ["run", "--list"],
    ["conformance", "--list"],
]


COMMANDS = ("_lab_up", "_lab_ls", "_lab_down", "_clean", "_exec", "_env", "_run", "_conformance")


def _must_not_run(name: str):
    def command(args) -> int:
        pytest.fail(f"{name} ran without root")

    command.__name__ = name
    return command


@pytest.fixture
def nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process looks unprivileged; should a command that needs root not be refused,
    the test fails before the command touches anything."""
    monkeypatch.setattr(cli.os, "geteuid", lambda: NOBODY)
    for name in COMMANDS:
        monkeypatch.setattr(cli, name, _must_not_run(name))


@pytest.fixture
def nobody_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.os, "geteuid", lambda: NOBODY)


@pytest.mark.parametrize("command", sorted(NEEDS_ROOT))
def test_a_command_that_needs_root_says_so(nobody, capsys, command: str) -> None:
    assert cli.main(NEEDS_ROOT[command]) == 77
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"cnm {command} needs root: labs are network namespaces, with their state "
                   "in /run/cnm (run it with sudo)\n")


@pytest.mark.parametrize("argv", ROOT_FREE, ids=" ".join)
def test_reading_topologies_and_listing_need_no_root(nobody_lists, capsys,
                                                     argv: list[str]) -> None:
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert out and err == ""
