"""Published ports as Docker writes them: `-p` specs, the Engine API's port maps, and
the bindings a driver programs.

`parse_port_spec` is go-connections' nat.ParsePortSpec (what the docker CLI does
with `-p [IP:][HOSTPORT:]CPORT[/PROTO]`, with its error texts), so the Python API
refuses what the CLI refuses; `requested_bindings` is what dockerd makes of a
container's HostConfig.PortBindings, PublishAllPorts and Config.ExposedPorts
(daemon.buildPortsRelatedCreateEndpointOptions) after validatePortBindings; a
`PortBinding` with its host port chosen is what `docker port` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from emulator import errdefs as err

PROTO_ORDER = {"tcp": 0, "udp": 1, "sctp": 2}


@dataclass(frozen=True, order=True)
class ExposedPort:
    port: int
    proto: str = "tcp"

    def key(self) -> str:
        """The Engine API's port key: "80/tcp"."""
        return f"{self.port}/{self.proto}"


@dataclass(frozen=True)
class PortBinding:
    """One container port published on the host: asked for (host_port 0: any port,
    host_port_end > host_port: a free one of that range) or programmed (one port)."""

    proto: str
    port: int
    host_ip: IPv4Address | IPv6Address | None = None
    """None: the default binding address, 0.0.0.0 (and [::] for a container with
    IPv6: the same host port, as Docker 28 binds both)."""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def exposed(self) -> ExposedPort:
        return ExposedPort(self.port, self.proto)

    def sort_key(self) -> tuple:
        """libnetwork's cmpPortBinding: exact host ports first, then by container port,
        protocol, host ports and host address."""
        end = self.host_port_end or self.host_port
        is_range = self.host_port == 0 or self.host_port != end
        return (is_range, self.port, PROTO_ORDER.get(self.proto, 3), self.host_port, end,
                int(self.host_ip or 0))


def _port_range(text: str) -> tuple[int, int]:
    """go-connections' ParsePortRange: "80" or "8000-8010", each 0-65535... and start <= end."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        end_text = start_text
    values = []
    for part in (start_text, end_text):
        if not part.isdigit() or int(part) > 65535:
            raise ValueError(text)
        values.append(int(part))
    if values[1] < values[0]:
        raise ValueError(text)
    return values[0], values[1]


def split_proto_port(raw: str) -> tuple[str, str]:
    """go-connections' SplitProtoPort: "80/udp" -> ("udp", "80"), "80" -> ("tcp", "80")."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def parse_port_spec(raw: str) -> list[tuple[ExposedPort, str, str]]:
    """One `-p` value as the docker CLI reads it: (container port, host IP, host port
    text) for each container port, the host port text as the API carries it."""
    parts = raw.split(":")
    container = parts[-1]
    if len(parts) == 1:
        ip, host = "", ""
    elif len(parts) == 2:
        ip, host = "", parts[0]
    else:
        ip, host = ":".join(parts[:-2]), parts[-2]
    proto, container = split_proto_port(container)
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip:
        try:
            ip_address(ip)
        except ValueError:
            raise err.InvalidParameter(f"invalid IP address: {ip}") from None
    if not container:
        raise err.InvalidParameter(f"no port specified: {raw}<empty>")
    try:
        start, end = _port_range(container)
    except ValueError:
        raise err.InvalidParameter(f"invalid containerPort: {container}") from None
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = _port_range(host)
        except ValueError:
            raise err.InvalidParameter(f"invalid hostPort: {host}") from None
    if host and end - start != host_end - host_start and end != start:
        raise err.InvalidParameter(
            f"invalid ranges specified for container and host Ports: {container} and {host}")
    if proto.lower() not in PROTO_ORDER:
        raise err.InvalidParameter(f"invalid proto: {proto}")
    out = []
    for offset in range(end - start + 1):
        host_text = str(host_start + offset) if host else ""
        if start == end and host_start != host_end:
            host_text = f"{host_start}-{host_end}"
        out.append((ExposedPort(start + offset, proto.lower()), ip, host_text))
    return out


def port_specs_to_api(specs: Iterable[str]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """`-p` values as the docker CLI sends them: (Config.ExposedPorts,
    HostConfig.PortBindings)."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict]] = {}
    for spec in specs:
        for port, ip, host in parse_port_spec(spec):
            exposed.setdefault(port.key(), {})
            bindings.setdefault(port.key(), []).append({"HostIp": ip, "HostPort": host})
    return exposed, bindings


def parse_port_key(key: str) -> ExposedPort:
    """An Engine API port key ("80/tcp", "80"), refused with dockerd's text if bad."""
    proto, port = split_proto_port(key)
    try:
        start, end = _port_range(port)
    except ValueError:
        raise err.InvalidParameter(f'invalid port specification: "{port}"') from None
    if start != end:
        raise err.InvalidParameter(f'invalid port specification: "{port}"')
    return ExposedPort(start, proto.lower() or "tcp")


@dataclass(frozen=True)
class PortOptions:
    """What a container asks of its published ports, as its create request says it."""

    bindings: tuple[PortBinding, ...] = ()
    exposed: tuple[ExposedPort, ...] = ()
    publish_all: bool = False
    port_bindings_json: Mapping[str, object] | None = None
    """HostConfig.PortBindings as sent, for inspect."""

    def requested(self) -> tuple[PortBinding, ...]:
        """dockerd's port bindings for the endpoint: each binding asked for, and with
        PublishAllPorts an any-port binding for each exposed port that has none."""
        out = list(self.bindings)
        if self.publish_all:
            bound = {b.exposed for b in self.bindings}
            out += [PortBinding(p.proto, p.port) for p in self.exposed if p not in bound]
        return tuple(out)


def port_options(exposed_json: Mapping[str, object] | None,
                 bindings_json: Mapping[str, object] | None,
                 publish_all: bool) -> PortOptions:
    """A create request's ports, validated as dockerd's validatePortBindings does."""
    bindings: list[PortBinding] = []
    exposed = {parse_port_key(key) for key in (exposed_json or {})}
    for key, entries in (bindings_json or {}).items():
        port = parse_port_key(key)
        exposed.add(port)
        for entry in entries or []:
            entry = entry or {}
            host_ip_text = entry.get("HostIp") or ""
            host_text = entry.get("HostPort") or ""
            _, host_port = split_proto_port(host_text)
            try:
                start, end = _port_range(host_port) if host_port else (0, 0)
            except ValueError:
                raise err.InvalidParameter(
                    f'invalid port specification: "{host_text}"') from None
            host_ip = None
            if host_ip_text:
                try:
                    address = ip_address(host_ip_text)
                except ValueError:
                    raise err.InvalidParameter(
                        f"invalid host IP address: {host_ip_text}") from None
                host_ip = address
            bindings.append(PortBinding(port.proto, port.port, host_ip, start, end))
    return PortOptions(tuple(bindings), tuple(sorted(exposed)), publish_all,
                       dict(bindings_json) if bindings_json is not None else None)
