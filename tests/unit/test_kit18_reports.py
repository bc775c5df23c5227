"""Reports that name the cause: KERN-01's items, errors inside a check, start failures,
warnings (issue 18, item 2)."""

from __future__ import annotations

import docker.errors
import pytest

from emulator.conformance import host_snapshot, reports, runner
from emulator.conformance.host_snapshot import SEPARATOR, Snapshot, describe, parse
from emulator.conformance.hosts import _call, step_of
from emulator.conformance.plugin_processes import PluginStartError
from emulator.conformance.pytest_plugin import engine_error, start_error, unexpected_error
from emulator.errdefs import DockerError

RULESET = """table ip cnm {
\tset bridges {
\t\ttype ifname
\t\telements = { "br-1",
\t\t\t     "br-2" }
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tip saddr 10.1.0.0/24 counter packets 3 bytes 100 drop
\t}
}
"""


def _snapshot(host="h1", links="", addresses="", routes="", nft="", sockets="", neigh="",
              netns="") -> Snapshot:
    parts = [links, addresses, routes, "", nft, sockets, neigh, netns]
    return parse(host, (SEPARATOR + "\n").join(parts))


def test_set_elements_are_items_of_their_own_even_across_lines():
    rules = host_snapshot._nft(RULESET)
    assert 'table ip cnm set bridges: element "br-1"' in rules
    assert 'table ip cnm set bridges: element "br-2"' in rules
    fewer = host_snapshot._nft(RULESET.replace(',\n\t\t\t     "br-2" }', " }"))
    assert rules - fewer == {'table ip cnm set bridges: element "br-2"'}


def test_one_changed_rule_is_told_once_as_changed_never_left_and_gone():
    before = _snapshot(nft=RULESET)
    after = _snapshot(nft=RULESET.replace("10.1.0.0/24", "10.2.0.0/24"))
    text = describe(before, after)
    assert "left behind" not in text and "gone" not in text
    assert ("changed: nft table ip cnm chain forward: ip saddr 10.1.0.0/24 counter drop -> "
            "table ip cnm chain forward: ip saddr 10.2.0.0/24 counter drop") in text


def test_left_behind_items_are_itemised_by_kind_with_rules_as_nft_shows_them():
    before = _snapshot(links="1: lo: <LOOPBACK>\n")
    after = _snapshot(
        links="1: lo: <LOOPBACK>\n7: pb-1234abcd: <BROADCAST> mtu 1500\n",
        nft="table ip pb-1234abcd {\n\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            '\t\tip saddr 10.1.0.0/24 oifname != "pb-1234abcd" masquerade\n\t}\n}\n',
        neigh="10.1.0.5 dev pb-1234abcd lladdr 02:42:0a:01:00:05 PERMANENT\n",
        netns="pbns-1 (id: 3)\n")
    text = describe(before, after)
    assert text.startswith("h1: left behind: ")
    assert "link pb-1234abcd" in text
    assert ('nft table ip pb-1234abcd chain postrouting: ip saddr 10.1.0.0/24 oifname != '
            '"pb-1234abcd" masquerade') in text
    assert "neighbour entry 10.1.0.5 02:42:0a:01:00:05 on pb-1234abcd (permanent)" in text
    assert "network namespace pbns-1" in text
    assert "gone" not in text and "changed" not in text


def test_an_address_moved_to_another_value_on_one_interface_is_one_change():
    before = _snapshot(addresses="5: pb-1 inet 10.1.0.1/24 brd 10.1.0.255 scope global\n")
    after = _snapshot(addresses="5: pb-1 inet 10.1.0.1/32 scope global\n")
    assert describe(before, after) == ("h1: changed: address 10.1.0.1/24 on pb-1 -> "
                                       "10.1.0.1/32 on pb-1")


def test_an_engine_error_in_a_check_names_the_kit_step_and_driver_calls():
    def leave_fails():
        raise DockerError("remote: faultyplugin: Leave failed (on purpose)")

    with pytest.raises(DockerError) as caught:
        _call(leave_fails, step="docker network disconnect n c (driver calls Leave, "
                                "DeleteEndpoint)")
    assert step_of(caught.value).startswith("docker network disconnect n c")
    text = engine_error(caught.value)
    assert text == ("docker network disconnect n c (driver calls Leave, DeleteEndpoint) "
                    "failed: 500 remote: faultyplugin: Leave failed (on purpose)")
    assert "DockerError" not in text


def test_a_real_dockerds_error_carries_the_step_too():
    class Response:
        status_code = 500
        reason = "Internal Server Error"
        url = "http+docker://localhost/v1.41/networks/n/disconnect"

    def refused():
        raise docker.errors.APIError("500", Response(), explanation="driver failed")

    with pytest.raises(DockerError) as caught:
        _call(refused, step="docker network disconnect n c (driver calls Leave)")
    assert engine_error(caught.value) == ("docker network disconnect n c (driver calls "
                                          "Leave) failed: 500 driver failed")


def test_an_unexpected_exception_says_where_in_the_kit_and_what():
    try:
        {}["EndpointID"]
    except KeyError as exc:
        text = unexpected_error(exc)
    assert text.startswith("the kit stopped at test_kit18_reports.py:")
    assert "'EndpointID' (KeyError)" in text


def test_a_start_failure_is_kept_whole_without_a_class_name():
    tail = " | ".join(f"log line {k}: " + "x" * 40 for k in range(8))
    error = PluginStartError(f"plugin fp on h1 exited with status 2: {tail}")
    assert start_error(error) == str(error)
    assert len(start_error(error)) > 300


def test_the_console_prints_a_run_that_could_not_be_made_whole(tmp_path, capsys):
    reason = "plugin fp on h1 exited with status 2: " + "usage: faultyplugin ... " * 20
    result = {"driver": "fp", "status": "error", "reason": reason, "checks": []}
    summary = runner.RunSummary(tmp_path, [result], {"fp": 1.0},
                                {"markdown": tmp_path / "report.md",
                                 "html": tmp_path / "report.html",
                                 "junit": tmp_path / "junit.xml"})
    runner.print_summary(summary)
    out = capsys.readouterr().out
    assert reason in out
    assert "error: see below" in out
    markdown = reports.markdown([result | {"target": {}}], "run")
    assert "## Runs that could not be made" in markdown and reason.strip() in markdown


def test_a_passed_check_with_warnings_says_so_in_the_tables():
    item = {"id": "CNM-EP-03", "statement": "s", "outcome": "passed", "time_s": 1.0,
            "reason": "", "notes": ["Join: median 1000 ms"],
            "warnings": ["slow driver calls (threshold 0.5 s): Join took 1.00 s"]}
    assert reports.symbol(item) == "pass (**warning**)"
    assert reports.explanation(item).startswith("warning: slow driver calls")
    result = {"driver": "fp", "status": "ran", "target": {}, "checks": [item]}
    assert "| CNM-EP-03 | pass (**warning**) |" in reports.markdown([result], "run")
