"""The Go types dockerd decodes request bodies into, where the spec does not say them.

dockerd (v26.1, API v1.45, built with Go 1.21) decodes a body with Go's
encoding/json into a Go struct, and a wrong type is refused with a text that
names the struct and the field's Go type: `json: cannot unmarshal number into
Go struct field NetworkCreateRequest.Name of type string`. The spec gives the
fields and their JSON types; this table adds what only the Go code knows: the
Go name of each struct, the Go type of fields whose spec type says less (an
"integer" that is a uint16, a "string" that is a `container.NetworkMode`, a
command that is a `strslice.StrSlice` and also takes a plain string), and the
fields Go decodes that the spec leaves out.

Types are written as Go's `reflect.Type.String()` spells them.
"""

from __future__ import annotations

ROOTS: dict[tuple[str, str], str] = {
    ("POST", "/networks/create"): "types.NetworkCreateRequest",
    ("POST", "/networks/{id}/connect"): "types.NetworkConnect",
    ("POST", "/networks/{id}/disconnect"): "types.NetworkDisconnect",
    ("POST", "/containers/create"): "runconfig.ContainerConfigWrapper",
    ("POST", "/containers/{id}/exec"): "types.ExecConfig",
    ("POST", "/exec/{id}/start"): "types.ExecStartCheck",
    ("POST", "/swarm/init"): "swarm.InitRequest",
    ("POST", "/swarm/join"): "swarm.JoinRequest",
}
"""The Go struct each endpoint's body is decoded into."""

STRUCTS: dict[str, str] = {
    "ConfigReference": "network.ConfigReference",
    "IPAM": "network.IPAM",
    "IPAMConfig": "network.IPAMConfig",
    "EndpointSettings": "network.EndpointSettings",
    "EndpointIPAMConfig": "network.EndpointIPAMConfig",
    "NetworkingConfig": "network.NetworkingConfig",
    "ContainerConfig": "container.Config",
    "HostConfig": "container.HostConfig",
    "Resources": "container.Resources",
    "HealthConfig": "v1.HealthcheckConfig",
    "RestartPolicy": "container.RestartPolicy",
    "DeviceMapping": "container.DeviceMapping",
    "DeviceRequest": "container.DeviceRequest",
    "ThrottleDevice": "blkiodev.ThrottleDevice",
    "Mount": "mount.Mount",
    "PortBinding": "nat.PortBinding",
    "SwarmSpec": "swarm.Spec",
}
"""The Go struct of each spec definition used in a request body."""

FIELDS: dict[tuple[str, str], str] = {
    ("network.EndpointSettings", "GlobalIPv6PrefixLen"): "int",
    ("network.NetworkingConfig", "EndpointsConfig"): "map[string]*network.EndpointSettings",
    ("container.Config", "ExposedPorts"): "nat.PortSet",
    ("container.Config", "Cmd"): "strslice.StrSlice",
    ("container.Config", "Entrypoint"): "strslice.StrSlice",
    ("container.Config", "Shell"): "strslice.StrSlice",
    ("container.Config", "Volumes"): "map[string]struct {}",
    ("v1.HealthcheckConfig", "Interval"): "time.Duration",
    ("v1.HealthcheckConfig", "Timeout"): "time.Duration",
    ("v1.HealthcheckConfig", "StartPeriod"): "time.Duration",
    ("v1.HealthcheckConfig", "StartInterval"): "time.Duration",
    ("container.HostConfig", "LogConfig"): "container.LogConfig",
    ("container.HostConfig", "NetworkMode"): "container.NetworkMode",
    ("container.HostConfig", "PortBindings"): "nat.PortMap",
    ("container.HostConfig", "ConsoleSize"): "[2]uint",
    ("container.HostConfig", "CapAdd"): "strslice.StrSlice",
    ("container.HostConfig", "CapDrop"): "strslice.StrSlice",
    ("container.HostConfig", "CgroupnsMode"): "container.CgroupnsMode",
    ("container.HostConfig", "IpcMode"): "container.IpcMode",
    ("container.HostConfig", "Cgroup"): "container.CgroupSpec",
    ("container.HostConfig", "PidMode"): "container.PidMode",
    ("container.HostConfig", "UTSMode"): "container.UTSMode",
    ("container.HostConfig", "UsernsMode"): "container.UsernsMode",
    ("container.HostConfig", "Isolation"): "container.Isolation",
    ("container.LogConfig", "Config"): "map[string]string",
    ("container.RestartPolicy", "Name"): "container.RestartPolicyMode",
    ("container.Resources", "CpuShares"): "int64",
    ("container.Resources", "BlkioWeight"): "uint16",
    ("container.Resources", "BlkioWeightDevice"): "[]*blkiodev.WeightDevice",
    ("container.Resources", "BlkioDeviceReadBps"): "[]*blkiodev.ThrottleDevice",
    ("container.Resources", "BlkioDeviceWriteBps"): "[]*blkiodev.ThrottleDevice",
    ("container.Resources", "BlkioDeviceReadIOps"): "[]*blkiodev.ThrottleDevice",
    ("container.Resources", "BlkioDeviceWriteIOps"): "[]*blkiodev.ThrottleDevice",
    ("container.Resources", "Ulimits"): "[]*units.Ulimit",
    ("container.Resources", "IOMaximumIOps"): "uint64",
    ("container.Resources", "IOMaximumBandwidth"): "uint64",
    ("blkiodev.WeightDevice", "Weight"): "uint16",
    ("blkiodev.ThrottleDevice", "Rate"): "uint64",
    ("units.Ulimit", "Soft"): "int64",
    ("units.Ulimit", "Hard"): "int64",
    ("mount.Mount", "Type"): "mount.Type",
    ("mount.Mount", "Consistency"): "mount.Consistency",
    ("mount.Mount", "BindOptions"): "*mount.BindOptions",
    ("mount.Mount", "VolumeOptions"): "*mount.VolumeOptions",
    ("mount.Mount", "TmpfsOptions"): "*mount.TmpfsOptions",
    ("mount.BindOptions", "Propagation"): "mount.Propagation",
    ("mount.VolumeOptions", "DriverConfig"): "*mount.Driver",
    ("mount.TmpfsOptions", "Mode"): "fs.FileMode",
    ("types.ExecConfig", "ConsoleSize"): "*[2]uint",
    ("types.ExecStartCheck", "ConsoleSize"): "*[2]uint",
    ("swarm.Spec", "Orchestration"): "swarm.OrchestrationConfig",
    ("swarm.Spec", "Raft"): "swarm.RaftConfig",
    ("swarm.Spec", "Dispatcher"): "swarm.DispatcherConfig",
    ("swarm.Spec", "CAConfig"): "swarm.CAConfig",
    ("swarm.Spec", "EncryptionConfig"): "swarm.EncryptionConfig",
    ("swarm.Spec", "TaskDefaults"): "swarm.TaskDefaults",
    ("swarm.RaftConfig", "SnapshotInterval"): "uint64",
    ("swarm.RaftConfig", "KeepOldSnapshots"): "*uint64",
    ("swarm.RaftConfig", "LogEntriesForSlowFollowers"): "uint64",
    ("swarm.RaftConfig", "ElectionTick"): "int",
    ("swarm.RaftConfig", "HeartbeatTick"): "int",
    ("swarm.DispatcherConfig", "HeartbeatPeriod"): "time.Duration",
    ("swarm.CAConfig", "NodeCertExpiry"): "time.Duration",
    ("swarm.CAConfig", "ExternalCAs"): "[]*swarm.ExternalCA",
    ("swarm.CAConfig", "ForceRotate"): "uint64",
    ("swarm.ExternalCA", "Protocol"): "swarm.ExternalCAProtocol",
    ("swarm.TaskDefaults", "LogDriver"): "*swarm.Driver",
}
"""(Go struct, JSON field) -> the field's Go type, where the spec's type says less."""

EXTRA_FIELDS: dict[str, dict[str, str]] = {
    "types.ExecConfig": {"Detach": "bool"},
    "container.HostConfig": {"KernelMemory": "int64"},
    "swarm.InitRequest": {"AutoLockManagers": "bool", "Availability": "swarm.NodeAvailability"},
    "swarm.JoinRequest": {"Availability": "swarm.NodeAvailability"},
}
"""Fields Go decodes that the spec's schema leaves out (JSON field -> Go type)."""

TITLED: dict[str, str] = {
    "NetworkCreateRequest": "types.NetworkCreateRequest",
    "NetworkConnectRequest": "types.NetworkConnect",
    "NetworkDisconnectRequest": "types.NetworkDisconnect",
    "ExecConfig": "types.ExecConfig",
    "ExecStartConfig": "types.ExecStartCheck",
    "SwarmInitRequest": "swarm.InitRequest",
    "SwarmJoinRequest": "swarm.JoinRequest",
}
"""Request schemas the spec writes inline, by their `title`."""

INTEGERS: dict[str, tuple[int, int]] = {
    "int": (-(2 ** 63), 2 ** 63 - 1),
    "int64": (-(2 ** 63), 2 ** 63 - 1),
    "uint": (0, 2 ** 64 - 1),
    "uint16": (0, 2 ** 16 - 1),
    "uint32": (0, 2 ** 32 - 1),
    "uint64": (0, 2 ** 64 - 1),
}
"""The range of each Go integer kind (amd64)."""

NAMED: dict[str, str] = {
    "time.Duration": "int64",
    "fs.FileMode": "uint32",
    "nat.PortMap": "map[nat.Port][]nat.PortBinding",
    "nat.PortSet": "map[nat.Port]struct {}",
    "nat.Port": "string",
    "container.NetworkMode": "string",
    "container.CgroupnsMode": "string",
    "container.IpcMode": "string",
    "container.CgroupSpec": "string",
    "container.PidMode": "string",
    "container.UTSMode": "string",
    "container.UsernsMode": "string",
    "container.Isolation": "string",
    "container.RestartPolicyMode": "string",
    "mount.Type": "string",
    "mount.Consistency": "string",
    "mount.Propagation": "string",
    "swarm.NodeAvailability": "string",
    "swarm.ExternalCAProtocol": "string",
}
"""Named Go types that are not structs, by their underlying type."""

STRSLICE = "strslice.StrSlice"
"""A []string whose UnmarshalJSON also takes one string (Cmd, Entrypoint, ...)."""
