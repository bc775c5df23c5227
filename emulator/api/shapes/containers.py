"""Docker's JSON for containers (Engine API v1.45): summary and inspect."""

from __future__ import annotations

import shlex
from datetime import datetime

from emulator.api.shapes.networks import container_networks_json
from emulator.cnm.engine import Engine
from emulator.cnm.lifecycle import never_started
from emulator.cnm.links import inspect_links
from emulator.cnm.model import Container


def _epoch(stamp: str) -> int:
    """Seconds since 1970 of an RFC 3339 UTC stamp as the engine writes them, nanoseconds
    or none ("0001-01-01T00:00:00Z": a container that never finished)."""
    seconds = stamp.removesuffix("Z").split(".")[0]
    return int(datetime.fromisoformat(seconds + "+00:00").timestamp())


def _since(stamp: str) -> str:
    seconds = max(0, int(datetime.now().timestamp()) - _epoch(stamp))
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return f"{seconds} seconds" if seconds > 1 else "1 second"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minutes" if minutes > 1 else "About a minute"
    hours = minutes // 60
    return f"{hours} hours" if hours > 1 else "About an hour"


def status_text(container: Container) -> str:
    if container.running:
        paused = " (Paused)" if container.paused else ""
        return f"Up {_since(container.started_at)}{paused}"
    if never_started(container):
        return "Created"
    return f"Exited ({container.exit_code}) {_since(container.finished_at)} ago"


def state(container: Container) -> str:
    if container.running:
        return "paused" if container.paused else "running"
    return "created" if never_started(container) else "exited"


def network_mode(engine: Engine, container: Container) -> str:
    for net_id in container.attachments:
        network = engine.networks.get(net_id)
        if network is not None:
            return "default" if network.name == "bridge" else network.name
    return "none"


def port_map(container: Container) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: every exposed port of a running container's publishing
    endpoint, null when not published, else its bindings (daemon.getPortMapInfo)."""
    ep = next((e for e in container.endpoints.values() if e.published is not None), None)
    if not container.running or ep is None:
        return {}
    ports: dict[str, list[dict[str, str]] | None] = {p.key(): None
                                                     for p in container.ports.exposed}
    for binding in ep.published or ():
        entries = ports.get(binding.exposed.key()) or []
        entries.append({"HostIp": str(binding.host_ip), "HostPort": str(binding.host_port)})
        ports[binding.exposed.key()] = entries
    return dict(sorted(ports.items()))


def summary_ports(container: Container) -> list[dict[str, object]]:
    """The list's Ports: one entry per binding, or per exposed port not published."""
    out: list[dict[str, object]] = []
    for key, bindings in port_map(container).items():
        port, _, proto = key.partition("/")
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto})
        out += [{"IP": b["HostIp"], "PrivatePort": int(port), "PublicPort": int(b["HostPort"]),
                 "Type": proto} for b in bindings or ()]
    return out


def summary(engine: Engine, container: Container) -> dict[str, object]:
    return {
        "Id": container.id,
        "Names": ["/" + container.name],
        "Image": container.image or "cnm-emulator/host-binaries",
        "ImageID": "",
        "Command": shlex.join(container.command),
        "Created": _epoch(container.created),
        "Ports": summary_ports(container),
        "Labels": dict(container.labels),
        "State": state(container),
        "Status": status_text(container),
        "HostConfig": {"NetworkMode": network_mode(engine, container)},
        "NetworkSettings": {"Networks": container_networks_json(container, engine.networks)},
        "Mounts": [],
    }


def dns_host_config(container: Container) -> dict[str, object]:
    """HostConfig's name-resolution fields, as dockerd keeps them (lists; ExtraHosts
    null when there are none)."""
    dns = container.dns
    return {"Dns": list(dns.servers), "DnsOptions": list(dns.options),
            "DnsSearch": list(dns.search), "ExtraHosts": list(dns.extra_hosts) or None}


DEFAULT_NETWORK_FIELDS = ("EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
                          "IPAddress", "IPPrefixLen", "IPv6Gateway", "MacAddress")
"""NetworkSettings' top-level copy of the default bridge's endpoint (dockerd's
getDefaultNetworkSettings, the same in 20.10 and 28; deprecated in 28.4)."""


def default_network_settings(networks: dict[str, dict]) -> dict[str, object]:
    bridge = networks.get("bridge")
    return {key: (bridge or {}).get(key, 0 if key.endswith("PrefixLen") else "")
            for key in DEFAULT_NETWORK_FIELDS}


def desired_mac(engine: Engine, container: Container) -> dict[str, str]:
    """Config.MacAddress (omitted when empty): the MAC asked for on the NetworkMode
    network, bridge or user-defined (daemon/inspect.go's migration for old clients)."""
    first = next(iter(container.attachments.values()), None)
    network = engine.networks.get(first.network_id) if first else None
    if first is None or network is None or not first.mac or (
            network.predefined and network.name != "bridge"):
        return {}
    return {"MacAddress": first.mac}


def runtime_host_config(container: Container) -> dict[str, object]:
    """HostConfig's runtime fields as given at create."""
    runtime = container.runtime
    return {"Binds": list(runtime.binds) or None,
            "CapAdd": list(runtime.cap_add) or None, "CapDrop": list(runtime.cap_drop) or None,
            "Privileged": runtime.privileged, "ReadonlyRootfs": runtime.read_only,
            **({"Tmpfs": dict(runtime.tmpfs)} if runtime.tmpfs else {}),
            "ConsoleSize": list(runtime.console_size or (0, 0))}


def mount_points(container: Container) -> list[dict[str, object]]:
    """inspect's Mounts: its bind mounts and tmpfs, as dockerd lists MountPoints."""
    return [{"Type": m.kind, "Source": m.source, "Destination": m.target,
             "Mode": "ro" if m.read_only and m.kind == "bind" else "",
             "RW": not m.read_only, "Propagation": "rprivate" if m.kind == "bind" else ""}
            for m in container.runtime.mounts]


def inspect(engine: Engine, container: Container, log_path: str = "") -> dict[str, object]:
    sandbox_key = f"/proc/{container.pid}/ns/net" if container.running else ""
    networks = container_networks_json(container, engine.networks)
    runtime = container.runtime
    return {
        "Id": container.id,
        "Created": container.created,
        "Path": container.command[0],
        "Args": container.command[1:],
        "State": {
            "Status": state(container), "Running": container.running,
            "Paused": container.paused,
            "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": container.pid,
            "ExitCode": container.exit_code, "Error": "", "StartedAt": container.started_at,
            "FinishedAt": container.finished_at,
        },
        "Image": container.image or "cnm-emulator/host-binaries",
        **engine.container_files.paths(container.id), "LogPath": log_path,
        "Name": "/" + container.name,
        "RestartCount": 0, "Driver": "cnm-emulator", "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": {"NetworkMode": network_mode(engine, container),
                       "LogConfig": {"Type": "json-file", "Config": {}},
                       "PortBindings": dict(container.ports.port_bindings_json or {}),
                       "PublishAllPorts": container.ports.publish_all,
                       "Links": inspect_links(container, engine.containers) or None,
                       **({"Sysctls": dict(container.sysctls)} if container.sysctls else {}),
                       **dns_host_config(container), **runtime_host_config(container)},
        "GraphDriver": {"Name": "cnm-emulator", "Data": {}},
        "Mounts": mount_points(container),
        "Config": {
            "Hostname": container.hostname, "Domainname": container.dns.domainname,
            "User": runtime.user, "AttachStdin": runtime.attach_stdin,
            "AttachStdout": runtime.attach_stdout, "AttachStderr": runtime.attach_stderr,
            "Tty": runtime.tty, "OpenStdin": runtime.open_stdin,
            "StdinOnce": runtime.stdin_once, "Env": list(container.env),
            "Cmd": list(container.command), "Image": container.image, "Volumes": None,
            "WorkingDir": runtime.workdir, "Entrypoint": None, "OnBuild": None,
            "Labels": dict(container.labels), **desired_mac(engine, container),
            **({"ExposedPorts": {p.key(): {} for p in container.ports.exposed}}
               if container.ports.exposed else {}),
        },
        "NetworkSettings": {
            "Bridge": "", "SandboxID": container.id if container.running else "",
            "SandboxKey": sandbox_key, "Ports": port_map(container), "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            **default_network_settings(networks), "Networks": networks,
        },
    }
