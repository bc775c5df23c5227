"""What a check works with: the lab, the target, and helpers that clean up after it.

Every network and container a check makes goes through its context, which names
them after the check, gives each check subnets of its own (so a driver that leaves
an address behind cannot disturb the next check), places them on the right Docker
host (overlay networks are made on the swarm manager), and removes them afterwards
whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TYPE_CHECKING

from emulator.conformance import host_snapshot, links, versions
from emulator.conformance.host_snapshot import Snapshot
from emulator.conformance.hosts import EndpointView, KitContainer, KitHost, KitNetwork
from emulator.conformance.hosts import endpoint as endpoint_of
from emulator.conformance.registry import Check, CheckFailed
from emulator.errdefs import DockerError, NotFound
from emulator.probes import ALL_PROTOCOLS, ProbeEngine, ProbeResult, ProbeTarget, Verdict

if TYPE_CHECKING:
    from emulator.conformance.session import KitSession

MANAGER = "h1"


class CheckContext:
    def __init__(self, session: KitSession, check: Check, index: int) -> None:
        self.session = session
        self.lab = session.lab
        self.target = session.target
        self.check = check
        self.index = index
        self.window = session.window
        self.slug = check.id.split("-", 1)[1].replace("-", "").lower()  # NET-01 -> net01
        self.notes: list[str] = []
        self.differences: list[str] = []  # ids of the version differences accepted
        self.warnings: list[str] = []  # what passed, but a user should hear about
        self._containers: list[tuple[str, str]] = []
        self._networks: list[tuple[str, str]] = []

    # -- hosts -----------------------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        return list(self.lab.hosts)

    def host(self, name: str = MANAGER) -> KitHost:
        return self.session.hosts[name]

    @property
    def real(self) -> bool:
        """Whether the Docker hosts run a real Docker Engine (not the emulator)."""
        return self.session.engine_version is not None

    def predates(self, difference: versions.Difference) -> bool:
        """Whether the real engine under test is older than `difference`: its older
        answer is then Docker's too."""
        return versions.before(self.session.engine_version, difference)

    def warn(self, text: str) -> None:
        """The check passes, with a warning in its report."""
        self.warnings.append(text)

    def accept(self, difference: versions.Difference, observed: str) -> None:
        """Record that the engine answered as its (older) version does."""
        if difference.id not in self.differences:
            self.differences.append(difference.id)
            self.notes.append(f"{difference.note()}; observed: {observed}")

    @property
    def second(self) -> str:
        """The Docker host containers go to when a check spans two hosts."""
        return self.hosts[1]

    @property
    def spread(self) -> str:
        """Where the second container of a pair goes: the other host for multi-host
        drivers (so traffic crosses the underlay), the same host otherwise."""
        return self.second if self.target.caps.multi_host else MANAGER

    # -- naming and addressing ---------------------------------------------------

    def subnet(self, k: int = 0) -> IPv4Network:
        """This check's k-th subnet: 10.(160 + index mod 90).k.0/24 (clear of Docker's
        local default pools, the lab's underlay and LAN, and the other checks')."""
        return IPv4Network(f"10.{160 + self.index % 90}.{k}.0/24")

    def name(self, suffix: str) -> str:
        return f"{self.slug}{suffix}"

    # -- networks and containers ---------------------------------------------------

    def network(self, suffix: str, k: int = 0, host: str = MANAGER, *,
                subnet: str | None = None, gateway: str | None = None,
                ip_range: str | None = None, internal: bool = False,
                options: dict[str, str] | None = None, name: str | None = None,
                default_subnet: bool = False) -> KitNetwork:
        """A network of the target's driver made on `host` (the manager for swarm
        networks), with this check's k-th subnet unless told otherwise."""
        if self.target.caps.scope == "swarm":
            host = MANAGER
        merged = {**self.target.network_options, **(options or {})}
        parent = merged.get("parent")
        if k and parent and self.session.extra_parents:
            merged["parent"] = self.session.extra_parents[k - 1]
            self.accept(versions.MACVLAN_SHARED_PARENT,
                        f"the check's network {k} has parent {merged['parent']}, not {parent}")
        if subnet is None and not default_subnet:
            subnet = str(self.subnet(k))
        handle = self.host(host).networks.create(
            name or f"ck-{self.name(suffix)}", self.target.driver, subnet=subnet,
            gateway=gateway, ip_range=ip_range, internal=internal,
            attachable=self.target.attachable, options=merged)
        self._networks.append((host, handle.id))
        return handle

    def predefined(self, host: str = MANAGER) -> KitNetwork:
        """The predefined network of a driver that has only that one (host, none)."""
        name = "none" if self.target.driver == "null" else self.target.driver
        return self.host(host).networks.get(name)

    def run(self, suffix: str, network: str | None = None, host: str = MANAGER,
            ip: str | None = None, networks: Sequence[object] | None = None) -> KitContainer:
        name = self.name(suffix)
        self._containers.append((host, name))
        try:
            return self.host(host).containers.run(name, network=network, ip=ip,
                                                  networks=networks)
        except DockerError as exc:
            raise CheckFailed(f"could not run container {name} on {host} "
                              f"(network {network or networks}): {exc.message}") from None

    def try_run(self, suffix: str, network: str | None = None, host: str = MANAGER,
                ip: str | None = None, networks: Sequence[object] | None = None,
                ) -> tuple[KitContainer | None, DockerError | None]:
        """Run a container that may be refused: (handle, None) or (None, the error)."""
        name = self.name(suffix)
        self._containers.append((host, name))
        try:
            return self.host(host).containers.run(name, network=network, ip=ip,
                                                  networks=networks), None
        except DockerError as exc:
            return None, exc

    def forget_container(self, host: str, name: str) -> None:
        self._containers = [c for c in self._containers if c != (host, name)]

    def remove_network(self, handle: KitNetwork, host: str = MANAGER) -> None:
        if self.target.caps.scope == "swarm":
            host = MANAGER
        self.host(host).networks.remove(handle.id)
        self._networks = [n for n in self._networks if n[1] != handle.id]

    def endpoint(self, container: KitContainer, network: KitNetwork
                 ) -> EndpointView | None:
        """The endpoint of `container` on `network` (None if it has none), as the
        container's inspect data and its namespace show it."""
        return endpoint_of(container, network.name)

    def ifname(self, container: KitContainer, network: KitNetwork) -> str:
        ep = self.endpoint(container, network)
        if ep is None or not ep.ifname:
            raise CheckFailed(f"{container.name} has no interface on {network.name}")
        return ep.ifname

    # -- packets ---------------------------------------------------------------------

    def probe_target(self, container: KitContainer,
                     network: KitNetwork | None = None) -> ProbeTarget:
        address = container.ip(network.name if network else None)
        if container.pid is None:
            raise CheckFailed(f"{container.name} is not running")
        return ProbeTarget(container.name, container.pid, address)

    def node_target(self, node: str, address: IPv4Address) -> ProbeTarget:
        return ProbeTarget(node, self.lab.node_pid(node), address)

    def ready(self, pids: Iterable[tuple[str, int]] = ()) -> None:
        """Before sending: wait until every link of the Docker hosts and of these
        namespaces (name, pid) carries frames (see links.py); what had to be waited
        for is noted, since the emulator should have waited for it itself."""
        named = [(h, self.lab.node_pid(h)) for h in self.hosts] + list(pids)
        names = {pid: name for name, pid in named}
        waited = links.wait_ready(pid for _, pid in named)
        if waited:
            shown = ", ".join(f"{names.get(int(p), p)}:{n}" for p, n in
                              (w.split(":", 1) for w in waited))
            self.notes.append(f"waited for links not yet up after the attach: {shown}")

    def probe(self, sources: Iterable[ProbeTarget], targets: Iterable[ProbeTarget],
              protocols: Sequence[str] = ALL_PROTOCOLS) -> list[ProbeResult]:
        """Every probe sent, then one shared window for the replies."""
        sources, targets = list(sources), list(targets)
        self.ready((t.name, t.pid) for t in [*sources, *targets])
        return ProbeEngine(window=self.window).run(sources, targets, protocols)

    # -- kernel ------------------------------------------------------------------------

    def snapshots(self, hosts: Iterable[str] | None = None) -> dict[str, Snapshot]:
        return host_snapshot.snapshots(self.host(h) for h in (hosts or self.hosts))

    def unchanged(self, before: dict[str, Snapshot], timeout: float = 3.0) -> list[str]:
        return host_snapshot.wait_until_same([self.host(h) for h in before], before, timeout)

    # -- clean-up ----------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Remove what the check made (containers, then networks, newest first)."""
        problems = []
        for host in dict.fromkeys(h for h, _ in self._containers):
            wanted = {n for h, n in self._containers if h == host}
            try:
                self.host(host).remove_containers(wanted)
            except DockerError as exc:
                problems.append(f"removing containers on {host}: {exc.message}")
        for host, net_id in reversed(self._networks):
            try:
                self.host(host).networks.remove(net_id)
            except NotFound:
                pass
            except DockerError as exc:
                problems.append(f"removing network {net_id[:12]} on {host}: {exc.message}")
        self._containers.clear()
        self._networks.clear()
        return problems


def reached(results: Iterable[ProbeResult]) -> list[ProbeResult]:
    return [r for r in results if r.verdict == Verdict.REACHED]


def not_reached(results: Iterable[ProbeResult]) -> list[ProbeResult]:
    return [r for r in results if r.verdict != Verdict.REACHED]


def cells(results: Iterable[ProbeResult], limit: int = 8) -> str:
    """Probe results as short text: 'a->b icmp reached (echo-reply)'."""
    rows = [f"{r.source}->{r.target} {r.protocol} {r.verdict} ({r.evidence})" for r in results]
    more = f"; and {len(rows) - limit} more" if len(rows) > limit else ""
    return "; ".join(rows[:limit]) + more


def sandbox_addresses(container: KitContainer) -> dict[str, list[IPv4Interface]]:
    """The IPv4 addresses the kernel shows in a container's namespace, per interface."""
    done = container.exec(["ip", "-o", "-4", "addr", "show"])
    if done.exit_code != 0:
        raise CheckFailed(f"{container.name}: ip addr failed: {done.stderr.strip()}")
    out: dict[str, list[IPv4Interface]] = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] != "lo":
            out.setdefault(fields[1], []).append(IPv4Interface(fields[3]))
    return out


def sandbox_links(container: KitContainer) -> dict[str, tuple[str, int]]:
    """Interface name -> (MAC, MTU) in a container's namespace."""
    done = container.exec(["ip", "-o", "link", "show"])
    out: dict[str, tuple[str, int]] = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        name = fields[1].rstrip(":").split("@")[0]
        mtu = int(fields[fields.index("mtu") + 1]) if "mtu" in fields else 0
        mac = fields[fields.index("link/ether") + 1] if "link/ether" in fields else ""
        out[name] = (mac, mtu)
    return out


def default_route(container: KitContainer) -> tuple[str, str] | None:
    """(next hop, interface) of the container's default route, or None."""
    done = container.exec(["ip", "-4", "route", "show", "default"])
    fields = done.stdout.split()
    if "via" in fields and "dev" in fields:
        return fields[fields.index("via") + 1], fields[fields.index("dev") + 1]
    return None
