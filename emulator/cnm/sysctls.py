"""`--sysctl` for a container: the network ones (net.*), in its own network namespace.

runc writes a container's sysctls before its process starts; Docker 28 (API <= 1.47)
moves an eth0 interface sysctl onto the main network's endpoint, with a warning, and
refuses one naming another interface (handleSysctlBC). Here they are written once
the container's networks are joined (its eth0 exists by then) and before its process
starts. The others (kernel.*, fs.mqueue.*) need namespaces the emulator does not give a
container and are refused; runc refuses net.* in the host's network namespace.
"""

from __future__ import annotations

from collections.abc import Mapping

from emulator import errdefs as err
from emulator.fabric.base import HostFabric, SandboxHandle

ENDPOINT_SYSCTLS = "com.docker.network.endpoint.sysctls"


def check(sysctls: Mapping[str, str], private: bool = True) -> list[str]:
    """The create's checks: the warnings Docker 28 gives (an eth0 sysctl migrated);
    in the host's network namespace (not `private`) runc refuses them at start."""
    others = [key for key in sysctls if not key.startswith("net.")]
    if others:
        raise err.NotImplementedByEmulator(
            f"--sysctl {others[0]} is not supported by the emulator: only net.* sysctls are, "
            "in the container's network namespace")
    migrated, settings = [], []
    for key, value in sysctls.items() if private else ():
        parts = key.split(".", 4)
        if len(parts) == 5 and parts[3].startswith("eth"):
            if parts[3] != "eth0":
                raise err.DockerError(
                    f"unable to determine network endpoint for sysctl {key}, use driver option "
                    f"'{ENDPOINT_SYSCTLS}' to set per-interface sysctls")
            migrated.append(key)
            settings.append(f"net.{parts[1]}.{parts[2]}.IFNAME.{parts[4]}={value}")
    if not migrated:
        return []
    return [f'Migrated sysctl "{",".join(migrated)}" to DriverOpts{{"{ENDPOINT_SYSCTLS}":'
            f'"{",".join(settings)}"}}.']


def apply(fabric: HostFabric, sandbox: SandboxHandle, sysctls: Mapping[str, str]) -> None:
    """Write them in the sandbox's network namespace; a failure fails the start, as
    runc's does."""
    for key, value in sysctls.items():
        if sandbox.shares_host:
            raise err.DockerError(
                "failed to create task for container: OCI runtime create failed: "
                f'sysctl "{key}" not allowed in host network namespace: unknown')
        done = fabric.exec(sandbox, ["sysctl", "-q", "-w", f"{key}={value}"], timeout=10)
        if done.exit_code != 0:
            path = "/proc/sys/" + key.replace(".", "/")
            raise err.DockerError(
                "failed to create task for container: OCI runtime create failed: "
                f"write {path}: {done.stderr.strip() or 'failed'}: unknown")
