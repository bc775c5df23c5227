"""What a container's processes run as and see: the runtime fields of a create request.

dockerd turns these into runc's OCI spec; here they become the container's
sandbox (fabric/containerroot): `-w`, `-v`/Binds, Mounts (bind and tmpfs),
`--tmpfs`, `--user`, `--cap-add`/`--cap-drop`, `--privileged`, `--read-only`, and
the TTY/stdin settings of `run -i`/`-t`. Values the emulator cannot honour are
refused here, at create, naming the option.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from emulator import errdefs as err
from emulator.fabric.containerroot import MountSpec
from emulator.fabric.identity import CAPABILITIES, Identity
from emulator.fabric.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID

DEFAULT_CAPABILITIES = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})
"""moby's oci/caps.DefaultCapabilities."""
ALL = "ALL"
BIND_OPTIONS = {"ro", "rw", "z", "Z", "rprivate", "private", "rslave", "slave", "nocopy"}
TMPFS_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
TMPFS_UNFLAGS = {"suid": MS_NOSUID, "dev": MS_NODEV, "exec": MS_NOEXEC}
TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")
TMPFS_DEFAULT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC


def unsupported(what: str) -> err.NotImplementedByEmulator:
    return err.NotImplementedByEmulator(f"{what} is not supported by the emulator")


@dataclass(frozen=True)
class RuntimeSpec:
    """The runtime side of one container (see the module's docstring)."""

    user: str = ""
    workdir: str = ""
    mounts: tuple[MountSpec, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    read_only: bool = False
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    binds: tuple[str, ...] = ()
    """HostConfig.Binds as given (inspect shows them so)."""
    tmpfs: tuple[tuple[str, str], ...] = ()
    """HostConfig.Tmpfs as given: (target, options)."""
    console_size: tuple[int, int] | None = None
    """(rows, columns) of the TTY at start."""

    def capabilities(self) -> frozenset[str] | None:
        """Its processes' capabilities (names without CAP_); None for all."""
        return capabilities(self.cap_add, self.cap_drop, self.privileged)

    def identity(self, user: str = "", workdir: str = "",
                 privileged: bool = False) -> Identity:
        """Who a process of the container runs as: an exec may name its own user and
        working directory, and `privileged` gives it every capability."""
        return Identity(user=user or self.user,
                        capabilities=None if privileged else self.capabilities(),
                        workdir=workdir or self.workdir or "/")


def capabilities(add: tuple[str, ...], drop: tuple[str, ...],
                 privileged: bool) -> frozenset[str] | None:
    """moby's TweakCapabilities over the default set (names normalized already)."""
    if privileged or ALL in add and not drop:
        return None
    if ALL in add:
        return frozenset(c for c in CAPABILITIES if c not in drop)
    if ALL in drop:
        return frozenset(add)
    return frozenset((DEFAULT_CAPABILITIES - set(drop)) | set(add))


def normalize_capabilities(names: list[str] | None) -> tuple[str, ...]:
    """moby's NormalizeLegacyCapabilities: upper case, CAP_ optional, ALL allowed; the
    names come back without CAP_."""
    out = []
    for raw in names or ():
        name = raw.upper()
        if name == ALL:
            out.append(ALL)
            continue
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name[4:] not in CAPABILITIES:
            raise err.InvalidParameter(f'unknown capability: "{name}"')
        out.append(name[4:])
    return tuple(out)


def _absolute(path: str, option: str) -> str:
    if not path.startswith("/"):
        raise err.InvalidParameter(f"invalid mount config: {option}: mount path must be "
                                   f"absolute: {path}")
    return posixpath.normpath(path)


def _bind(spec: str) -> MountSpec:
    """One HostConfig.Binds item, `HOST:CTR[:OPTIONS]`; a missing host directory is made,
    as dockerd does."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise err.InvalidParameter(f"invalid volume specification: '{spec}'")
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    if not source.startswith("/"):
        raise unsupported(f"-v {spec}: named volumes")
    if not target.startswith("/"):
        raise err.InvalidParameter(f"invalid volume specification: '{spec}': invalid mount "
                                   f"config for type \"bind\": invalid mount path: "
                                   f"'{target}' mount path must be absolute")
    for option in options:
        if option not in BIND_OPTIONS:
            raise err.InvalidParameter(f"invalid mode: {option}")
    if any(o in ("rslave", "slave") for o in options):
        raise unsupported(f"-v {spec}: slave propagation")
    return MountSpec(posixpath.normpath(target), "bind", posixpath.normpath(source),
                     read_only="ro" in options)


def _tmpfs(target: str, options: str, size: int = 0, mode: int | None = None) -> MountSpec:
    flags = TMPFS_DEFAULT_FLAGS
    data: list[str] = []
    read_only = False
    for option in (o for o in options.split(",") if o):
        key = option.partition("=")[0]
        if option in TMPFS_FLAGS:
            flags |= TMPFS_FLAGS[option]
        elif option in TMPFS_UNFLAGS:
            flags &= ~TMPFS_UNFLAGS[option]
        elif option in ("ro", "rw"):
            read_only = option == "ro"
        elif key in TMPFS_DATA:
            data.append(option)
        else:
            raise unsupported(f"--tmpfs {target}:{options}: option {option}")
    if size:
        data.append(f"size={size}")
    if mode is not None:
        data.append(f"mode={mode:o}")
    return MountSpec(target, "tmpfs", read_only=read_only, options=",".join(data), flags=flags)


def _mount(item: dict) -> MountSpec:
    """One HostConfig.Mounts item: bind and tmpfs."""
    kind = item.get("Type") or ""
    target = item.get("Target") or ""
    if kind not in ("bind", "tmpfs"):
        raise unsupported(f'--mount type={kind or "volume"}')
    if not target:
        raise err.InvalidParameter(f'invalid mount config for type "{kind}": field Target '
                                   "must not be empty")
    target = _absolute(target, "--mount")
    for key in ("VolumeOptions", "ClusterOptions", "ImageOptions"):
        if item.get(key):
            raise unsupported(f"--mount {key}")
    if kind == "tmpfs":
        if item.get("Source"):
            raise err.InvalidParameter('invalid mount config for type "tmpfs": field Source '
                                       "must not be specified")
        options = item.get("TmpfsOptions") or {}
        if options.get("Options"):
            raise unsupported("--mount type=tmpfs with tmpfs-options")
        spec = _tmpfs(target, "", int(options.get("SizeBytes") or 0), options.get("Mode"))
        return MountSpec(spec.target, "tmpfs", read_only=bool(item.get("ReadOnly")),
                         options=spec.options, flags=spec.flags)
    source = item.get("Source") or ""
    if not source:
        raise err.InvalidParameter('invalid mount config for type "bind": field Source must '
                                   "not be empty")
    bind_options = item.get("BindOptions") or {}
    if any(v for k, v in bind_options.items() if k != "Propagation") or \
            bind_options.get("Propagation") not in (None, "", "rprivate", "private"):
        raise unsupported("--mount bind options other than the default propagation")
    if not os.path.exists(source):
        raise err.InvalidParameter(f'invalid mount config for type "bind": bind source path '
                                   f"does not exist: {source}")
    return MountSpec(target, "bind", posixpath.normpath(source),
                     read_only=bool(item.get("ReadOnly")))


def runtime_spec(body: dict) -> RuntimeSpec:
    """The runtime fields of a container create request (Config plus HostConfig)."""
    host_config = body.get("HostConfig") or {}
    workdir = body.get("WorkingDir") or ""
    if workdir and not workdir.startswith("/"):
        raise err.InvalidParameter(f"the working directory '{workdir}' is invalid, it needs "
                                   "to be an absolute path")
    mounts: list[MountSpec] = [_bind(spec) for spec in host_config.get("Binds") or ()]
    mounts += [_mount(item) for item in host_config.get("Mounts") or ()]
    for target, options in (host_config.get("Tmpfs") or {}).items():
        mounts.append(_tmpfs(_absolute(target, "--tmpfs"), options or ""))
    seen: set[str] = set()
    for mount in mounts:
        if mount.target in seen:
            raise err.InvalidParameter(f"Duplicate mount point: {mount.target}")
        seen.add(mount.target)
    size = host_config.get("ConsoleSize") or [0, 0]
    return RuntimeSpec(
        user=body.get("User") or "",
        workdir=posixpath.normpath(workdir) if workdir else "",
        mounts=tuple(sorted(mounts, key=lambda m: m.target.count("/"))),
        cap_add=normalize_capabilities(host_config.get("CapAdd")),
        cap_drop=normalize_capabilities(host_config.get("CapDrop")),
        privileged=bool(host_config.get("Privileged")),
        read_only=bool(host_config.get("ReadonlyRootfs")),
        tty=bool(body.get("Tty")),
        open_stdin=bool(body.get("OpenStdin")),
        stdin_once=bool(body.get("StdinOnce")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        binds=tuple(host_config.get("Binds") or ()),
        tmpfs=tuple((k, v or "") for k, v in (host_config.get("Tmpfs") or {}).items()),
        console_size=(int(size[0]), int(size[1])) if size and any(size) else None,
    )
