"""The golden bridge rulesets (tests/unit/golden/bridge/*.nft) are valid nft: each is
checked by `nft -c -f` (parsed and validated by the kernel, nothing committed) inside
a throwaway container namespace of a lab."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "unit" / "golden" / "bridge").glob("*.nft"))


@pytest.fixture
def scratch(h1):
    """A container with no network: a namespace of the lab's with nothing in it."""
    return h1.containers.run("nftcheck", network="none")


def test_there_are_golden_rulesets() -> None:
    assert len(GOLDEN) >= 10


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_nft_accepts_the_golden_ruleset(scratch, path: Path) -> None:
    checked = scratch.exec(["nft", "-c", "-f", str(path)])
    assert checked.exit_code == 0, checked.stderr
    assert scratch.exec(["nft", "list", "ruleset"]).stdout == ""  # only checked


def test_nft_check_mode_refuses_a_broken_ruleset(scratch, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nft"
    broken.write_text(GOLDEN[0].read_text().replace("policy accept", "policy maybe"))
    checked = scratch.exec(["nft", "-c", "-f", str(broken)])
    assert checked.exit_code != 0
    assert "policy" in checked.stderr
