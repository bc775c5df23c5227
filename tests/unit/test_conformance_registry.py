"""The conformance kit's registry and targets: ids, statements, what applies to whom."""

from __future__ import annotations

import pytest

from emulator.conformance import registry
from emulator.conformance.registry import CHECK_ID, Check, all_checks, check, get
from emulator.conformance.targets import (
    Capabilities,
    TargetError,
    builtin_drivers,
    capabilities,
    resolve,
)
from emulator.drivers import registry as drivers
from emulator.drivers.base import GLOBAL, Capability

REQUIRED = {  # the rules the issue asks for, by the id that checks each
    "CNM-NET-01": "create/delete round trip",
    "CNM-NET-02": "removal with active endpoints refused",
    "CNM-NET-03": "single-instance drivers refuse a second network",
    "CNM-EP-01": "endpoint lifecycle, idempotent delete",
    "CNM-IPAM-01": "pool, gateway, --ip honoured",
    "CNM-IPAM-02": "no address handed out twice",
    "CNM-REACH-01": "reachability within a network",
    "CNM-ISO-01": "isolation between networks (layer 2)",
    "CNM-ISO-02": "isolation between networks (IP)",
    "CNM-ISO-03": "isolation after disconnect",
    "CNM-INT-01": "--internal reaches nothing outside",
    "CNM-MTU-01": "configured MTU is the DF-probed MTU",
    "CNM-SCOPE-01": "local scope keeps same-name networks apart",
    "CNM-SCOPE-02": "global scope spans hosts",
    "CNM-KERN-01": "nothing remains in the kernel",
    "CNM-RB-01": "a failing call rolls back",
}


def test_every_required_rule_has_a_check():
    assert {c.id for c in all_checks()} >= set(REQUIRED)


def test_ids_are_unique_well_formed_and_statements_one_line():
    checks = all_checks()
    assert len({c.id for c in checks}) == len(checks)
    for c in checks:
        assert CHECK_ID.match(c.id), c.id
        assert c.statement and "\n" not in c.statement and c.statement == c.statement.strip()
        assert c.label == f"{c.id} {c.statement}"


def test_report_order_follows_a_networks_life():
    areas = [c.area for c in all_checks()]
    assert areas == sorted(areas, key=registry.AREAS.index)
    assert areas[0] == "NET" and areas[-1] == "RB"


def test_get_finds_a_check_and_names_the_known_ones_otherwise():
    assert get("CNM-NET-01").id == "CNM-NET-01"
    with pytest.raises(KeyError, match="CNM-NET-01"):
        get("CNM-NOPE-01")


@pytest.mark.parametrize("bad_id", ["NET-01", "CNM-net-01", "CNM-NET-1", "CNM-NET-001"])
def test_a_malformed_id_is_refused(bad_id):
    with pytest.raises(ValueError, match="CNM-AREA-NN"):
        check(bad_id, "a statement")


def test_a_statement_must_be_one_line():
    with pytest.raises(ValueError, match="one non-empty line"):
        check("CNM-TEST-01", "two\nlines")


def test_an_id_cannot_be_registered_for_two_functions():
    def first(ctx):
        return None

    def second(ctx):
        return None

    check("CNM-TEST-02", "registered once")(first)
    try:
        with pytest.raises(ValueError, match="twice"):
            check("CNM-TEST-02", "registered again")(second)
    finally:
        registry._CHECKS.pop("CNM-TEST-02", None)


def _skipped(driver: str, **plugin) -> dict[str, str]:
    target = resolve(driver, **plugin)
    return {c.id: reason for c in all_checks() if (reason := c.applies(target))}


def test_bridge_skips_only_the_global_scope_and_single_instance_checks():
    assert set(_skipped("bridge")) == {"CNM-SCOPE-02", "CNM-NET-03"}


def test_overlay_skips_only_the_local_scope_check():
    skipped = _skipped("overlay")
    assert set(skipped) == {"CNM-SCOPE-01", "CNM-NET-03"}
    assert "swarm" in skipped["CNM-SCOPE-01"]


def test_macvlan_skips_mtu_layer2_separation_and_local_scope_with_docker_reasons():
    skipped = _skipped("macvlan")
    assert set(skipped) == {"CNM-MTU-01", "CNM-ISO-01", "CNM-SCOPE-01", "CNM-SCOPE-02",
                            "CNM-NET-03"}
    assert "parent's MTU" in skipped["CNM-MTU-01"]
    assert "connectivity scope is global" in skipped["CNM-SCOPE-01"]


@pytest.mark.parametrize("driver", ["host", "null"])
def test_host_and_null_apply_only_the_endpoint_lifecycle_and_single_instance(driver):
    skipped = _skipped(driver)
    assert set(skipped) == {c.id for c in all_checks()} - {"CNM-EP-01", "CNM-NET-03"}
    assert "only its predefined network" in skipped["CNM-NET-01"]


def test_a_plugin_is_named_by_command_or_socket_and_never_shadows_a_builtin():
    target = resolve("bp", plugin_command="{python} -m x {socket}")
    assert target.kind == "plugin" and target.plugin_command
    assert resolve("bp", plugin_socket="/run/x/{host}.sock").plugin_socket
    with pytest.raises(TargetError, match="built-in"):
        resolve("bridge", plugin_command="x {socket}")
    with pytest.raises(TargetError, match="unknown driver 'nope'"):
        resolve("nope")
    with pytest.raises(TargetError, match="invalid driver name"):
        resolve("../x")


def test_mesh_is_a_global_plugin_the_run_starts():
    target = resolve("mesh")
    assert target.kind == "mesh" and target.is_plugin and target.caps.multi_host


def test_capabilities_name_the_first_missing_feature():
    caps = Capabilities(lacks={"mtu": "no MTU", "ipam": "no IPAM"})
    assert caps.missing("networks") is None
    assert caps.missing("ipam", "mtu") == "no IPAM"


def test_the_built_ins_are_the_registrys_in_the_projects_order():
    assert builtin_drivers() == ["bridge", "host", "null", "macvlan", "overlay"]
    assert set(builtin_drivers()) == set(drivers.names())


def _single(driver: str, network: str, no_link: str) -> dict[str, str]:
    one = (f'the driver has only its predefined network "{network}" (Docker refuses another: '
           "CNM-NET-03)")
    return {"networks": one, "ipam": f"the {driver} driver takes no addresses from the IPAM",
            "connectivity": no_link, "interfaces": no_link, "mtu": "the driver has no MTU option",
            "internal": one, "l2-segment": no_link,
            "kernel": f"the {driver} driver makes no kernel objects of its own"}


BUILTIN_CAPABILITIES = {  # what each built-in lacks, and why, in the words the reports use
    "bridge": Capabilities(),
    "host": Capabilities(lacks=_single(
        "host", "host", "containers on the host network share the Docker host's namespace: no "
                        "link lies between them")),
    "null": Capabilities(lacks=_single(
        "null", "none", "a container on the null driver's network has only lo")),
    "macvlan": Capabilities(connectivity="global", lacks={
        "mtu": "Docker's macvlan takes its parent's MTU: com.docker.network.driver.mtu is "
               "accepted and not honoured",
        "l2-segment": "macvlan networks on one parent share the parent's LAN segment; Docker "
                      "separates them by subnet only (802.1q sub-interfaces are missing on "
                      "this kernel)",
    }),
    "overlay": Capabilities(scope="swarm", connectivity="global"),
}


@pytest.mark.parametrize("driver", sorted(BUILTIN_CAPABILITIES))
def test_a_builtins_capabilities_come_from_what_it_declares(driver):
    caps = resolve(driver).caps
    assert caps == BUILTIN_CAPABILITIES[driver]
    assert list(caps.lacks) == list(BUILTIN_CAPABILITIES[driver].lacks)  # report order


def test_a_plugins_capabilities_come_from_its_activation():
    declared = Capability(scope=GLOBAL, connectivity_scope=GLOBAL, provides_gateway=False)
    assert capabilities("weave", declared) == Capabilities("global", "global", {})
    limited = Capability(uses_ipam=False, limits={"mtu": "the MTU is the underlay's"})
    assert capabilities("p", limited).lacks == {
        "ipam": "the p driver takes no addresses from the IPAM",
        "mtu": "the MTU is the underlay's"}


def test_how_a_builtin_is_made_available_follows_its_capability():
    assert resolve("overlay").swarm and resolve("overlay").attachable
    assert not resolve("bridge").swarm and resolve("bridge").bad_option is not None
    assert resolve("host").bad_option is None and resolve("null").bad_option is None
    macvlan = resolve("macvlan")
    assert (macvlan.topology, macvlan.network_options) == ("lan", {"parent": "eth1"})


def test_an_unknown_driver_is_told_the_builtins_in_order():
    with pytest.raises(TargetError, match=r"a built-in \(bridge, host, null, macvlan, "
                                          r"overlay\), mesh, or a plugin"):
        resolve("nope")


def test_a_check_that_does_not_apply_says_why():
    item = Check("CNM-TEST-03", "s", lambda t: "because", lambda ctx: None)
    assert item.applies(resolve("bridge")) == "because"
