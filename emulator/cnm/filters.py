"""`docker network ls` and `prune` filters, with dockerd's semantics and errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from emulator.cnm.model import Network
from emulator.errdefs import DockerError, InvalidParameter

NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def validate_network_filters(filters: Mapping[str, list[str]]) -> None:
    check_filter_keys(filters, NETWORK_FILTERS)
    for value in filters.get("type", []):
        if value not in ("custom", "builtin"):
            raise DockerError(f"invalid filter: 'type'='{value}'")
    dangling = filters.get("dangling", [])
    if len(dangling) > 1:
        raise InvalidParameter('got more than one value for filter key "dangling"')
    for value in dangling:
        if value not in ("true", "false", "1", "0"):
            raise InvalidParameter(
                "invalid value for filter 'dangling', must be \"true\" (or \"1\"), "
                "or \"false\" (or \"0\")"
            )


def docker_match(pattern: str, source: str) -> bool:
    """moby's filters.Match: the exact text, or an unanchored regular expression."""
    if pattern == source:
        return True
    try:
        return re.search(pattern, source) is not None
    except re.error:
        return False


def check_filter_keys(filters: Mapping[str, list[str]], accepted: Iterable[str]) -> None:
    """dockerd's refusal of a filter key the listing does not know."""
    for key in filters:
        if key not in accepted:
            raise InvalidParameter(f"invalid filter '{key}'")


def any_of(filters: Mapping[str, list[str]], key: str, test: Callable[[str], bool]) -> bool:
    """One filter key: no value given, or one of its values passes (values OR-ed)."""
    values = filters.get(key)
    return not values or any(test(v) for v in values)


def _label_matches(labels: Mapping[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def labels_match(labels: Mapping[str, str], wanted: Iterable[str]) -> bool:
    """`label=KEY` or `label=KEY=VALUE` filters: every one of them holds."""
    return all(_label_matches(labels, w) for w in wanted)


def match_network(network: Network, filters: Mapping[str, list[str]]) -> bool:
    builtin = network.predefined
    return (
        any_of(filters, "driver", lambda v: network.driver == v)
        and any_of(filters, "id", lambda v: docker_match(v, network.id))
        and any_of(filters, "name", lambda v: docker_match(v, network.name))
        and any_of(filters, "scope", lambda v: network.scope == v)
        and any_of(filters, "type", lambda v: (v == "builtin") == builtin)
        and labels_match(network.labels, filters.get("label", []))
        and not any(_label_matches(network.labels, v) for v in filters.get("label!", []))
        # dockerd filters the list before it fills in each network's containers
        # (GetNetworks, then FilterNetworks on summaries whose Containers are empty),
        # so `dangling` only tells the predefined networks from the others.
        and any_of(filters, "dangling", lambda v: (v in ("true", "1")) == (not builtin))
    )
