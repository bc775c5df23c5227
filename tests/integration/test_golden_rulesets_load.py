"""The golden host-firewall files (tests/unit/golden/bridge/) are valid nft: each whole
state, and each transaction on top of the state its first line names, is checked by
`nft -c -f` (parsed and validated by the kernel, nothing committed) inside a throwaway
container namespace of a lab."""

from __future__ import annotations

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


def nft_check(scratch, path: Path) -> None:
    checked = scratch.exec(["nft", "-c", "-f", str(path)])
    assert checked.exit_code == 0, checked.stderr
    assert scratch.exec(["nft", "list", "ruleset"]).stdout == ""  # only checked


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_nft_accepts_the_golden_ruleset(scratch, path: Path) -> None:
    nft_check(scratch, path)


@pytest.mark.parametrize("path", TRANSACTIONS, ids=[p.stem for p in TRANSACTIONS])
def test_nft_accepts_the_golden_transaction_on_its_state(scratch, path: Path,
                                                         tmp_path: Path) -> None:
    transaction = path.read_text()
    state = transaction.splitlines()[0].removeprefix("# on: ")
    both = tmp_path / f"{path.stem}.nft"
    both.write_text((GOLDEN_DIR / f"{state}.nft").read_text() + transaction)
    nft_check(scratch, both)


def test_nft_check_mode_refuses_a_broken_ruleset(scratch, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nft"
    broken.write_text(GOLDEN[0].read_text().replace("policy accept", "policy maybe"))
    checked = scratch.exec(["nft", "-c", "-f", str(broken)])
    assert checked.exit_code != 0
    assert "policy" in checked.stderr


def test_nft_check_mode_refuses_a_transaction_on_the_wrong_state(scratch,
                                                                 tmp_path: Path) -> None:
    """The pairing matters: deleting a network's elements from a state without them fails."""
    wrong = tmp_path / "wrong.nft"
    wrong.write_text((GOLDEN_DIR / "default_bridge.nft").read_text()
                     + (GOLDEN_DIR / "transactions" / "delete_user_bridge.nft").read_text())
    checked = scratch.exec(["nft", "-c", "-f", str(wrong)])
    assert checked.exit_code != 0
