"""Legacy links (`--link NAME[:ALIAS]`) of containers on the default bridge.

dockerd registers them at create (registerLinks: the linked container must exist,
and neither end may be in host network mode), refuses to start a container whose
linked containers are not running or not on the default bridge, and writes one
/etc/hosts line per link: the linked container's default-bridge address with the
alias, its hostname and, unless the alias is it, its name (addLegacyLinks). On a
user-defined network `--link` is no legacy link but a name the linking container
alone resolves through the embedded DNS (EndpointSettings.Links, dnsnames.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from emulator import errdefs as err
from emulator.cnm.model import Container, Network

HOST_NETWORK_AND_LINKS = ("conflicting options: host type networking can't be used with "
                          "links. This would result in undefined behavior")


def parse_link(text: str) -> tuple[str, str]:
    """opts.ParseLink: NAME[:ALIAS] as (name, alias); `/name:/parent/alias` as inspect
    shows them is taken too."""
    if not text:
        raise err.InvalidParameter("empty string specified for links")
    parts = text.split(":")
    if len(parts) > 2:
        raise err.InvalidParameter(f"bad format for links: {text}")
    if len(parts) == 1:
        return text, text
    name, alias = parts
    if name.startswith("/"):
        return name[1:], alias.rsplit("/", 1)[-1]
    return name, alias


def register(links: Iterable[str], find: Callable[[str], Container],
             in_host_mode: Callable[[Container], bool]) -> dict[str, str]:
    """daemon.registerLinks for a container not on a user-defined network: alias ->
    the linked container's ID; a container that does not exist is a bad parameter
    (not "not found", which the CLI would take for a missing image)."""
    registered: dict[str, str] = {}
    for text in links:
        name, alias = parse_link(text)
        try:
            child = find(name)
        except err.NotFound as exc:
            raise err.InvalidParameter(f"could not get container for {name}: "
                                       f"{exc.message}") from None
        if in_host_mode(child):
            raise err.InvalidParameter(HOST_NETWORK_AND_LINKS)
        registered[alias] = child.id
    return registered


def check_startable(container: Container, containers: Mapping[str, Container],
                    default_bridge: Network | None) -> None:
    """A container's links as its start finds them: every linked container on the
    default bridge (addLegacyLinks), then running (setupLinkedContainers)."""
    if not container.links or default_bridge is None:
        return
    on_bridge = default_bridge.id in container.attachments
    # a removed container's links went with it (linkIndex.delete)
    children = [(alias, containers[cid]) for alias, cid in container.links.items()
                if cid in containers]
    for _, child in children:
        if on_bridge and default_bridge.id not in child.attachments:
            raise err.DockerError(f"Cannot link to /{child.name}, as it does not belong to "
                                  "the default network")
    if not on_bridge:
        return
    for alias, child in children:
        if not child.running:
            raise err.DockerError(f"Cannot link to a non running container: /{child.name} AS "
                                  f"/{container.name}/{alias}")


def hosts_records(container: Container, containers: Mapping[str, Container],
                  default_bridge: Network | None) -> list[tuple[str, str]]:
    """(address, names) of each link, for the linking container's /etc/hosts."""
    if default_bridge is None or default_bridge.id not in container.endpoints:
        return []
    records = []
    for alias, cid in container.links.items():
        child = containers.get(cid)
        ep = child.endpoints.get(default_bridge.id) if child is not None else None
        if child is None or ep is None or ep.address is None:
            continue
        names = f"{alias} {child.hostname}"
        if alias != child.name:
            names += f" {child.name}"
        records.append((str(ep.address.ip), names))
    return records


def inspect_links(container: Container, containers: Mapping[str, Container]) -> list[str]:
    """HostConfig.Links as inspect shows them: /child:/parent/alias."""
    return [f"/{containers[cid].name}:/{container.name}/{alias}"
            for alias, cid in container.links.items() if cid in containers]
