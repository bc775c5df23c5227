"""The bridge driver's nftables rulesets, whole, against golden files.

As libnetwork's iptabler testdata/*.golden: each option combination is rendered and
compared with tests/unit/golden/bridge/NAME.nft. After a deliberate change to the
rules, `CNM_UPDATE_GOLDEN=1 pytest tests/unit/test_firewall_golden.py` rewrites the
files; review their diff. (tests/integration/test_golden_rulesets_load.py has nft check
each file.)
"""

from __future__ import annotations

import os
from dataclasses import replace
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from emulator.drivers.hostfirewall import BridgeRules, render

GOLDEN = Path(__file__).parent / "golden" / "bridge"
DOCKER0 = BridgeRules("docker0", IPv4Network("172.17.0.0/16"), internal=False, icc=True,
                      masquerade=True)
USER = BridgeRules("br-user", IPv4Network("172.18.0.0/16"), internal=False, icc=True,
                   masquerade=True)
A = replace(USER, bridge="br-a")
B = replace(USER, bridge="br-b", subnet=IPv4Network("172.19.0.0/16"))
PLUGIN_SUBNETS = [IPv4Network("10.50.0.0/24"), IPv4Network("10.51.0.0/24")]

CASES: dict[str, tuple[list[BridgeRules], list[IPv4Network]]] = {
    "no_networks": ([], []),
    "default_bridge": ([DOCKER0], []),
    "user_bridge": ([DOCKER0, USER], []),
    "icc_off": ([DOCKER0, replace(USER, icc=False)], []),
    "masquerade_off": ([DOCKER0, replace(USER, masquerade=False)], []),
    "internal": ([DOCKER0, replace(USER, internal=True)], []),
    "internal_icc_off": ([DOCKER0, replace(USER, internal=True, icc=False)], []),
    "no_subnet": ([DOCKER0, replace(USER, subnet=None)], []),
    "lone_network": ([replace(USER, bridge="br-ffffffffffff",
                              subnet=IPv4Network("10.50.0.0/24"))], []),
    "two_user_bridges": ([DOCKER0, A, B], []),
    "mixed_networks": ([DOCKER0, A, replace(B, icc=False),
                        BridgeRules("br-c", IPv4Network("172.20.0.0/16"), internal=True,
                                    icc=True, masquerade=True),
                        BridgeRules("br-d", IPv4Network("172.21.0.0/16"), internal=False,
                                    icc=True, masquerade=False)], []),
    "plugin_subnets": ([DOCKER0, USER], PLUGIN_SUBNETS),
    "plugin_subnets_only": ([], PLUGIN_SUBNETS),
    "one_plugin_subnet": ([DOCKER0], PLUGIN_SUBNETS[:1]),
}


def golden_ruleset(name: str) -> str:
    return (GOLDEN / f"{name}.nft").read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rendered_ruleset_is_the_golden_one(name: str) -> None:
    networks, foreign = CASES[name]
    rendered = render(networks, foreign)
    if os.environ.get("CNM_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        (GOLDEN / f"{name}.nft").write_text(rendered)
    assert rendered == golden_ruleset(name)


def test_every_golden_file_has_its_case() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.nft")) == sorted(CASES)
