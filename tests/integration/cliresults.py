"""Judging a docker CLI run as a user reads it: it worked (its output), or the daemon
refused it with this message."""

from __future__ import annotations

import subprocess


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0, (result.args, result.stdout)
    assert f"Error response from daemon: {message}" in result.stderr, result.stderr
