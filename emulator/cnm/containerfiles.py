"""Each container's /etc/resolv.conf, /etc/hosts and /etc/hostname, kept on disk.

dockerd keeps these per container (under /var/lib/docker) and bind-mounts them
into it; one engine keeps them under its state directory, `<dir>/<id>/`. They are
written when the container starts (its networks joined, before its process),
changed as libnetwork changes them while it runs (a connect appends its address
lines to the hosts file and, on a network with the embedded resolver, switches
resolv.conf to 127.0.0.11; a disconnect deletes its lines), and removed with the
container. A container in the host's network namespace gets none: it sees the
host's own files. The text comes from `etcfiles`.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from emulator import errdefs as err
from emulator.cnm import etcfiles, links
from emulator.cnm.etcfiles import DnsConfig, ExtServer, HostResolvConf
from emulator.cnm.model import Container, Endpoint, Network
from emulator.cnm.state import HostState
from emulator.swarm.cluster import GWBRIDGE

# the same for every container with the same options: made once
_resolv_conf_internal = functools.lru_cache(maxsize=64)(etcfiles.resolv_conf_internal)
_resolv_conf_legacy = functools.lru_cache(maxsize=64)(etcfiles.resolv_conf_legacy)

RESOLV_CONF, HOSTS, HOSTNAME = "/etc/resolv.conf", "/etc/hosts", "/etc/hostname"
FILE_NAMES = {RESOLV_CONF: "resolv.conf", HOSTS: "hosts", HOSTNAME: "hostname"}


def has_resolver(network: Network) -> bool:
    """libnetwork starts the embedded resolver for endpoints on user-defined networks:
    not on the default bridge, host or none (dockerd's disableResolution)."""
    return not network.predefined


def in_hosts_file(network: Network) -> bool:
    """Endpoint.getEtcHostsAddrs: no lines for ingress and docker_gwbridge endpoints."""
    return not network.ingress and network.name != GWBRIDGE


class ContainerFiles:
    """The files of one engine's containers; without a directory there are none."""

    def __init__(self, state: HostState, directory: Path | None,
                 host_resolv: HostResolvConf) -> None:
        self._state = state
        self.directory = directory
        self.host_resolv = host_resolv
        self._internal: dict[str, bool] = {}
        self._external: dict[str, tuple[ExtServer, ...]] = {}

    @contextmanager
    def enabled(self, on: bool) -> Iterator[None]:
        """Containers started in the body get their files (and mount namespace) or not:
        off is the engine's path without a directory, for measuring what they cost."""
        kept = self.directory
        self.directory = kept if on else None
        try:
            yield
        finally:
            self.directory = kept

    def refuse_unsupported(self, dns: DnsConfig, networks: list[Network]) -> None:
        """Options this emulator cannot honour for a container in the host's namespace
        (dockerd writes it private copies of the host's files; here it has none)."""
        if dns.empty or not any(self._state.capability_of(n).shares_host_namespace
                                for n in networks):
            return
        given = [flag for flag, value in (
            ("--dns", dns.servers), ("--dns-search", dns.search),
            ("--dns-option", dns.options), ("--add-host", dns.extra_hosts),
            ("--domainname", dns.domainname)) if value]
        raise err.NotImplementedByEmulator(
            f"{', '.join(given)} with --network host is not supported by the emulator yet: "
            "its containers see the Docker host's own /etc files")

    def folder(self, cid: str) -> Path | None:
        return self.directory / cid if self.directory is not None else None

    def paths(self, cid: str) -> dict[str, str]:
        """ResolvConfPath, HostsPath and HostnamePath, once the files exist."""
        folder = self.folder(cid)
        if folder is None or not (folder / "hosts").exists():
            return {"ResolvConfPath": "", "HostnamePath": "", "HostsPath": ""}
        return {"ResolvConfPath": str(folder / "resolv.conf"),
                "HostnamePath": str(folder / "hostname"), "HostsPath": str(folder / "hosts")}

    def external_servers(self, cid: str) -> tuple[ExtServer, ...]:
        """The servers the embedded resolver forwards this container's other names to
        (the host's, or --dns); empty for a container without the embedded resolver."""
        return self._external.get(cid, ())

    def uses_resolver(self, cid: str) -> bool:
        return self._internal.get(cid, False)

    # -- the container's life ------------------------------------------------------

    def prepare(self, container: Container) -> dict[str, Path] | None:
        """Write the container's three files as it starts (networks joined): what to
        bind-mount where, or None when it gets none (host mode, or no directory)."""
        folder = self.folder(container.id)
        networks = self._networks_of(container)
        if folder is None or any(self._state.capability_of(n).shares_host_namespace
                                 for n in networks):
            return None
        _make_folder(folder)
        _write(folder / "hostname", etcfiles.hostname_file(container.hostname))
        addresses = [address for n in networks if in_hosts_file(n)
                     for address in _addresses(container.endpoints[n.id])]
        bridge = self._default_bridge()
        _write(folder / "hosts", etcfiles.hosts_file(
            container.hostname, container.dns.domainname, container.dns.extra_hosts,
            addresses, self._host_gateway(),
            linked=links.hosts_records(container, self._state.containers, bridge)))
        self._internal[container.id] = False
        self._external.pop(container.id, None)
        self._write_resolv_conf(container, any(has_resolver(n) for n in networks))
        self._update_linkers(container, bridge)
        return {path: folder / name for path, name in FILE_NAMES.items()}

    def _update_linkers(self, container: Container, bridge: Network | None) -> None:
        """addLegacyLinks for the linked end: the running containers linking to this one
        get its (maybe new) default-bridge address in their hosts files."""
        ep = container.endpoints.get(bridge.id) if bridge is not None else None
        if ep is None or ep.address is None:
            return
        for linker in self._state.containers.values():
            folder = self.folder(linker.id)
            if not linker.running or folder is None or not (folder / "hosts").exists():
                continue
            for alias, cid in linker.links.items():
                if cid == container.id:
                    path = folder / "hosts"
                    _write(path, etcfiles.hosts_updated(path.read_text(), str(ep.address.ip),
                                                        alias))

    def joined(self, container: Container, network: Network, ep: Endpoint) -> None:
        """A running container was connected: its address lines, and the embedded
        resolver if the network has one (libnetwork's addHostsEntries, rebuildDNS)."""
        folder = self.folder(container.id)
        if folder is None or not (folder / "hosts").exists():
            return
        if in_hosts_file(network) and _addresses(ep):
            records = etcfiles.own_records(_addresses(ep), container.hostname,
                                           container.dns.domainname)
            with open(folder / "hosts", "a") as hosts:
                hosts.write("".join(etcfiles.record_line(ip, n) for ip, n in records))
        if has_resolver(network) and not self._internal.get(container.id):
            self._write_resolv_conf(container, True)

    def left(self, container: Container, network: Network, ep: Endpoint) -> None:
        """A running container was disconnected: its lines for that address go
        (etchosts.Delete). The embedded resolver stays, as libnetwork's does."""
        folder = self.folder(container.id)
        if folder is None or not _addresses(ep) or not (folder / "hosts").exists():
            return
        records = etcfiles.own_records(_addresses(ep), container.hostname,
                                       container.dns.domainname)
        path = folder / "hosts"
        _write(path, etcfiles.hosts_without(path.read_text(), records))

    def removed(self, cid: str) -> None:
        self._internal.pop(cid, None)
        self._external.pop(cid, None)
        folder = self.folder(cid)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------

    def _write_resolv_conf(self, container: Container, internal: bool) -> None:
        folder = self.folder(container.id)
        assert folder is not None
        if internal:
            text, external = _resolv_conf_internal(self.host_resolv, container.dns)
            self._external[container.id] = external
        else:
            text = _resolv_conf_legacy(self.host_resolv, container.dns)
        self._internal[container.id] = internal
        _write(folder / "resolv.conf", text)

    def _networks_of(self, container: Container) -> list[Network]:
        return [self._state.networks[net_id] for net_id in container.endpoints
                if net_id in self._state.networks]

    def _default_bridge(self) -> Network | None:
        return next((n for n in self._state.networks.values()
                     if n.predefined and n.name == "bridge"), None)

    def _host_gateway(self):
        """dockerd's HostGatewayIP: the default bridge's gateway address."""
        network = self._default_bridge()
        if network is not None and network.pool_id:
            return self._state.space(network).pool(network.pool_id).gateway
        return None


def _make_folder(folder: Path) -> None:
    try:
        os.mkdir(folder, 0o755)
    except FileExistsError:  # a restart: the files are rewritten
        pass
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True, mode=0o755)


def _write(path: Path, text: str) -> None:
    """Truncate and write in place: a bind mount holds the file's inode, so a new
    file renamed over it would not be seen in the container."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        data = memoryview(text.encode())
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def _addresses(ep: Endpoint) -> list[IPv4Address | IPv6Address]:
    """The endpoint's addresses as /etc/hosts lists them: IPv4, then IPv6
    (libnetwork's addHostsEntries)."""
    found: list[IPv4Address | IPv6Address] = []
    if ep.address is not None:
        found.append(ep.address.ip)
    if ep.address6 is not None:
        found.append(ep.address6.ip)
    return found
