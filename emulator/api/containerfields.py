"""Every field of a container create, start, exec or network-connect request: honoured
or refused, never dropped.

The docker CLI and docker-py send most fields on every request, at their zero
value (`"Memory": 0`, `"LogConfig": {"Type": "", "Config": {}}`, `"MemorySwappiness":
-1`...). A field asks for something only when it is set to anything else, and the
emulator then either does it (`HONOURED`, naming the module that does; `RUNTIME` for
the container sandbox's fields, parsed by emulator/cnm/runtimespec.py) or answers
dockerd's NotImplemented, naming the option as a CLI user types it: `--memory is not
supported by the emulator`. What dockerd itself ignores in a request is `IGNORED`,
saying why: what it fills in (an endpoint's IPAddress), the client's business (the
CLI writes --cidfile itself), Windows-only fields.

`tests/unit/test_fields_schema_walk.py` walks the v1.45 schemas and fails on a field
missing from `FIELDS`; every honoured field names the test that shows it honoured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from emulator import errdefs as err

HONOURED, RUNTIME, REFUSED = "honoured", "honoured by runtime", "refused"
IGNORED = "ignored by dockerd too"
VERDICTS = (HONOURED, RUNTIME, REFUSED, IGNORED)

CONFIG, HOST_CONFIG, ENDPOINT = "Config", "HostConfig", "EndpointSettings"
EXEC, EXEC_START = "ExecConfig", "ExecStartConfig"
"""Where a field lives: a create body's top level (ContainerConfig), its HostConfig,
each of its (or a connect's) EndpointSettings, an exec create or exec start body."""

RUNTIME_MODULE = "emulator/cnm/runtimespec.py"


def is_zero(value: Any) -> bool:
    """Go's zero value, as the clients send it for an option not given; a struct whose
    every member is zero counts as zero (LogConfig {Type: "", Config: {}}). Maps, where
    a key alone asks for something, take `empty` instead."""
    if isinstance(value, dict):
        return all(is_zero(v) for v in value.values())
    if isinstance(value, list):
        return all(is_zero(v) for v in value) if value and isinstance(value[0], int) else (
            not value)
    return value in (None, "", 0, False)


def empty(value: Any) -> bool:
    """For maps, where a key with a zero value still asks (Volumes {"/data": {}})."""
    return not value


def absent(value: Any) -> bool:
    """For fields where an empty list means something (MaskedPaths: mask nothing)."""
    return value is None


def zero_or(*accepted: Any) -> Callable[[Any], bool]:
    """Zero, or one of the values that ask for what the emulator does anyway."""
    return lambda value: is_zero(value) or value in accepted


def restart_no(value: Any) -> bool:
    return is_zero(value) or (value.get("Name") in ("", "no")
                              and not value.get("MaximumRetryCount"))


def log_json_file(value: Any) -> bool:
    """The emulator keeps every container's output in one log file, as json-file does."""
    return is_zero(value) or (value.get("Type") in ("", "json-file")
                              and not value.get("Config"))


def no_healthcheck(value: Any) -> bool:
    """Its images have no HEALTHCHECK; --no-healthcheck (Test ["NONE"]) asks for that."""
    return is_zero(value) or (value.get("Test") == ["NONE"]
                              and is_zero({k: v for k, v in value.items() if k != "Test"}))


@dataclass(frozen=True)
class Field:
    """One request field: `section` and `name` as the v1.45 schema spells them.

    `where` names the module that honours it, or for a refused field the option as
    the docker CLI user knows it; `test` is the test showing it honoured
    (path::function); `asks_nothing(value)` is true for the values that ask for
    nothing beyond what the emulator does (the zero value unless said otherwise)."""

    section: str
    name: str
    verdict: str
    where: str
    test: str = ""
    asks_nothing: Callable[[Any], bool] = is_zero

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"


API_CREATE = "emulator/api/containers.py"
ETC_FILES = "emulator/cnm/etcfiles.py"
ENDPOINTS = "emulator/cnm/endpoints.py"
HONOURED_TESTS = "tests/unit/test_fields_honoured.py"
FILES_TESTS = "tests/integration/test_container_files.py"
NETWORK_TESTS = "tests/integration/test_fields_network.py"


def _mine(section: str, name: str, where: str, test: str) -> Field:
    return Field(section, name, HONOURED, where, test)


def _runtime(section: str, name: str, asks_nothing: Callable[[Any], bool] = is_zero) -> Field:
    return Field(section, name, RUNTIME, RUNTIME_MODULE, asks_nothing=asks_nothing)


def _refused(section: str, name: str, option: str,
             asks_nothing: Callable[[Any], bool] = is_zero) -> Field:
    return Field(section, name, REFUSED, option, asks_nothing=asks_nothing)


def _ignored(section: str, name: str, why: str) -> Field:
    return Field(section, name, IGNORED, why, asks_nothing=lambda value: True)


def _operational(section: str, name: str) -> Field:
    return _ignored(section, name, "dockerd fills it in as the endpoint joins")


FIELDS: tuple[Field, ...] = (
    # -- ContainerConfig (the create body's top level) ---------------------------------
    _mine(CONFIG, "Hostname", "emulator/cnm/containers.py",
          f"{HONOURED_TESTS}::test_hostname_and_domainname"),
    _mine(CONFIG, "Domainname", ETC_FILES, f"{HONOURED_TESTS}::test_hostname_and_domainname"),
    _runtime(CONFIG, "User"),
    _runtime(CONFIG, "AttachStdin"),
    _runtime(CONFIG, "AttachStdout"),
    _runtime(CONFIG, "AttachStderr"),
    _mine(CONFIG, "ExposedPorts", "emulator/drivers/portmapping.py",
          f"{HONOURED_TESTS}::test_exposed_and_published_ports"),
    _runtime(CONFIG, "Tty"),
    _runtime(CONFIG, "OpenStdin"),
    _runtime(CONFIG, "StdinOnce"),
    _runtime(CONFIG, "Env"),
    _runtime(CONFIG, "Cmd"),
    Field(CONFIG, "Healthcheck", REFUSED, "--health-cmd", asks_nothing=no_healthcheck),
    _ignored(CONFIG, "ArgsEscaped", "dockerd reads it on Windows only"),
    _runtime(CONFIG, "Image"),
    _refused(CONFIG, "Volumes", "--volume CONTAINER-PATH (an anonymous volume)",
             asks_nothing=empty),
    _runtime(CONFIG, "WorkingDir"),
    _runtime(CONFIG, "Entrypoint"),
    _refused(CONFIG, "NetworkDisabled", "NetworkDisabled (docker-py's network_disabled; "
                                        "use --network none)"),
    _mine(CONFIG, "MacAddress", ENDPOINTS, f"{NETWORK_TESTS}::"
                                           "test_mac_address_on_bridge_macvlan_and_overlay"),
    _refused(CONFIG, "OnBuild", "OnBuild (image build triggers)"),
    _mine(CONFIG, "Labels", "emulator/cnm/containers.py", f"{HONOURED_TESTS}::test_labels"),
    _refused(CONFIG, "StopSignal", "--stop-signal"),
    _refused(CONFIG, "StopTimeout", "--stop-timeout"),
    _refused(CONFIG, "Shell", "Shell (the Dockerfile SHELL)"),
    # -- HostConfig ---------------------------------------------------------------------
    _runtime(HOST_CONFIG, "Binds"),
    _ignored(HOST_CONFIG, "ContainerIDFile", "the CLI writes --cidfile itself"),
    Field(HOST_CONFIG, "LogConfig", REFUSED, "--log-driver/--log-opt",
          asks_nothing=log_json_file),
    _mine(HOST_CONFIG, "NetworkMode", API_CREATE, f"{HONOURED_TESTS}::test_network_mode"),
    _mine(HOST_CONFIG, "PortBindings", "emulator/drivers/portmapping.py",
          f"{HONOURED_TESTS}::test_exposed_and_published_ports"),
    Field(HOST_CONFIG, "RestartPolicy", REFUSED, "--restart", asks_nothing=restart_no),
    _mine(HOST_CONFIG, "AutoRemove", "emulator/cnm/lifecycle.py",
          "tests/unit/test_api_handlers.py::test_run_with_auto_remove_is_gone_after_its_wait"),
    _refused(HOST_CONFIG, "VolumeDriver", "--volume-driver"),
    _refused(HOST_CONFIG, "VolumesFrom", "--volumes-from"),
    _runtime(HOST_CONFIG, "Mounts"),
    _runtime(HOST_CONFIG, "ConsoleSize"),
    _refused(HOST_CONFIG, "Annotations", "--annotation", asks_nothing=empty),
    _runtime(HOST_CONFIG, "CapAdd"),
    _runtime(HOST_CONFIG, "CapDrop"),
    _refused(HOST_CONFIG, "CgroupnsMode", "--cgroupns", asks_nothing=zero_or("host")),
    _mine(HOST_CONFIG, "Dns", ETC_FILES,
          f"{FILES_TESTS}::test_dns_on_the_default_bridge_is_written_as_is"),
    _mine(HOST_CONFIG, "DnsOptions", ETC_FILES,
          f"{FILES_TESTS}::test_dns_options_on_a_user_network_reach_the_resolver_not_the_file"),
    _mine(HOST_CONFIG, "DnsSearch", ETC_FILES,
          f"{FILES_TESTS}::test_dns_options_on_a_user_network_reach_the_resolver_not_the_file"),
    _mine(HOST_CONFIG, "ExtraHosts", ETC_FILES,
          f"{FILES_TESTS}::test_add_host_hostname_and_domainname"),
    _refused(HOST_CONFIG, "GroupAdd", "--group-add"),
    _refused(HOST_CONFIG, "IpcMode", "--ipc", asks_nothing=zero_or("host")),
    _refused(HOST_CONFIG, "Cgroup", "--cgroup"),
    _mine(HOST_CONFIG, "Links", "emulator/cnm/links.py",
          f"{NETWORK_TESTS}::test_link_on_the_default_bridge"),
    _refused(HOST_CONFIG, "OomScoreAdj", "--oom-score-adj"),
    _refused(HOST_CONFIG, "PidMode", "--pid"),
    _runtime(HOST_CONFIG, "Privileged"),
    _mine(HOST_CONFIG, "PublishAllPorts", "emulator/drivers/portmapping.py",
          f"{HONOURED_TESTS}::test_exposed_and_published_ports"),
    _runtime(HOST_CONFIG, "ReadonlyRootfs"),
    _refused(HOST_CONFIG, "SecurityOpt", "--security-opt"),
    _refused(HOST_CONFIG, "StorageOpt", "--storage-opt", asks_nothing=empty),
    _runtime(HOST_CONFIG, "Tmpfs"),
    _refused(HOST_CONFIG, "UTSMode", "--uts"),
    _refused(HOST_CONFIG, "UsernsMode", "--userns", asks_nothing=zero_or("host")),
    _refused(HOST_CONFIG, "ShmSize", "--shm-size"),
    _mine(HOST_CONFIG, "Sysctls", "emulator/cnm/sysctls.py",
          f"{NETWORK_TESTS}::test_network_sysctls_in_the_containers_namespace"),
    _refused(HOST_CONFIG, "Runtime", "--runtime", asks_nothing=zero_or("runc")),
    _refused(HOST_CONFIG, "Isolation", "--isolation", asks_nothing=zero_or("default")),
    _refused(HOST_CONFIG, "MaskedPaths", "--security-opt systempaths=unconfined",
             asks_nothing=absent),
    _refused(HOST_CONFIG, "ReadonlyPaths", "--security-opt systempaths=unconfined",
             asks_nothing=absent),
    # -- HostConfig's Resources -----------------------------------------------------------
    _refused(HOST_CONFIG, "CpuShares", "--cpu-shares"),
    _refused(HOST_CONFIG, "Memory", "--memory"),
    _refused(HOST_CONFIG, "CgroupParent", "--cgroup-parent"),
    _refused(HOST_CONFIG, "BlkioWeight", "--blkio-weight"),
    _refused(HOST_CONFIG, "BlkioWeightDevice", "--blkio-weight-device"),
    _refused(HOST_CONFIG, "BlkioDeviceReadBps", "--device-read-bps"),
    _refused(HOST_CONFIG, "BlkioDeviceWriteBps", "--device-write-bps"),
    _refused(HOST_CONFIG, "BlkioDeviceReadIOps", "--device-read-iops"),
    _refused(HOST_CONFIG, "BlkioDeviceWriteIOps", "--device-write-iops"),
    _refused(HOST_CONFIG, "CpuPeriod", "--cpu-period"),
    _refused(HOST_CONFIG, "CpuQuota", "--cpu-quota"),
    _refused(HOST_CONFIG, "CpuRealtimePeriod", "--cpu-rt-period"),
    _refused(HOST_CONFIG, "CpuRealtimeRuntime", "--cpu-rt-runtime"),
    _refused(HOST_CONFIG, "CpusetCpus", "--cpuset-cpus"),
    _refused(HOST_CONFIG, "CpusetMems", "--cpuset-mems"),
    _refused(HOST_CONFIG, "Devices", "--device"),
    _refused(HOST_CONFIG, "DeviceCgroupRules", "--device-cgroup-rule"),
    _refused(HOST_CONFIG, "DeviceRequests", "--gpus"),
    _refused(HOST_CONFIG, "KernelMemoryTCP", "KernelMemoryTCP"),
    _refused(HOST_CONFIG, "MemoryReservation", "--memory-reservation"),
    _refused(HOST_CONFIG, "MemorySwap", "--memory-swap"),
    _refused(HOST_CONFIG, "MemorySwappiness", "--memory-swappiness",
             asks_nothing=zero_or(-1)),
    _refused(HOST_CONFIG, "NanoCpus", "--cpus"),
    _refused(HOST_CONFIG, "OomKillDisable", "--oom-kill-disable"),
    _refused(HOST_CONFIG, "Init", "--init"),
    # dockerd takes 0 and any negative value as "unlimited"
    _refused(HOST_CONFIG, "PidsLimit", "--pids-limit",
             asks_nothing=lambda value: is_zero(value) or value < 0),
    _refused(HOST_CONFIG, "Ulimits", "--ulimit"),
    _refused(HOST_CONFIG, "CpuCount", "--cpu-count"),
    _refused(HOST_CONFIG, "CpuPercent", "--cpu-percent"),
    _refused(HOST_CONFIG, "IOMaximumIOps", "--io-maxiops"),
    _refused(HOST_CONFIG, "IOMaximumBandwidth", "--io-maxbandwidth"),
    # -- EndpointSettings (NetworkingConfig.EndpointsConfig.*, a connect's EndpointConfig)
    _mine(ENDPOINT, "IPAMConfig.IPv4Address", ENDPOINTS,
          f"{HONOURED_TESTS}::test_endpoint_address_and_aliases"),
    _mine(ENDPOINT, "IPAMConfig.IPv6Address", ENDPOINTS,
          "tests/unit/test_engine_ipv6.py::test_ip6_on_run_and_connect"),
    _refused(ENDPOINT, "IPAMConfig.LinkLocalIPs", "--link-local-ip"),
    _mine(ENDPOINT, "Links", "emulator/cnm/dnsnames.py",
          f"{NETWORK_TESTS}::test_link_on_a_user_network_is_an_alias"),
    _mine(ENDPOINT, "MacAddress", ENDPOINTS, f"{NETWORK_TESTS}::"
                                             "test_mac_address_on_bridge_macvlan_and_overlay"),
    _mine(ENDPOINT, "Aliases", ENDPOINTS, f"{HONOURED_TESTS}::test_endpoint_address_and_aliases"),
    _mine(ENDPOINT, "NetworkID", API_CREATE, f"{HONOURED_TESTS}::test_endpoint_network_id"),
    _operational(ENDPOINT, "EndpointID"),
    _operational(ENDPOINT, "Gateway"),
    _operational(ENDPOINT, "IPAddress"),
    _operational(ENDPOINT, "IPPrefixLen"),
    _operational(ENDPOINT, "IPv6Gateway"),
    _operational(ENDPOINT, "GlobalIPv6Address"),
    _operational(ENDPOINT, "GlobalIPv6PrefixLen"),
    _refused(ENDPOINT, "DriverOpts", "--driver-opt", asks_nothing=empty),
    _ignored(ENDPOINT, "DNSNames", "dockerd computes it (buildEndpointDNSNames)"),
    # -- exec create and exec start -----------------------------------------------------
    *(_runtime(EXEC, name) for name in (
        "AttachStdin", "AttachStdout", "AttachStderr", "ConsoleSize", "DetachKeys", "Tty",
        "Env", "Cmd", "Privileged", "User", "WorkingDir")),
    _mine(EXEC_START, "Detach", "emulator/api/execs.py", f"{NETWORK_TESTS}::"
                                                          "test_exec_start_detach_and_tty"),
    _mine(EXEC_START, "Tty", "emulator/api/execs.py", f"{NETWORK_TESTS}::"
                                                      "test_exec_start_detach_and_tty"),
    _runtime(EXEC_START, "ConsoleSize"),
)

BY_PATH = {f.path: f for f in FIELDS}


def _value(config: dict[str, Any], name: str) -> Any:
    """`config`'s value at a dotted name (IPAMConfig.IPv6Address), None if unset."""
    value: Any = config
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _sections(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The parts of a create body, each with the section its fields belong to."""
    yield CONFIG, body
    yield HOST_CONFIG, body.get("HostConfig") or {}
    for endpoint in ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).values():
        yield ENDPOINT, endpoint or {}


def asked(section: str, config: dict[str, Any]) -> list[Field]:
    """The refused fields `config` (one section of a request) sets to something."""
    return [f for f in FIELDS if f.section == section and f.verdict == REFUSED
            and not f.asks_nothing(_value(config, f.name))]


def _refuse(fields: list[Field]) -> None:
    options = list(dict.fromkeys(f.where for f in fields))
    if options:
        verb = "is" if len(options) == 1 else "are"
        raise err.NotImplementedByEmulator(
            f"{', '.join(options)} {verb} not supported by the emulator")


def refuse_create(body: dict[str, Any]) -> None:
    """A create request setting any refused field is refused, naming every option."""
    _refuse([f for section, config in _sections(body) for f in asked(section, config)])


def refuse_endpoint(config: dict[str, Any]) -> None:
    """A connect's EndpointConfig, as a create's endpoints."""
    _refuse(asked(ENDPOINT, config))

