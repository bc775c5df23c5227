"""`docker network ls --filter`: keys, matching rules and errors of dockerd v25-v28.

daemon/network/filter.go FilterNetworks: driver and scope match exactly; name and
id with filters.Match (exact, else an unanchored regular expression); label with
MatchKVList (every label given must match); type is builtin|custom (values OR-ed);
dangling is true|1|false|0. api/types/filters: unknown key -> `invalid filter '%s'`.
"""

from __future__ import annotations

import pytest
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.cnm.filters import NETWORK_FILTERS, match_network, validate_network_filters
from emulator.fabric.fake import FakeFabric

PREDEFINED = {"bridge", "host", "none"}
CUSTOM = {"front", "frontend", "back", "idle"}


@pytest.fixture
def engine() -> Engine:
    """front (in use, labels tier=web env=prod), frontend (in use, tier=web env=dev),
    back (in use by a running container, tier=db), idle (unused, no labels)."""
    engine = Engine("h1", FakeFabric("h1"))
    engine.create_network(NetworkRequest("front", labels={"tier": "web", "env": "prod"}))
    engine.create_network(NetworkRequest("frontend", labels={"tier": "web", "env": "dev"}))
    engine.create_network(NetworkRequest("back", labels={"tier": "db", "flag": ""}))
    engine.create_network(NetworkRequest("idle"))
    engine.run_container("web", [AttachRequest("front"), AttachRequest("frontend")])
    engine.run_container("db", [AttachRequest("back")])
    return engine


def names(engine: Engine, filters: dict[str, list[str]] | None) -> set[str]:
    return {n.name for n in engine.list_networks(filters)}


def test_no_filter_lists_everything(engine: Engine) -> None:
    assert names(engine, None) == PREDEFINED | CUSTOM
    assert names(engine, {}) == PREDEFINED | CUSTOM


def test_accepted_keys_are_dockers() -> None:
    assert set(NETWORK_FILTERS) == {"dangling", "driver", "id", "label", "name", "scope", "type"}


# -- driver, scope ---------------------------------------------------------------------


def test_driver_filter_is_exact(engine: Engine) -> None:
    assert names(engine, {"driver": ["bridge"]}) == {"bridge"} | CUSTOM
    assert names(engine, {"driver": ["null"]}) == {"none"}
    assert names(engine, {"driver": ["host", "null"]}) == {"host", "none"}
    assert names(engine, {"driver": ["bri"]}) == set()
    assert names(engine, {"driver": ["none"]}) == set()


def test_scope_filter(engine: Engine) -> None:
    assert names(engine, {"scope": ["local"]}) == PREDEFINED | CUSTOM
    assert names(engine, {"scope": ["swarm"]}) == set()
    assert names(engine, {"scope": ["loc"]}) == set()


# -- id, name -------------------------------------------------------------------------------


def test_id_filter_full_prefix_and_substring(engine: Engine) -> None:
    front = engine.get_network("front")
    assert names(engine, {"id": [front.id]}) == {"front"}
    assert names(engine, {"id": [front.id[:12]]}) == {"front"}
    # filters.Match is unanchored: any part of the ID matches.
    matching = {n.name for n in engine.networks.values() if front.id[20:40] in n.id}
    assert names(engine, {"id": [front.id[20:40]]}) == matching == {"front"}
    assert names(engine, {"id": ["zzzz"]}) == set()


def test_id_filter_several_values(engine: Engine) -> None:
    ids = [engine.get_network(n).id for n in ("front", "host")]
    assert names(engine, {"id": ids}) == {"front", "host"}


def test_name_filter_substring(engine: Engine) -> None:
    assert names(engine, {"name": ["front"]}) == {"front", "frontend"}
    assert names(engine, {"name": ["ront"]}) == {"front", "frontend"}
    assert names(engine, {"name": ["o"]}) == {"host", "none", "front", "frontend"}
    assert names(engine, {"name": ["back", "idle"]}) == {"back", "idle"}
    assert names(engine, {"name": ["nope"]}) == set()


@pytest.mark.parametrize(("pattern", "expected"), [
    ("^front$", {"front"}),
    ("^f", {"front", "frontend"}),
    ("fr.nt", {"front", "frontend"}),
    ("end$", {"frontend"}),
    ("^(back|idle)$", {"back", "idle"}),
])
def test_name_filter_is_a_regular_expression(engine: Engine, pattern: str, expected) -> None:
    """filters.Match uses regexp.MatchString(value, name) after an exact-match try."""
    assert names(engine, {"name": [pattern]}) == expected


def test_name_filter_with_invalid_regexp_matches_only_exactly(engine: Engine) -> None:
    """A value that is not a valid regexp is skipped (`if err != nil { continue }`)
    after the exact-match attempt."""
    engine.create_network(NetworkRequest("a(b"))
    assert names(engine, {"name": ["a(b"]}) == {"a(b"}
    assert names(engine, {"name": ["("]}) == set()


# -- label ------------------------------------------------------------------------------------


def test_label_key(engine: Engine) -> None:
    assert names(engine, {"label": ["tier"]}) == {"front", "frontend", "back"}
    assert names(engine, {"label": ["env"]}) == {"front", "frontend"}
    assert names(engine, {"label": ["flag"]}) == {"back"}
    assert names(engine, {"label": ["missing"]}) == set()


def test_label_key_value(engine: Engine) -> None:
    assert names(engine, {"label": ["tier=web"]}) == {"front", "frontend"}
    assert names(engine, {"label": ["tier=db"]}) == {"back"}
    assert names(engine, {"label": ["tier=we"]}) == set()
    assert names(engine, {"label": ["flag="]}) == {"back"}


def test_several_labels_must_all_match(engine: Engine) -> None:
    assert names(engine, {"label": ["tier=web", "env=prod"]}) == {"front"}
    assert names(engine, {"label": ["tier=web", "env"]}) == {"front", "frontend"}
    assert names(engine, {"label": ["tier=web", "env=test"]}) == set()


# -- type, dangling ------------------------------------------------------------------------


def test_type_filter(engine: Engine) -> None:
    assert names(engine, {"type": ["builtin"]}) == PREDEFINED
    assert names(engine, {"type": ["custom"]}) == CUSTOM
    assert names(engine, {"type": ["custom", "builtin"]}) == PREDEFINED | CUSTOM


def test_invalid_type_value_is_a_500(engine: Engine) -> None:
    # pkg/errors.Errorf with no errdefs class: dockerd answers 500.
    with docker_error(err.DockerError, 500, "invalid filter: 'type'='foo'"):
        engine.list_networks({"type": ["foo"]})
    with docker_error(err.DockerError, 500, "invalid filter: 'type'='Custom'"):
        engine.list_networks({"type": ["custom", "Custom"]})


@pytest.mark.parametrize("value", ["true", "1"])
def test_dangling_true_lists_every_user_network(engine: Engine, value: str) -> None:
    """dockerd filters the list before it fills in the containers (GetNetworks), so
    networks in use count as dangling too (Docker 20.10 and 28 alike)."""
    assert names(engine, {"dangling": [value]}) == CUSTOM


@pytest.mark.parametrize("value", ["false", "0"])
def test_dangling_false_lists_the_predefined_networks(engine: Engine, value: str) -> None:
    assert names(engine, {"dangling": [value]}) == PREDEFINED


@pytest.mark.parametrize("value", ["yes", "", "2", "TRUE", "False", "T"])
def test_dangling_invalid_value(engine: Engine, value: str) -> None:
    """The switch in FilterNetworks is case-sensitive: only "0", "false", "1", "true"."""
    with docker_error(err.InvalidParameter, 400,
                      "invalid value for filter 'dangling', must be \"true\" (or \"1\"), "
                      "or \"false\" (or \"0\")"):
        engine.list_networks({"dangling": [value]})


def test_dangling_two_values(engine: Engine) -> None:
    with docker_error(err.InvalidParameter, 400,
                      'got more than one value for filter key "dangling"'):
        engine.list_networks({"dangling": ["true", "false"]})


# -- keys and combinations ----------------------------------------------------------------


@pytest.mark.parametrize("key", ["foo", "Name", "label!", "until", "container"])
def test_invalid_filter_key(engine: Engine, key: str) -> None:
    with docker_error(err.InvalidParameter, 400, f"invalid filter '{key}'"):
        engine.list_networks({key: ["x"]})


def test_invalid_key_reported_even_with_valid_ones(engine: Engine) -> None:
    with docker_error(err.InvalidParameter, 400, "invalid filter 'foo'"):
        engine.list_networks({"driver": ["bridge"], "foo": ["x"]})


def test_keys_combine_with_and(engine: Engine) -> None:
    assert names(engine, {"driver": ["bridge"], "name": ["front"]}) == {"front", "frontend"}
    assert names(engine, {"type": ["custom"], "dangling": ["true"]}) == CUSTOM
    assert names(engine, {"type": ["custom"], "dangling": ["false"]}) == set()
    assert names(engine, {"label": ["tier=web"], "name": ["end"]}) == {"frontend"}
    assert names(engine, {"type": ["builtin"], "driver": ["bridge"]}) == {"bridge"}
    assert names(engine, {"type": ["builtin"], "dangling": ["true"]}) == set()


def test_validate_and_match_functions_directly(engine: Engine) -> None:
    validate_network_filters({"name": ["x"], "type": ["custom"], "dangling": ["1"]})
    with pytest.raises(err.InvalidParameter):
        validate_network_filters({"bogus": []})
    front = engine.get_network("front")
    assert match_network(front, {})
    assert match_network(front, {"name": ["front"], "label": ["tier"]})
    assert not match_network(front, {"label": ["tier=db"]})
