"""bench-scale's baseline: the host firewall as it was before issue 12.

Until then every network create and remove rendered the host's whole ruleset
(one rule per network naming every other bridge) and loaded it with one
`nft -f`, so a change cost more the more networks there were: 0.22 s at 300
networks, 4.8 s at 983. `render` is that renderer, unchanged (commit 6a02c45,
emulator/drivers/hostfirewall.py); bench-scale loads its output the way the
fabric did, in a namespace of the lab's that nothing else uses.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Network
from pathlib import Path

from emulator.drivers.hostfirewall import BridgeRules


def _quoted(names: list[str]) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }"


def render(networks: list[BridgeRules], foreign: list[IPv4Network] | None = None) -> str:
    bridges = [n.bridge for n in networks]
    forward: list[str] = []
    known = [n.subnet for n in networks if n.subnet is not None]
    for subnet in foreign or []:
        for other in [*known, *(f for f in foreign or [] if f != subnet)]:
            if other != subnet:
                forward.append(f"ip saddr {subnet} ip daddr {other} drop")
                forward.append(f"ip saddr {other} ip daddr {subnet} drop")
    nat: list[str] = []
    for net in networks:
        quoted = f'"{net.bridge}"'
        if net.internal:
            forward.append(f"iifname {quoted} oifname != {quoted} drop")
            forward.append(f"oifname {quoted} iifname != {quoted} drop")
        others = [b for b in bridges if b != net.bridge]
        if others:
            forward.append(f"iifname {quoted} oifname {_quoted(others)} drop")
        if not net.icc:
            forward.append(f"iifname {quoted} oifname {quoted} drop")
        if net.masquerade and not net.internal and net.subnet is not None:
            nat.append(f"ip saddr {net.subnet} oifname != {quoted} masquerade")
    lines = [
        "table ip cnm {",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        *(f"    {rule}" for rule in forward),
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {rule}" for rule in nat),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def reload_seconds(networks: list[BridgeRules], scratch, workdir: Path) -> float:
    """One change the old way: render everything, then replace the table with one
    `nft -f` run in the namespace of `scratch` (a container on no network)."""
    started = time.perf_counter()
    script = workdir / "full-reload.nft"
    script.write_text("table ip cnm {}\ndelete table ip cnm\n" + render(networks))
    done = scratch.exec(["nft", "-f", str(script)], timeout=120.0, privileged=True)
    elapsed = time.perf_counter() - started
    if done.exit_code != 0:
        raise RuntimeError(f"nft refused the old ruleset: {done.stderr.strip()}")
    return elapsed
