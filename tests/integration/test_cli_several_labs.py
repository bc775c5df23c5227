"""Two real labs at once, as a user meets them: a command that names no lab answers
with the exact commands to type, each of which works as printed; `--lab` works before
and after the target; `env` keeps `--lab` in its hint; `lab ls` lines up its columns.
(Other people's labs may run too: only this test's are looked at.)"""

from __future__ import annotations

import os
import secrets
import shlex
from collections.abc import Iterator

import pytest
from conftest import run_cnm
from leftovers import assert_nothing_left, backstop

from emulator.lab import control


@pytest.fixture(scope="module")
def two_labs() -> Iterator[tuple[str, str]]:
    names = ("cl" + secrets.token_hex(2), "cl" + secrets.token_hex(2))
    try:
        for name in names:
            up = run_cnm("lab", "up", "--name", name, timeout=120)
            assert up.returncode == 0, up.stderr
        yield names
    finally:
        for name in names:
            backstop(name)
            assert_nothing_left(name)


def test_a_command_without_a_lab_answers_with_the_commands_to_type(two_labs) -> None:
    if os.environ.get("CNM_LAB_NAME"):
        pytest.skip("CNM_LAB_NAME names a lab for every command")
    done = run_cnm("exec", "h1", "--", "printenv", "CNM_LAB")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith("cnm: several labs are running (")
    suggested = {line.split()[3]: line.strip() for line in lines[1:]}
    for name in two_labs:
        assert suggested[name] == f"cnm exec --lab {name} h1 -- printenv CNM_LAB"
        typed = shlex.split(suggested[name])[1:]
        ran = run_cnm(*typed)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.startswith(f"{name}.")  # the lab's mark: it ran in that lab


@pytest.mark.parametrize("where", ["before", "after"])
def test_lab_before_or_after_the_target(two_labs, where: str) -> None:
    name = two_labs[1]
    argv = (["exec", "--lab", name, "h2", "--", "cat", "/proc/self/environ"]
            if where == "before" else ["exec", "h2", "--lab", name, "--", "cat",
                                       "/proc/self/environ"])
    done = run_cnm(*argv)
    assert done.returncode == 0, done.stderr
    environ = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    assert environ["CNM_HOST"] == "h2"
    assert environ["CNM_LAB"].startswith(f"{name}.")


def test_env_hint_keeps_the_lab(two_labs) -> None:
    name = two_labs[0]
    done = run_cnm("env", "h1", "--lab", name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"# eval $(cnm env --lab {name} h1)"
    assert f"/run/cnm/{name}/h1.sock" in done.stdout.splitlines()[0]


def test_lab_ls_lines_up_its_columns(two_labs) -> None:
    done = run_cnm("lab", "ls")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = lines[0]
    starts = [header.index(word) for word in ("STATUS", "PID", "HOSTS", "CONTAINERS")]
    ours = [line for line in lines[1:] if line.split()[0] in two_labs]
    assert len(ours) == 2
    rows = {s.name: s for s in control.summaries()}
    for line in ours:
        row = rows[line.split()[0]]
        cells = [row.status, str(row.owner), ",".join(row.hosts), str(row.containers)]
        assert [line.index(cell, start) for cell, start in zip(cells, starts, strict=True)
                ] == starts, line
