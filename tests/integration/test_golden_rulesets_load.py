"""The golden host-firewall files (tests/unit/golden/bridge/) are valid nft: each whole
state, and each transaction on top of the state its first line names, is checked by
`nft -c -f` (parsed and validated by the kernel, nothing committed) inside a throwaway
container namespace of a lab."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "unit" / "golden" / "bridge"
GOLDEN = sorted(GOLDEN_DIR.glob("*.nft"))
TRANSACTIONS = sorted((GOLDEN_DIR / "transactions").glob("*.nft"))


@pytest.fixture
def scratch(h1):
    """A container with no network: a namespace of the lab's with nothing in it."""
    return h1.containers.run("nftcheck", network="none")


def test_there_are_golden_rulesets() -> None:
    assert len(GOLDEN) >= 10
    assert len(TRANSACTIONS) >= 8


def nft_check_text(scratch, text: str):
    """`nft -c` of `text` in the container (written to its own /tmp: the test's files
    are not in its root), with the capability nft needs."""
    encoded = base64.b64encode(text.encode()).decode()
    written = scratch.exec(["sh", "-c", f"echo {encoded} | base64 -d > /tmp/check.nft"])
    assert written.exit_code == 0, written.stderr
    return scratch.exec(["nft", "-c", "-f", "/tmp/check.nft"], privileged=True)


def nft_check(scratch, path: Path) -> None:
    checked = nft_check_text(scratch, path.read_text())
    assert checked.exit_code == 0, checked.stderr
    assert scratch.exec(["nft", "list", "ruleset"], privileged=True).stdout == ""  # only checked


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_nft_accepts_the_golden_ruleset(scratch, path: Path) -> None:
    nft_check(scratch, path)


@pytest.mark.parametrize("path", TRANSACTIONS, ids=[p.stem for p in TRANSACTIONS])
def test_nft_accepts_the_golden_transaction_on_its_state(scratch, path: Path) -> None:
    transaction = path.read_text()
    state = transaction.splitlines()[0].removeprefix("# on: ")
    checked = nft_check_text(scratch, (GOLDEN_DIR / f"{state}.nft").read_text() + transaction)
    assert checked.exit_code == 0, checked.stderr


def test_nft_check_mode_refuses_a_broken_ruleset(scratch) -> None:
    checked = nft_check_text(scratch, GOLDEN[0].read_text().replace("policy accept",
                                                                    "policy maybe"))
    assert checked.exit_code != 0
    assert "policy" in checked.stderr


def test_nft_check_mode_refuses_a_transaction_on_the_wrong_state(scratch) -> None:
    """The pairing matters: deleting a network's elements from a state without them fails."""
    checked = nft_check_text(scratch, (GOLDEN_DIR / "default_bridge.nft").read_text()
                             + (GOLDEN_DIR / "transactions" / "delete_user_bridge.nft").read_text())
    assert checked.exit_code != 0
