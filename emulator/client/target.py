"""Which Docker host a `cnm network|container` command talks to.

`--host H` and `--lab NAME` pick a lab's host socket (defaults: h1 of the only
running lab); without either, DOCKER_HOST wins when it is set, as it does for
the docker CLI.
"""

from __future__ import annotations

import argparse
import os

DEFAULT_HOST = "h1"


def target_options() -> argparse.ArgumentParser:
    """A parent parser with --host and --lab, for every leaf command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--host", help=f"the lab's Docker host (default: {DEFAULT_HOST}, or "
                        "DOCKER_HOST when neither --host nor --lab is given)")
    parent.add_argument("--lab", help="lab name (default: the only running lab)")
    return parent


def docker_host(host: str | None, lab: str | None) -> str:
    """The Engine API URL: the lab host's socket, or DOCKER_HOST."""
    env = os.environ.get("DOCKER_HOST")
    if host is None and lab is None and env:
        return env
    from emulator.lab import control
    from emulator.lab.lab import LabError
    from emulator.lab.state import RunDir

    state = control.read_state(lab)
    name = host or DEFAULT_HOST
    if name not in state.hosts:
        raise LabError(f"no Docker host {name} in lab {state.name}; hosts: "
                       + ", ".join(state.hosts))
    return f"unix://{RunDir(state.name).socket(name)}"


def connect(url: str):
    """A low-level docker-py client without timeouts (streams may be quiet for long),
    at the API version the daemon offers (docker-py asks /version)."""
    import docker

    return docker.APIClient(base_url=url, version="auto", timeout=None)


def get_raw(api, path: str, *args: str, params: dict | None = None) -> bytes:
    """GET an API path and return the body as sent: inspect prints it re-indented."""
    response = api._get(api._url(path, *args), params=params or {})
    api._raise_for_status(response)
    return response.content
