"""The drivers a conformance run can be pointed at, and what each can do.

A target is a driver name plus how to make it available on a lab: a built-in
driver needs only the right topology (macvlan needs the emulated LAN) or a swarm
(overlay); a third-party plugin is started on every Docker host by a command, or
reached at a socket; `mesh` is launched and peered by the run itself. A feature a
driver lacks carries the reason the checks that need it are skipped.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace

MTU_OPTION = "com.docker.network.driver.mtu"

# Features a check may need. A driver that lacks one says why.
NETWORKS = "networks"          # user-defined networks (more than one, removable)
IPAM = "ipam"                  # addresses from the IPAM
CONNECTIVITY = "connectivity"  # containers of one network exchange packets
INTERFACES = "interfaces"      # an endpoint is an interface in the container's sandbox
MTU = "mtu"                    # com.docker.network.driver.mtu is honoured
INTERNAL = "internal"          # --internal networks
L2_SEGMENT = "l2-segment"      # each network is a layer-2 segment of its own
KERNEL = "kernel"              # the driver makes kernel objects of its own
FEATURES = (NETWORKS, IPAM, CONNECTIVITY, INTERFACES, MTU, INTERNAL, L2_SEGMENT, KERNEL)

ONE_INSTANCE = ('the driver has only its predefined network "{name}" (Docker refuses another: '
                'CNM-NET-03)')


@dataclass(frozen=True)
class Capabilities:
    scope: str = "local"          # local, global (a plugin's datastore) or swarm
    connectivity: str = "local"   # libnetwork's ConnectivityScope
    lacks: dict[str, str] = field(default_factory=dict)

    def missing(self, *features: str) -> str | None:
        """The reason the driver cannot do one of `features`, or None."""
        for feature in features:
            if feature in self.lacks:
                return self.lacks[feature]
        return None

    @property
    def multi_host(self) -> bool:
        return self.scope in ("global", "swarm")


def _single(driver: str, network: str, connectivity: str) -> dict[str, str]:
    one = ONE_INSTANCE.format(name=network)
    name = driver
    return {NETWORKS: one, IPAM: f"the {name} driver takes no addresses from the IPAM",
            CONNECTIVITY: connectivity, INTERFACES: connectivity,
            MTU: "the driver has no MTU option", INTERNAL: one, L2_SEGMENT: connectivity,
            KERNEL: f"the {name} driver makes no kernel objects of its own"}


BUILTIN_CAPABILITIES: dict[str, Capabilities] = {
    "bridge": Capabilities(),
    "host": Capabilities(lacks=_single(
        "host", "host", "containers on the host network share the Docker host's namespace: no "
                "link lies between them")),
    "null": Capabilities(lacks=_single(
        "null", "none", "a container on the null driver's network has only lo")),
    "macvlan": Capabilities(connectivity="global", lacks={
        MTU: "Docker's macvlan takes its parent's MTU: com.docker.network.driver.mtu is "
             "accepted and not honoured",
        L2_SEGMENT: "macvlan networks on one parent share the parent's LAN segment; Docker "
                    "separates them by subnet only (802.1q sub-interfaces are missing on "
                    "this kernel)",
    }),
    "overlay": Capabilities(scope="swarm", connectivity="global"),
}

LAN_TOPOLOGY = """
name: ckit
hosts:
  h1: {}
  h2: {}
lan: {}
"""


@dataclass(frozen=True)
class Target:
    """A driver under test and how a run makes it available."""

    driver: str
    kind: str                          # builtin, plugin or mesh
    caps: Capabilities
    topology: str = "default"          # or "lan" (an emulated LAN on eth1 of every host)
    swarm: bool = False                # overlay: h1 initialises a swarm, h2 joins it
    network_options: dict[str, str] = field(default_factory=dict)
    attachable: bool = False
    plugin_command: str | None = None  # started on every host; {socket} {host} {python}
    plugin_socket: str | None = None   # where it listens; {host}
    bad_option: tuple[str, str] | None = (MTU_OPTION, "not-a-number")

    @property
    def is_plugin(self) -> bool:
        return self.kind in ("plugin", "mesh")

    def with_caps(self, caps: Capabilities) -> Target:
        return replace(self, caps=caps)

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"driver": self.driver, "kind": self.kind,
                                  "scope": self.caps.scope,
                                  "connectivity": self.caps.connectivity,
                                  "lacks": dict(self.caps.lacks)}
        if self.plugin_command:
            out["plugin_command"] = self.plugin_command
        if self.plugin_socket:
            out["plugin_socket"] = self.plugin_socket
        return out


class TargetError(ValueError):
    pass


def mesh_available() -> bool:
    return importlib.util.find_spec("emulator.mesh") is not None


def resolve(driver: str, plugin_socket: str | None = None,
            plugin_command: str | None = None) -> Target:
    """The target for `--cnm-driver NAME` (and how a plugin is reached or started)."""
    if not driver or "/" in driver or driver.startswith("."):
        raise TargetError(f"invalid driver name {driver!r}")
    if plugin_socket or plugin_command:
        if driver in BUILTIN_CAPABILITIES:
            raise TargetError(f"{driver} is a built-in driver: a plugin of that name would "
                              "never be asked (drop --cnm-plugin-socket/--cnm-plugin-command)")
        if plugin_command is not None and not plugin_command.strip():
            raise TargetError("--cnm-plugin-command is empty")
        return Target(driver, "plugin", Capabilities(), plugin_command=plugin_command,
                      plugin_socket=plugin_socket)
    if driver in BUILTIN_CAPABILITIES:
        caps = BUILTIN_CAPABILITIES[driver]
        if driver == "macvlan":
            return Target(driver, "builtin", caps, topology="lan",
                          network_options={"parent": "eth1"},
                          bad_option=("macvlan_mode", "not-a-mode"))
        if driver == "overlay":
            return Target(driver, "builtin", caps, swarm=True, attachable=True)
        if driver in ("host", "null"):
            return Target(driver, "builtin", caps, bad_option=None)
        return Target(driver, "builtin", caps)
    if driver == "mesh":
        return Target(driver, "mesh", Capabilities(scope="global", connectivity="global"))
    raise TargetError(
        f"unknown driver {driver!r}: a built-in ({', '.join(BUILTIN_CAPABILITIES)}), mesh, or "
        "a plugin named with --cnm-plugin-socket PATH or --cnm-plugin-command 'CMD {socket}'")
