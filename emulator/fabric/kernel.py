"""The fabric on the real kernel: one `KernelFabric` per emulated Docker host.

It holds the host's namespace and one netlink socket opened inside it. A
container's sandbox is a fresh network and UTS namespace created by the calling
thread, whose first process is the container's own long-lived process, started in
mount and PID namespaces of its own on its own root (fabric/containerroot); veths
are born with their peer already inside the sandbox.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv6Address,
    IPv6Interface,
    ip_address,
    ip_network,
)
from pathlib import Path
from typing import TypeVar

from emulator.fabric import dnssockets, taskingress
from emulator.fabric.base import (
    CONTAINER_PATH,
    Adoption,
    ExecResult,
    IngressRules,
    MacvlanPlug,
    Plug,
    SandboxHandle,
    TaskIngress,
    VirtualServer,
)
from emulator.fabric.containerexec import ExecTarget, popen_in, spawn_on_pty
from emulator.fabric.containerroot import RootSpec, start_pid1
from emulator.fabric.icmpsweep import sweep
from emulator.fabric.identity import Identity, SandboxSetupError
from emulator.fabric.linkwait import (
    LinkWaitTimeout,
    wait_links_gone,
    wait_links_up,
    wait_no_tentative,
    wait_ports_forwarding,
)
from emulator.fabric.loadbalancer import SandboxBalancers
from emulator.fabric.mountns import mounts_of, private_mounts
from emulator.fabric.namespace_links import NamespaceLinks
from emulator.fabric.netns import Namespace, new_namespace, sethostname
from emulator.fabric.nftsession import NftSession
from emulator.fabric.processes import (
    NotOurChild,
    ProcessId,
    exit_status,
    kill,
    spawn,
    terminate,
)
from emulator.fabric.rootfs import busybox_root
from emulator.fabric.rtnl import BR_STATE_FORWARDING
from emulator.fabric.sandboxkeys import SandboxKeys
from emulator.fabric.sysctls import (
    CONTAINER_SYSCTLS,
    apply_lab_defaults,
    enable_ipv6,
    write_interface_sysctl,
    write_sysctl,
)
from emulator.fabric.terminals import spawn_on_pty_here
from emulator.ids import random_mac

T = TypeVar("T")


def _bridge_netfilter_available() -> bool:
    """Whether the kernel has bridge netfilter (False if absent), its knobs
    (bridge-nf-call-iptables, -ip6tables) set off as on a host where nothing has loaded
    br_netfilter yet: a namespace made after the module loaded starts with them on, and
    dockerd turns them on only for a network with ICC off (the bridge driver does)."""
    knobs = [Path(f"/proc/sys/net/bridge/bridge-nf-call-{name}")
             for name in ("iptables", "ip6tables")]
    if not all(knob.exists() for knob in knobs):
        return False
    for knob in knobs:
        knob.write_text("0")
    return True


def _await_up(inside: NamespaceLinks, ifname: str) -> None:
    """Return once the interface carries frames (usually at once: one request)."""
    link = inside.link(ifname)
    if link is None or not link.up or link.operstate not in ("UP", "UNKNOWN"):
        wait_links_up([ifname])


def _await_forwarding(there: NamespaceLinks, port: str) -> None:
    """Return once a bridge port forwards: the kernel moves it there a moment after
    its carrier comes up, and frames sent before that are dropped."""
    link = there.link(port)
    if link is None or link.port_state != BR_STATE_FORWARDING:
        wait_ports_forwarding([port])


def _sysctl_path(name: str) -> str:
    """sysctl(8)'s names: dots separate, unless slashes do (an interface name with a dot)."""
    return os.path.join("/proc/sys", *name.split("/" if "/" in name else "."))


class KernelFabric:
    def __init__(self, host: str, host_pid: int, lab_env: dict[str, str],
                 log_dir: Path | None = None, sandbox_keys_dir: Path | None = None) -> None:
        self.host = host
        self._sandbox_keys = SandboxKeys(sandbox_keys_dir)
        self._log_dir = log_dir
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ns = Namespace.of_pid(host_pid)
        self._env = lab_env
        self._vanishing: set[str] = set()
        self._abandoned = False
        self._ipv6_forwarding = False
        self._dad_done: set[str] = set()
        """Bridges whose own IPv6 addresses (their link-local) are past DAD."""
        self.output_fifos: dict[str, tuple[Path, Path]] = {}
        with self._ns.entered():
            self._netlink = NamespaceLinks()
            apply_lab_defaults()
            write_sysctl("net.ipv4.ip_forward", "1")
            self.bridge_netfilter = _bridge_netfilter_available()
        self._nft = NftSession(self._ns)
        self._balancers = SandboxBalancers()

    def close(self) -> None:
        self._sandbox_keys.release_all()
        self._balancers.close()
        self._nft.close()
        self._netlink.close()
        self._ns.close()

    def abandon(self) -> None:
        """Deleting a link costs the kernel tens of milliseconds (an RCU grace period),
        a thousand bridges most of a minute; a dying namespace frees all of its links
        in one batch instead."""
        self._abandoned = True

    def create_bridge(self, name: str, address, mtu: int,
                      address6: IPv6Interface | None = None) -> None:
        # dockerd gives its bridges a random MAC of their own (libnetwork's setupDevice), so
        # the gateway's MAC does not change as containers come and go
        self._netlink.add_bridge(name, mtu, random_mac())
        try:
            if address is not None:
                self._netlink.add_address(name, address)
            if address6 is not None:
                with self._ns.entered():
                    self._route_ipv6()
                    write_interface_sysctl("ipv6", name, "accept_ra", "0")
                    enable_ipv6(name)
                self._netlink.add_address(name, address6, nodad=True)
                self._dad_done.discard(name)
        except BaseException:
            self._netlink.delete_link(name)
            raise

    def _route_ipv6(self) -> None:
        """The host routes IPv6 (Docker's setupIPv6Forwarding: all and default
        forwarding on), with IPv6 on its loopback; once, in the host's namespace."""
        if self._ipv6_forwarding:
            return
        enable_ipv6("lo")
        write_sysctl("net.ipv6.conf.default.forwarding", "1")
        write_sysctl("net.ipv6.conf.all.forwarding", "1")
        self._ipv6_forwarding = True

    def delete_link(self, name: str) -> None:
        self._dad_done.discard(name)
        if not self._abandoned:
            self._netlink.delete_link(name)

    def link_info(self, name: str) -> dict[str, object] | None:
        return self._netlink.link_info(name)

    def log_path(self, key: str) -> Path | None:
        return self._log_dir / f"{key}.log" if self._log_dir else None

    def create_sandbox(self, key: str, hostname: str, shares_host: bool) -> SandboxHandle:
        """A fresh network and UTS namespace, held open until the process starts in it."""
        if shares_host:
            return SandboxHandle(key, None, shares_host=True)
        with new_namespace(with_uts=True) as created:
            try:
                sethostname(hostname)
                apply_lab_defaults(CONTAINER_SYSCTLS)
                with NamespaceLinks() as inside:
                    inside.set_up("lo")
            except BaseException:
                created.close()
                raise
        return SandboxHandle(key, None, held=created)

    def start_process(self, sandbox: SandboxHandle, command: list[str], hostname: str,
                      env: dict[str, str] | None = None,
                      files: Mapping[str, Path] | None = None,
                      root: RootSpec | None = None, open_stdin: bool = False) -> None:
        """Start the container's own process in its sandbox, once its networks are in;
        `files` (path in the container -> file) bind-mounted in its own mount namespace;
        with `root`, in a sandbox of its own (fabric/containerroot), its stdin a pipe
        whose write end is left in `sandbox.stdin` with `open_stdin`, its terminal's
        master in `sandbox.console` with `root.tty`."""
        full_env = {"PATH": CONTAINER_PATH, "HOSTNAME": hostname, **(env or {}), **self._env}
        out, errors = self.output_fifos.pop(sandbox.key, (self.log_path(sandbox.key), None))
        binds = {target: str(source) for target, source in (files or {}).items()}
        if root is not None:
            self._start_rooted(sandbox, command, full_env, out, errors,
                               replace(root, files=tuple(binds.items())), open_stdin)
            return
        with self._entered(sandbox, with_uts=True):
            if binds and not sandbox.shares_host:
                with private_mounts(binds):
                    sandbox.process = spawn(command, full_env, out, errors)
                sandbox.private_mounts = True
            else:
                sandbox.process = spawn(command, full_env, out, errors)
        if sandbox.held is not None:
            sandbox.held.close()
            sandbox.held = None

    def _start_rooted(self, sandbox: SandboxHandle, command: list[str], env: dict[str, str],
                      out: Path | None, errors: Path | None, root: RootSpec,
                      open_stdin: bool) -> None:
        if root.base == "busybox":
            busybox_root()  # made once, outside the setup thread
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        out_fd = os.open(out, flags, 0o600) if out and not root.tty else devnull
        err_fd = os.open(errors, flags, 0o600) if errors and not root.tty else out_fd
        stdin_fd, stdin_writer = devnull, None
        if open_stdin and not root.tty:
            stdin_fd, stdin_writer = os.pipe()
        if sandbox.shares_host:
            net, uts = self._ns.net_fd, None
        else:
            assert sandbox.held is not None
            net, uts = sandbox.held.net_fd, sandbox.held.uts_fd
        try:
            pid, master = start_pid1(net, uts, root, command, env, (stdin_fd, out_fd, err_fd))
        except BaseException:
            if stdin_writer is not None:
                os.close(stdin_writer)
            raise
        finally:
            for fd in {devnull, out_fd, err_fd, stdin_fd}:
                os.close(fd)
        sandbox.console, sandbox.stdin = master, stdin_writer
        sandbox.process = ProcessId.of(pid)
        sandbox.rooted = True
        if sandbox.held is not None:
            sandbox.held.close()
            sandbox.held = None

    def sandbox_exit_code(self, sandbox: SandboxHandle) -> int | None:
        """None while the container's process runs; its exit code once it has ended."""
        if sandbox.process is None:
            return None
        try:
            return exit_status(sandbox.process.pid)
        except NotOurChild:
            return None if sandbox.process.alive() else 0

    def sandbox_ended(self, sandbox: SandboxHandle) -> bool:
        return sandbox.process is not None and not sandbox.process.alive()

    def destroy_sandbox(self, sandbox: SandboxHandle, graceful: bool = True) -> None:
        """End the container's process; with it goes its namespace and every veth into it."""
        sandbox.destroyed = True
        self._sandbox_keys.release(sandbox.key)
        self._balancers.forget(sandbox.key)  # its nft session holds the namespace
        if sandbox.process is not None:
            if graceful:
                terminate(sandbox.process)
            else:
                kill(sandbox.process)
        for fd in (sandbox.console, sandbox.stdin):  # not taken by the engine
            if fd is not None:
                os.close(fd)
        sandbox.console = sandbox.stdin = None
        if sandbox.held is not None:
            sandbox.held.close()
            sandbox.held = None

    def forget_link(self, name: str) -> None:
        """A link the kernel removes by itself (its peer's namespace died): await it in settle."""
        self._vanishing.add(name)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until links given to forget_link are gone; delete any that linger."""
        if not self._vanishing:
            return
        names, self._vanishing = self._vanishing, set()
        if self._abandoned:
            return
        with self._ns.entered():
            try:
                wait_links_gone(names, timeout)
            except LinkWaitTimeout:
                for name in names:
                    self._netlink.delete_link(name)

    def sandbox_alive(self, sandbox: SandboxHandle) -> bool:
        if sandbox.destroyed:
            return False
        return sandbox.held is not None or (
            sandbox.process is not None and sandbox.process.alive())

    @contextmanager
    def _entered(self, sandbox: SandboxHandle | None, with_uts: bool = False) -> Iterator[None]:
        """Step into the sandbox's namespaces (the host's for host mode, or no sandbox)."""
        if sandbox is None or sandbox.shares_host:
            with self._ns.entered():
                yield
            return
        if sandbox.held is not None:
            with sandbox.held.entered():
                yield
            return
        ns = Namespace.of_pid(sandbox.process.pid, with_uts=with_uts)  # type: ignore[union-attr]
        try:
            with ns.entered():
                yield
        finally:
            ns.close()

    def _started_in(self, sandbox: SandboxHandle | None, start: Callable[[], T]) -> T:
        """Run `start` (which starts a process) inside the sandbox's namespaces: network
        and UTS, and its mount namespace when it has one of its own."""
        with self._entered(sandbox, with_uts=True):
            if sandbox is None or not sandbox.private_mounts or sandbox.process is None:
                return start()
            with mounts_of(sandbox.process.pid):
                return start()

    def plug(self, sandbox: SandboxHandle, plug: Plug) -> None:
        with self._ns.entered():
            self._plug_veth(self._netlink, sandbox, plug)

    def _plug_veth(self, there: NamespaceLinks, sandbox: SandboxHandle, plug: Plug) -> None:
        """A veth from the bridge `there` holds (the calling thread is in that
        namespace) into the sandbox, configured, carrying frames and forwarding."""
        master = there.require_index(plug.bridge)
        target = self._net_fd(sandbox)
        try:
            there.add_veth_into(plug.host_ifname, master, target, plug.ifname, plug.mac,
                                plug.mtu)
        finally:
            os.close(target)
        self._configure(sandbox, plug.ifname, plug.address, plug.gateway,
                        address6=plug.address6, gateway6=plug.gateway6)
        _await_forwarding(there, plug.host_ifname)
        if plug.address6 is not None and plug.bridge not in self._dad_done:
            # the bridge's link-local address starts DAD with its first port; until it
            # ends, the host cannot solicit a neighbour for a packet it routes
            wait_no_tentative([plug.bridge])
            self._dad_done.add(plug.bridge)

    def _net_fd(self, sandbox: SandboxHandle) -> int:
        """A descriptor of the sandbox's network namespace (close it after use)."""
        with self._entered(sandbox):
            return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def _configure(self, sandbox: SandboxHandle, ifname: str, address: IPv4Interface | None,
                   gateway: IPv4Address | None, mac: str | None = None,
                   address6: IPv6Interface | None = None,
                   gateway6: IPv6Address | None = None) -> None:
        """Give a sandbox's new interface its MAC and addresses, bring it up, route
        through the gateways, and return once it carries frames.

        Without an IPv6 address the interface keeps IPv6 disabled (no link-local), as
        Docker >= 26.0.2 leaves it on an IPv4-only network; with one, IPv6 is on (the
        kernel adds its link-local) and the address is added without DAD (IFA_F_NODAD),
        as Docker adds it."""
        with self._entered(sandbox), NamespaceLinks() as inside:
            if mac:
                inside.set_mac(ifname, mac)
            if address is not None:
                inside.add_address(ifname, address)
            if address6 is not None:
                enable_ipv6(ifname)
                # one unsolicited neighbour advertisement once the address is up, as
                # arp_notify does for IPv4 (Docker 28 sends three)
                write_interface_sysctl("ipv6", ifname, "ndisc_notify", "1")
                inside.add_address(ifname, address6, nodad=True)
            inside.set_up(ifname)
            if gateway is not None:
                inside.set_default_route(gateway)
            if gateway6 is not None:
                inside.set_default_route(gateway6)
            _await_up(inside, ifname)

    # -- overlay namespaces --------------------------------------------------

    def create_overlay_sandbox(self, key: str, bridge: str, address: IPv4Interface,
                               mtu: int) -> SandboxHandle:
        """A namespace holding an overlay network's bridge (with the gateway address)."""
        sandbox = self.create_sandbox(key, key[:63], shares_host=False)
        try:
            with self._entered(sandbox), NamespaceLinks() as inside:
                inside.add_bridge(bridge, mtu)
                inside.add_address(bridge, address)
        except BaseException:
            self.destroy_sandbox(sandbox)
            raise
        return sandbox

    def add_vxlan(self, sandbox: SandboxHandle, name: str, vni: int, port: int, mtu: int,
                  bridge: str, ipv6: bool = False) -> None:
        """A VXLAN device with its UDP socket on the host's underlay, living in the
        overlay namespace as a port of its bridge; `ipv6`: its VTEPs are IPv6 addresses
        (an IPv6 underlay), so its socket and outer headers are IPv6."""
        target = self._net_fd(sandbox)
        try:
            self._netlink.add_vxlan_into(name, vni, port, mtu, target, ipv6)
        finally:
            os.close(target)
        with self._entered(sandbox), NamespaceLinks() as inside:
            inside.set_master(name, bridge)

    def program_peer(self, sandbox: SandboxHandle, vxlan: str, address: IPv4Address,
                     mac: str, vtep: IPv4Address | IPv6Address, add: bool) -> None:
        """Program (or remove) a remote endpoint on a VXLAN: MAC -> VTEP (of the VXLAN's
        family), IP -> MAC."""
        if not self.sandbox_alive(sandbox):
            return
        with self._entered(sandbox), NamespaceLinks() as inside:
            inside.fdb(vxlan, mac, vtep, add)
            if add:
                inside.pin_neighbour(inside.require_index(vxlan), address, mac)
            else:
                inside.forget_neighbour(vxlan, address)

    def plug_from(self, outer: SandboxHandle, sandbox: SandboxHandle, plug: Plug) -> None:
        """Like plug, with the bridge inside another sandbox (an overlay namespace)."""
        with self._entered(outer), NamespaceLinks() as there:
            self._plug_veth(there, sandbox, plug)

    def plug_macvlan(self, sandbox: SandboxHandle, plug: MacvlanPlug) -> None:
        target = self._net_fd(sandbox)
        try:
            self._netlink.add_macvlan_into(plug.parent, plug.mode, target, plug.ifname,
                                           plug.mac, plug.mtu)
        finally:
            os.close(target)
        # passthru takes the parent's MAC at creation; setting it sets the parent's
        mac = plug.mac if plug.mode == "passthru" else None
        try:
            self._configure(sandbox, plug.ifname, plug.address, plug.gateway, mac,
                            plug.address6, plug.gateway6)
        except BaseException:
            self.unplug(sandbox, plug.ifname)
            raise

    def adopt_link(self, sandbox: SandboxHandle, adoption: Adoption) -> str:
        """Move a plugin's interface into the sandbox as `ifname` and configure it there
        (address, MAC, routes). Returns its MAC. The interface is deleted on failure."""
        if self._netlink.link(adoption.src_name) is None:
            raise LookupError(f"interface {adoption.src_name} does not exist on the host")
        target = self._net_fd(sandbox)
        try:
            self._netlink.move_link(adoption.src_name, target)
        finally:
            os.close(target)
        try:
            with self._entered(sandbox), NamespaceLinks() as inside:
                inside.rename(adoption.src_name, adoption.ifname)
                if adoption.mac:
                    inside.set_mac(adoption.ifname, adoption.mac)
                if adoption.address is not None:
                    inside.add_address(adoption.ifname, adoption.address)
                if adoption.address6 is not None:
                    enable_ipv6(adoption.ifname)
                    inside.add_address(adoption.ifname, adoption.address6, nodad=True)
                inside.set_up(adoption.ifname)
                for destination, hop in adoption.routes:
                    inside.add_route(ip_network(destination, strict=False),
                                     ip_address(hop) if hop else None,
                                     None if hop else adoption.ifname)
                if adoption.gateway is not None:
                    inside.set_default_route(adoption.gateway)
                if adoption.gateway6 is not None:
                    inside.set_default_route(adoption.gateway6)
                _await_up(inside, adoption.ifname)
                link = inside.link(adoption.ifname)
            return (link.mac if link else None) or ""
        except BaseException:
            with self._entered(sandbox), NamespaceLinks() as inside:
                for name in (adoption.ifname, adoption.src_name):
                    inside.delete_link(name)
            raise

    def sandbox_key(self, sandbox: SandboxHandle) -> str:
        """A path that opens the sandbox's network namespace while it exists, as a plugin's
        Join receives it (sandboxkeys.py)."""
        if sandbox.held is not None:
            source = f"/proc/{os.getpid()}/fd/{sandbox.held.net_fd}"
        else:
            source = f"/proc/{sandbox.process.pid}/ns/net"  # type: ignore[union-attr]
        return self._sandbox_keys.pin(sandbox.key, source)

    def release_link(self, sandbox: SandboxHandle, ifname: str, host_name: str) -> bool:
        """libnetwork's RemoveInterface: the sandbox's `ifname`, down, renamed `host_name`
        and moved back to the host's namespace. False when the sandbox or it is gone."""
        fd = self._sandbox_keys.opened(sandbox.key)
        if fd is None:
            if not self.sandbox_alive(sandbox):
                return False
            fd = self._net_fd(sandbox)
        try:
            with Namespace(fd).entered(), NamespaceLinks() as inside:
                if inside.link(ifname) is None:
                    return False
                inside.set_down(ifname)
                inside.rename(ifname, host_name)
                inside.move_link(host_name, self._ns.net_fd)
        finally:
            os.close(fd)
        return True

    def delete_host_link(self, name: str) -> None:
        """Delete a link in the host's namespace if it is there (a plugin's leftover)."""
        if not self._abandoned:
            self._netlink.delete_link(name)

    def unplug(self, sandbox: SandboxHandle, ifname: str) -> None:
        """Delete an interface of a sandbox (one that has no end on the host to delete)."""
        if not self.sandbox_alive(sandbox):
            return
        with self._entered(sandbox), NamespaceLinks() as inside:
            inside.delete_link(ifname)

    def set_default_route(self, sandbox: SandboxHandle,
                          gateway: IPv4Address | IPv6Address) -> None:
        with self._entered(sandbox), NamespaceLinks() as inside:
            inside.set_default_route(gateway)

    def popen(self, sandbox: SandboxHandle | None, argv: list[str], tty: bool = False,
              env: dict[str, str] | None = None, identity: Identity | None = None,
              size: tuple[int, int] | None = None) -> tuple[subprocess.Popen, int | None]:
        """Start argv in the sandbox (or the host) with pipes, or on a pty when `tty`
        (its controlling terminal, `size` rows and columns).

        Returns the process and, with a pty, the master side to read and write.
        """
        full_env = {"PATH": CONTAINER_PATH, **(env or {}), **self._env}
        if sandbox is not None and sandbox.rooted and sandbox.process is not None:
            return self._popen_rooted(sandbox, argv, tty, full_env, identity or Identity(),
                                      size)
        def start() -> tuple[subprocess.Popen, int | None]:
            if tty:
                return spawn_on_pty_here(argv, {**full_env, "TERM": "xterm"},
                                         size)  # type: ignore[return-value]
            return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=full_env,
                                    start_new_session=True), None

        return self._started_in(sandbox, start)

    def _popen_rooted(self, sandbox: SandboxHandle, argv: list[str], tty: bool,
                      env: dict[str, str], identity: Identity,
                      size: tuple[int, int] | None) -> tuple[subprocess.Popen, int | None]:
        assert sandbox.process is not None
        target = ExecTarget.of(sandbox.process.pid)
        try:
            if tty:
                return spawn_on_pty(target, None, identity, argv, {**env, "TERM": "xterm"},
                                    size)  # type: ignore[return-value]
            return popen_in(target, None, identity, argv, env), None
        finally:
            target.close()

    def sandbox_links(self, sandbox: SandboxHandle) -> list[str]:
        with self._entered(sandbox), NamespaceLinks() as inside:
            return inside.link_names()

    def sweep(self, targets: list[str], timeout: float = 1.0) -> dict[str, float | None]:
        """Ping every target from the host's namespace at once (see icmpsweep)."""
        with self._ns.entered():
            return sweep(targets, timeout)

    def flush_neighbours(self, sandboxes: list[SandboxHandle]) -> None:
        """Empty the ARP caches of the host and of these sandboxes.

        The kernel's neighbour table is one for the whole machine (gc_thresh3,
        1,024 entries by default), shared by every namespace; a sweep over many
        containers frees its entries this way before the next one.
        """
        self._netlink.flush_neighbours()
        for sandbox in sandboxes:
            if sandbox.shares_host or not self.sandbox_alive(sandbox):
                continue
            with self._entered(sandbox), NamespaceLinks() as inside:
                inside.flush_neighbours()

    def pin_neighbours(self, sandbox: SandboxHandle,
                       entries: list[tuple[str, IPv4Address, str]]) -> None:
        """Permanent ARP entries (interface, address, MAC) in a sandbox.

        The kernel's neighbour table holds 1,024 dynamic entries for the whole
        machine; permanent ones do not count. Benchmarks that make every container
        talk to dozens of peers pin them instead of raising a machine-wide limit.
        """
        with self._entered(sandbox), NamespaceLinks() as inside:
            indexes: dict[str, int] = {}
            for ifname, address, mac in entries:
                if ifname not in indexes:
                    indexes[ifname] = inside.require_index(ifname)
                inside.pin_neighbour(indexes[ifname], address, mac)

    def set_hairpin(self, ifname: str, on: bool) -> None:
        self._netlink.set_hairpin(ifname, on)

    def read_sysctl(self, name: str) -> str:
        with self._ns.entered(), open(_sysctl_path(name)) as knob:
            return knob.read().strip()

    def write_sysctl(self, name: str, value: str) -> None:
        if not self._abandoned:
            with self._ns.entered(), open(_sysctl_path(name), "w") as knob:
                knob.write(value)

    def set_firewall(self, ruleset: str) -> None:
        if not self._abandoned:
            self._nft.replace_tables(ruleset)

    def update_firewall(self, transaction: str) -> None:
        if not self._abandoned:
            self._nft.run(transaction)

    def exec(self, sandbox: SandboxHandle | None, argv: list[str],
             timeout: float = 30.0, env: Mapping[str, str] | None = None,
             identity: Identity | None = None) -> ExecResult:
        env = {"PATH": CONTAINER_PATH, **(env or {}), **self._env}
        if sandbox is not None and sandbox.rooted and sandbox.process is not None:
            try:
                proc, _ = self._popen_rooted(sandbox, argv, False, env,
                                             identity or Identity(), None)
            except FileNotFoundError:
                return ExecResult(127, "", f'exec: "{argv[0]}": executable file not found in '
                                           "$PATH")
            except SandboxSetupError as exc:
                return ExecResult(126, "", str(exc))
            try:
                out, errs = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
            return ExecResult(proc.returncode, out.decode(errors="replace"),
                              errs.decode(errors="replace"))
        try:
            done = self._started_in(sandbox, lambda: subprocess.run(
                argv, capture_output=True, text=True, env=env, timeout=timeout,
                stdin=subprocess.DEVNULL))
        except FileNotFoundError:
            return ExecResult(127, "", f"exec: \"{argv[0]}\": executable file not found in $PATH")
        return ExecResult(done.returncode, done.stdout, done.stderr)

    # -- the embedded DNS ------------------------------------------------------

    @contextmanager
    def _namespace(self, sandbox: SandboxHandle | None) -> Iterator[Namespace]:
        """A handle on the sandbox's network namespace (the host's for None)."""
        if sandbox is None or sandbox.shares_host:
            yield self._ns
        elif sandbox.held is not None:
            yield sandbox.held
        else:
            ns = Namespace.of_pid(sandbox.process.pid)  # type: ignore[union-attr]
            try:
                yield ns
            finally:
                ns.close()

    def program_task_ingress(self, sandbox: SandboxHandle, rules: TaskIngress) -> None:
        with self._namespace(sandbox) as ns:
            taskingress.load(ns, rules)

    def open_resolver(self, sandbox: SandboxHandle) -> dnssockets.ResolverSockets:
        with self._namespace(sandbox) as ns:
            return dnssockets.open_resolver(ns)

    def upstream_socket(self, sandbox: SandboxHandle | None, server: str, port: int,
                        tcp: bool):
        with self._namespace(sandbox) as ns:
            return dnssockets.upstream_socket(ns, server, port, tcp)

    # -- service load balancing -------------------------------------------------

    def program_load_balancer(self, sandbox: SandboxHandle,
                              servers: tuple[VirtualServer, ...],
                              ingress: IngressRules | None = None) -> None:
        """See HostFabric.program_load_balancer and fabric/loadbalancer.py."""
        if sandbox.shares_host:
            raise ValueError("a container in the host's network namespace has no load "
                             "balancer of its own")
        if not self.sandbox_alive(sandbox):
            return
        with self._namespace(sandbox) as ns:
            self._balancers.program(sandbox.key, ns, servers, ingress)
