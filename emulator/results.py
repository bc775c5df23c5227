"""Where a run writes its results: results/<kind>/<run-id>/, and its meta.json.

`cnm run` (an experiment's run) and `cnm conformance` (a run of the kit) lay their
runs out the same way, with run ids from one place; an experiment records what
makes it reproducible (parameters, versions, timestamps) in meta.json.

Ground floor: no import of the project, so the experiments and the conformance kit
may both use it.
"""

from __future__ import annotations

import json
import platform
import secrets
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

META = "meta.json"


def new_run_id() -> str:
    """A run id: the UTC start time, then 4 random hex digits (runs in one second differ)."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


def run_dir(root: Path, kind: str, run_id: str | None = None) -> Path:
    """The directory of one run of `kind` (an experiment, `conformance`) under `root`;
    not made here."""
    return root / kind / (run_id or new_run_id())


def versions() -> dict[str, str]:
    """The versions of what a run's figures depend on."""
    def out(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        except FileNotFoundError:
            return "missing"

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "missing"

    return {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cnm-emulator": pkg("cnm-emulator"),
        "scapy": pkg("scapy"),
        "iproute2": out(["ip", "-V"]),
        "nftables": out(["nft", "--version"]),
        "mininet": out(["dpkg-query", "-W", "-f=${Version}", "mininet"]),
    }


def write_meta(directory: Path, meta: dict[str, object]) -> Path:
    """meta.json of a run, with the versions it ran with added last."""
    path = directory / META
    path.write_text(json.dumps({**meta, "versions": versions()}, indent=2) + "\n")
    return path
