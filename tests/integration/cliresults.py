"""The docker CLI as a test runs it: its environment (pointed at one emulated host,
with a config directory of its own), and judging a run as a user reads it: it worked
(its output), or the daemon refused it with this message."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def docker_env(docker_host: str, config_dir: Path) -> dict[str, str]:
    """This process's environment without DOCKER_*, for the CLI to talk to `docker_host`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = docker_host
    env["DOCKER_CONFIG"] = str(config_dir)
    env["DOCKER_CLI_HINTS"] = "false"
    return env


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0, (result.args, result.stdout)
    assert f"Error response from daemon: {message}" in result.stderr, result.stderr
