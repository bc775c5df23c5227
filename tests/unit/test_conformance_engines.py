"""The kit's pieces for a real engine: its errors, its version differences, its rules."""

from __future__ import annotations

import docker.errors
import pytest
import requests

from emulator.conformance import host_snapshot, versions
from emulator.conformance.hosts import docker_error
from emulator.conformance.runner import DriverRun, pytest_argv
from emulator.errdefs import Forbidden, NotFound


def _api_error(status: int, message: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return cls("x", response=response, explanation=message)


def test_dockerds_answers_become_the_errors_an_emulated_host_raises():
    refused = docker_error(_api_error(403, 'only one instance of "host" network is allowed'))
    assert isinstance(refused, Forbidden) and refused.status == 403
    assert refused.message == 'only one instance of "host" network is allowed'
    assert isinstance(docker_error(_api_error(404, "network x not found")), NotFound)
    odd = docker_error(_api_error(500, "Invalid address"))
    assert odd.status == 500 and odd.message == "Invalid address"


@pytest.mark.parametrize(("version", "difference", "older"), [
    ("20.10.24+dfsg1", versions.ACTIVE_ENDPOINTS, True),
    ("28.0.4", versions.ACTIVE_ENDPOINTS, True),
    ("28.1.0", versions.ACTIVE_ENDPOINTS, False),
    ("24.0.7", versions.IP_OUTSIDE_SUBNET, True),
    ("25.0.0", versions.INTERNAL_GATEWAY, False),
    ("27.0.1", versions.MACVLAN_SHARED_PARENT, False),
    (None, versions.ACTIVE_ENDPOINTS, False),  # emulated: follows Docker 28
])
def test_an_engine_predates_a_difference_by_its_release(version, difference, older):
    assert versions.before(version, difference) is older


def test_every_difference_names_its_moby_commit_and_release():
    ids = [d.id for d in versions.DIFFERENCES]
    assert len(set(ids)) == len(ids)
    for difference in versions.DIFFERENCES:
        assert difference.source.startswith("moby ")
        assert f"v{difference.since}" in difference.source
        assert difference.source in difference.note()


RULESET = """table ip filter {
	chain DOCKER-USER {
		counter packets 12 bytes 1008 return
	}

	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		iifname "br-1" oifname "br-1" counter packets 3 bytes 252 accept
	}
}
"""


def test_firewall_rules_are_compared_rule_by_rule_without_their_counters():
    rules = host_snapshot._nft(RULESET)
    assert "table ip filter chain FORWARD: iifname \"br-1\" oifname \"br-1\" counter accept" \
        in rules
    assert "table ip filter chain DOCKER-USER" in rules
    later = host_snapshot._nft(RULESET.replace("packets 3 bytes 252", "packets 9 bytes 756"))
    assert later == rules
    fewer = host_snapshot._nft(RULESET.replace(
        '\t\tiifname "br-1" oifname "br-1" counter packets 3 bytes 252 accept\n', ""))
    assert rules - fewer == {
        "table ip filter chain FORWARD: iifname \"br-1\" oifname \"br-1\" counter accept"}


def test_the_engine_is_passed_to_each_drivers_pytest_run(tmp_path):
    argv = pytest_argv(DriverRun("bridge"), tmp_path, ["--cnm-engine", "docker"])
    assert argv[-2:] == ["--cnm-engine", "docker"]
