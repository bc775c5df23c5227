"""nftables rulesets, loaded atomically with one `nft -f -` per change.

The caller renders the whole ruleset of a namespace from its state; loading it
replaces the previous one in one transaction, so rules never drift from the
CNM state and a change costs one process however many containers exist.
"""

from __future__ import annotations

import subprocess

TABLES = (("inet", "cnm"),)


class FirewallError(RuntimeError):
    pass


def _drop_ours() -> str:
    """Declare-then-delete: removes our tables whether or not they exist yet."""
    return "".join(f"table {fam} {name} {{}}\ndelete table {fam} {name}\n" for fam, name in TABLES)


def replace_tables(body: str) -> None:
    """Load `body` (nft syntax) into the calling thread's namespace, replacing our tables."""
    load(_drop_ours() + body)


def load(script: str) -> None:
    """Run one nft script in the calling thread's namespace, as one transaction."""
    done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if done.returncode != 0:
        raise FirewallError(f"nft refused the ruleset: {done.stderr.strip()}")
