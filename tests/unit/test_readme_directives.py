"""README.md's blocks are all run by its test (tests/integration/test_readme_blocks.py)
except the few skipped with a reason, and the shell runner reports failures at the
README's own line numbers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from readme_blocks import (
    DIRECTIVES,
    LANGUAGES,
    README,
    Block,
    expectations,
    read_blocks,
    shell_script,
    skip_reason,
)

BLOCKS = read_blocks()
MAX_SKIPPED = 3


def test_every_block_has_a_language_the_test_runs() -> None:
    assert BLOCKS
    assert {b.language for b in BLOCKS} <= set(LANGUAGES), [
        b.name for b in BLOCKS if b.language not in LANGUAGES]


def test_every_directive_is_known_and_every_skip_says_why() -> None:
    for block in BLOCKS:
        assert block.directive in (None, *DIRECTIVES), block.name
        if block.directive == "skip":
            assert skip_reason(block), f"{block.name}: a skip needs a reason in parentheses"
        if block.directive == "file":
            assert block.argument and Path(block.argument).name == block.argument, block.name


def test_skips_are_few() -> None:
    skipped = [b.name for b in BLOCKS if b.directive == "skip"]
    assert len(skipped) <= MAX_SKIPPED, skipped


def test_python_and_yaml_blocks_are_never_skipped() -> None:
    """pytest-markdown-docs runs every Python block: a skip comment would not stop it."""
    assert not [b.name for b in BLOCKS if b.language != "sh" and b.directive == "skip"]


def test_expected_output_is_written_only_in_shell_blocks() -> None:
    assert all(not expectations(b) for b in BLOCKS if b.language != "sh")
    written = [text for b in BLOCKS if b.language == "sh" for _, text in expectations(b)]
    assert written and all(written)


def run(text: str, line: int = 100) -> subprocess.CompletedProcess:
    script = shell_script(Block("sh", text, line))
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)


def test_a_failing_command_is_reported_at_its_readme_line() -> None:
    result = run("true\necho one\nfalse\necho never\n", line=100)
    assert result.returncode == 1
    assert "README.md:103: exit status 1" in result.stderr
    assert "never" not in result.stdout


def test_expected_output_is_checked() -> None:
    assert run("echo 'a b c'   #=> b c\n").returncode == 0
    result = run("echo x\necho 'a b c'   #=> d\n", line=10)
    assert result.returncode == 1
    assert "README.md:12: the output does not contain: d" in result.stderr


def test_a_command_with_expected_output_that_fails_is_reported() -> None:
    result = run("sh -c 'echo partial; exit 3'   #=> partial\n", line=7)
    assert result.returncode == 1
    assert "README.md:8: exit status 3" in result.stderr


def test_state_carries_from_line_to_line() -> None:
    """`eval $(cnm env h1)` on one line points the next line's docker at h1."""
    assert run('export A=1; B=2; echo set   #=> set\necho "$A$B"   #=> 12\n').returncode == 0


@pytest.mark.parametrize("text", ["for i in 1 2; do\n  echo $i\ndone\n",
                                  "echo a \\\n  b   #=> a b\n"])
def test_multi_line_commands_run(text: str) -> None:
    assert run(text).returncode == 0


def test_the_readme_points_only_into_the_repository() -> None:
    """Every file of the checkout the README names exists, and it links to nothing
    outside the repository (a reader has the checkout, nothing else)."""
    text = README.read_text(encoding="utf-8")
    named = re.findall(r"`((?:docs|emulator|tests|scripts)/[^`\s<>{}]*)`", text)
    named += re.findall(r"`([\w.-]+(?:/[\w.-]+)+\.(?:py|md|yaml|sh))[`\s]", text)
    assert named
    assert [path for path in named if not (README.parent / path).exists()] == []
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert [link for link in links
            if "://" in link or link.startswith(("/", "..")) or not (README.parent / link).exists()
            ] == []
