"""The drivers a conformance run can be pointed at, and what each can do.

A target is a driver name plus how to make it available on a lab: a built-in
driver needs only the right topology (macvlan needs the emulated LAN) or a swarm
(overlay); a third-party plugin is started on every Docker host by a command, or
reached at a socket; `mesh` is launched and peered by the run itself. What a
driver can do is read from the `Capability` it declares (a plugin's, once it is
activated); a feature it lacks carries the reason the checks that need it are
skipped.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace

from emulator.drivers import base, registry
from emulator.topology import BUILTIN_DRIVERS

DOCKER_MTU_OPTION = "com.docker.network.driver.mtu"

# Features a check may need. A driver that lacks one says why.
NETWORKS = "networks"          # user-defined networks (more than one, removable)
IPAM = "ipam"                  # addresses from the IPAM
CONNECTIVITY = "connectivity"  # containers of one network exchange packets
INTERFACES = "interfaces"      # an endpoint is an interface in the container's sandbox
MTU = base.MTU_OPTION          # com.docker.network.driver.mtu is honoured
INTERNAL = "internal"          # --internal networks
L2_SEGMENT = base.L2_SEGMENT   # each network is a layer-2 segment of its own
KERNEL = "kernel"              # the driver makes kernel objects of its own
FEATURES = (NETWORKS, IPAM, CONNECTIVITY, INTERFACES, MTU, INTERNAL, L2_SEGMENT, KERNEL)

ONE_INSTANCE = ('the driver has only its predefined network "{name}" (Docker refuses another: '
                'CNM-NET-03)')
MESH_MISSING = "the mesh plugin (emulator.mesh) is not installed"


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


def _lacks(driver: str, capability: base.Capability) -> dict[str, str]:
    """Why the driver cannot do each feature it lacks, by what it declares."""
    why: dict[str, str] = {}
    if capability.only_network:
        why[NETWORKS] = why[INTERNAL] = ONE_INSTANCE.format(name=capability.only_network)
    if not capability.uses_ipam:
        why[IPAM] = f"the {driver} driver takes no addresses from the IPAM"
    if not capability.creates_interface:
        if capability.shares_host_namespace:
            network = capability.only_network or driver
            no_link = (f"containers on the {network} network share the Docker host's "
                       "namespace: no link lies between them")
        else:
            no_link = f"a container on the {driver} driver's network has only lo"
        why[CONNECTIVITY] = why[INTERFACES] = why[L2_SEGMENT] = no_link
        why[MTU] = "the driver has no MTU option"
        why[KERNEL] = f"the {driver} driver makes no kernel objects of its own"
    why.update(capability.limits)
    return {feature: why[feature] for feature in FEATURES if feature in why}


def capabilities(driver: str, capability: base.Capability) -> Capabilities:
    """What the kit knows of a driver from the capability it declares."""
    return Capabilities(scope=capability.scope, connectivity=capability.connectivity_scope,
                        lacks=_lacks(driver, capability))


def builtin_drivers() -> list[str]:
    """The built-in drivers the registry finds, in the order the project lists them."""
    def order(name: str) -> tuple[int, str]:
        known = name in BUILTIN_DRIVERS
        return (BUILTIN_DRIVERS.index(name) if known else len(BUILTIN_DRIVERS), name)

    return sorted(registry.names(), key=order)


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
    bad_option: tuple[str, str] | None = (DOCKER_MTU_OPTION, "not-a-number")
    unavailable: str | None = None     # why it cannot be run here (every check is skipped)
    engine: str = "emulated"           # what runs the Docker hosts: emulated or docker
    default_mtu: int | str = 1500      # the driver's documented MTU without the option, or
    #                                    "parent": its parent link's (-o parent) MTU
    outbound: str = "host"             # where its containers go out: "host" (through the
    #                                    Docker host to the outside) or "lan" (to the LAN
    #                                    router, the network's gateway, only)

    @property
    def is_plugin(self) -> bool:
        return self.kind in ("plugin", "mesh")

    def with_caps(self, caps: Capabilities) -> Target:
        return replace(self, caps=caps)

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"driver": self.driver, "kind": self.kind,
                                  "engine": self.engine,
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


OVERLAY_DEFAULT_MTU = 1450  # Docker's overlay: the underlay's 1500 less VXLAN's 50; mesh too

# What a built-in needs beyond what its capability tells: macvlan networks hang off
# the emulated LAN's interface, and a bad mode is what they refuse.
SETUP: dict[str, dict[str, object]] = {
    "macvlan": {"topology": "lan", "network_options": {"parent": "eth1"},
                "bad_option": ("macvlan_mode", "not-a-mode"), "default_mtu": "parent",
                "outbound": "lan"},
    "overlay": {"default_mtu": OVERLAY_DEFAULT_MTU},
}


def _builtin(driver: str) -> Target:
    capability = registry.capability(driver)
    swarm = capability.scope == base.SWARM  # h1 makes a swarm; containers need attachable
    target = Target(driver, "builtin", capabilities(driver, capability), swarm=swarm,
                    attachable=swarm)
    if capability.only_network:  # no network of its own to refuse an option for
        target = replace(target, bad_option=None)
    return replace(target, **SETUP.get(driver, {}))


def resolve(driver: str, plugin_socket: str | None = None,
            plugin_command: str | None = None) -> Target:
    """The target for `--cnm-driver NAME` (and how a plugin is reached or started)."""
    if not driver or "/" in driver or driver.startswith("."):
        raise TargetError(f"invalid driver name {driver!r}")
    builtins = builtin_drivers()
    if plugin_socket or plugin_command:
        if driver in builtins:
            raise TargetError(f"{driver} is a built-in driver: a plugin of that name would "
                              "never be asked (drop --cnm-plugin-socket/--cnm-plugin-command)")
        if plugin_command is not None and not plugin_command.strip():
            raise TargetError("--cnm-plugin-command is empty")
        return Target(driver, "plugin", Capabilities(), plugin_command=plugin_command,
                      plugin_socket=plugin_socket)
    if driver in builtins:
        return _builtin(driver)
    if driver == "mesh":
        return Target(driver, "mesh", Capabilities(scope="global", connectivity="global"),
                      unavailable=None if mesh_available() else MESH_MISSING,
                      default_mtu=OVERLAY_DEFAULT_MTU)
    raise TargetError(
        f"unknown driver {driver!r}: a built-in ({', '.join(builtins)}), mesh, or "
        "a plugin named with --cnm-plugin-socket PATH or --cnm-plugin-command 'CMD {socket}'")
