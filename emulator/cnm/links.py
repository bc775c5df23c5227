"""Legacy links (`--link NAME[:ALIAS]`) of containers on the default bridge.

dockerd registers them at create (registerLinks: the linked container must exist,
and neither end may be in host network mode), refuses to start a container whose
linked containers are not running or not on the default bridge, and writes one
/etc/hosts line per link: the linked container's default-bridge address with the
alias, its hostname and, unless the alias is it, its name (addLegacyLinks), and
gives its process the link's variables (DB_NAME, DB_PORT_5432_TCP_ADDR...). On a
user-defined network `--link` is no legacy link but a name the linking container
alone resolves through the embedded DNS (EndpointSettings.Links, dnsnames.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from emulator import errdefs as err
from emulator.cnm.model import Container, Network
from emulator.drivers.portmapping import ExposedPort

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


def _tcp_first(port: ExposedPort) -> tuple[int, str, int]:
    """links.withTCPPriority: tcp ports first, then by protocol, then by number."""
    return (port.proto.lower() != "tcp", port.proto.lower(), port.port)


def link_env(alias: str, linker_name: str, child: Container, child_ip: str) -> list[str]:
    """links.Link.ToEnv: ALIAS_PORT..., ALIAS_NAME and ALIAS_ENV_... of one link."""
    prefix_alias = alias.upper().replace("-", "_")
    ports = sorted(child.ports.exposed, key=_tcp_first)
    env: list[str] = []
    start = end = None
    for i, port in enumerate(ports):
        if i == 0:
            start = end = port
            env.append(f"{prefix_alias}_PORT={port.proto}://{child_ip}:{port.port}")
        prefix = f"{prefix_alias}_PORT_{port.port}_{port.proto.upper()}"
        env += [f"{prefix}={port.proto}://{child_ip}:{port.port}", f"{prefix}_ADDR={child_ip}",
                f"{prefix}_PORT={port.port}", f"{prefix}_PROTO={port.proto}"]
        assert start is not None and end is not None
        if port.port == end.port + 1 and port.proto.lower() == start.proto.lower():
            end = port
            if i < len(ports) - 1:
                continue
        if end != start:
            prefix = f"{prefix_alias}_PORT_{start.port}_{start.proto.upper()}"
            env += [f"{prefix}_START={start.proto}://{child_ip}:{start.port}",
                    f"{prefix}_PORT_START={start.port}",
                    f"{prefix}_END={end.proto}://{child_ip}:{end.port}",
                    f"{prefix}_PORT_END={end.port}"]
        start = end = port
    env.append(f"{prefix_alias}_NAME=/{linker_name}/{alias}")
    for item in child.env:
        name, sep, value = item.partition("=")
        if sep and name not in ("HOME", "PATH"):
            env.append(f"{prefix_alias}_ENV_{name}={value}")
    return env


def environment(container: Container, containers: Mapping[str, Container],
                default_bridge: Network | None) -> list[str]:
    """setupLinkedContainers: every link's variables, for a container on the default
    bridge (its own --env comes after and wins)."""
    if default_bridge is None or default_bridge.id not in container.endpoints:
        return []
    env: list[str] = []
    for alias, cid in container.links.items():
        child = containers.get(cid)
        ep = child.endpoints.get(default_bridge.id) if child is not None else None
        if child is not None and ep is not None and ep.address is not None:
            env += link_env(alias, container.name, child, str(ep.address.ip))
    return env
