"""`mesh`: launch, connect, inspect and stop the mesh network driver of one host.

Run it inside an emulated Docker host's network namespace:

    cnm exec h1 -- mesh launch                 # router + plugin, detached
    cnm exec h2 -- mesh launch 192.0.2.11      # ... peering with h1
    cnm exec h3 -- mesh connect 192.0.2.12     # peer a running daemon with another
    cnm exec h1 -- mesh status
    eval $(cnm mesh env h1)                    # docker now goes through h1's mesh proxy
    eval $(cnm mesh env --restore)             # ... and no longer
    cnm exec h1 -- mesh stop

The plugin directory comes from CNM_PLUGIN_DIR (set by the emulator on each host)
or --plugin-dir. `mesh env` is Weave's `weave env`: it starts the daemon's Engine API
proxy (proxy.py) in front of the host's Engine API (--docker-host, else $DOCKER_HOST)
and prints the exports that point the docker CLI at it; `cnm mesh env HOST` runs it
on HOST with that host's Engine API.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import time
from ipaddress import IPv4Address

from emulator.mesh import dataplane, iproute
from emulator.mesh.control import (
    Locations,
    MeshError,
    alive,
    in_machine_namespace,
    net_inode,
    read_info,
    request,
    running_pid,
)
from emulator.mesh.gossip import PORT
from emulator.mesh.shellenv import proxy_exports, restore_exports, upstream_of

READY_TIMEOUT = 30.0


def _ipv4(text: str) -> str:
    try:
        return str(IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None


def _locations(args: argparse.Namespace) -> Locations:
    return Locations.resolve(args.plugin_dir, args.state_dir)


# -- launch -----------------------------------------------------------------------------


def underlay(advertise: str | None) -> tuple[str, str, int]:
    """(address, device, device MTU): --advertise, else the address of the interface
    holding the default route."""
    addresses = iproute.ipv4_addresses()
    if advertise is not None:
        for address, device, mtu in addresses:
            if address == advertise:
                return address, device, mtu
        raise MeshError(f"{advertise} is not an address of this host (its addresses: "
                        f"{', '.join(a for a, _, _ in addresses) or 'none'})")
    device = iproute.default_route_device()
    if device is None:
        raise MeshError("this host has no default route: pass --advertise ADDRESS")
    for address, dev, mtu in addresses:
        if dev == device:
            return address, dev, mtu
    raise MeshError(f"the default route's interface {device} has no IPv4 address: "
                    "pass --advertise ADDRESS")


def launch(args: argparse.Namespace) -> int:
    loc = _locations(args)
    if in_machine_namespace():
        raise MeshError("refusing to run in the machine's own network namespace; run it in "
                        "an emulated Docker host: cnm exec HOST -- mesh launch")
    pid = running_pid(loc)
    if pid is not None:
        raise MeshError(f"mesh is already running on this host (pid {pid}); "
                        "`mesh stop` it first")
    address, device, device_mtu = underlay(args.advertise)
    mtu = device_mtu - dataplane.VXLAN_OVERHEAD
    made_from = None  # the highest directory launch makes: stop removes it again if empty
    for path in (loc.plugin_dir, *loc.plugin_dir.parents):
        if path.exists():
            break
        made_from = path
    loc.plugin_dir.mkdir(parents=True, exist_ok=True)
    loc.state_dir.mkdir(parents=True, exist_ok=True)
    log_path = os.path.abspath(args.log) if args.log else str(loc.log_file)
    read_fd, write_fd = os.pipe()
    argv = [sys.executable, "-m", "emulator.mesh", "daemon", "--plugin-dir", str(loc.plugin_dir),
            "--state-dir", str(loc.state_dir), "--advertise", address, "--device", device,
            "--mtu", str(mtu), "--ready-fd", str(write_fd),
            *(["--made-dirs-from", str(made_from)] if made_from else []), *args.peers]
    with open(log_path, "ab") as log:
        # Its own session (setsid): no terminal, not in the launcher's process group.
        # The environment goes as it is: CNM_LAB marks the daemon as the lab's.
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 pass_fds=(write_fd,), start_new_session=True, close_fds=True)
    os.close(write_fd)
    answer = b""
    deadline = time.monotonic() + READY_TIMEOUT
    with os.fdopen(read_fd, "rb") as ready:
        while not answer.endswith(b"\n") and time.monotonic() < deadline:
            if select.select([ready], [], [], max(0.0, deadline - time.monotonic()))[0]:
                chunk = os.read(ready.fileno(), 4096)
                if not chunk:
                    break
                answer += chunk
    text = answer.decode().strip()
    if not text.startswith("ready"):
        if child.poll() is None:
            child.kill()
            child.wait()
        if not text:
            raise MeshError(f"the daemon did not start (see {log_path})")
        if not args.log:  # the error says what the log would
            loc.log_file.unlink(missing_ok=True)
        for path in (loc.state_dir, loc.plugin_dir, *loc.plugin_dir.parents):
            if made_from is None and path != loc.state_dir:
                break
            try:
                path.rmdir()
            except OSError:
                break
            if path == made_from:
                break
        raise MeshError(text.removeprefix("error: "))
    print(f"mesh: launched (pid {child.pid}): router {address}:{PORT}, plugin "
          f"{loc.plugin_socket}" + (f", peers {' '.join(args.peers)}" if args.peers else ""))
    return 0


def daemon(args: argparse.Namespace) -> int:
    from emulator.mesh.daemon import Config, run

    config = Config(_locations(args), args.advertise, args.device, args.mtu, list(args.peers),
                    args.made_dirs_from)
    return run(config, args.ready_fd)


# -- connect, status, stop -----------------------------------------------------------------


def connect(args: argparse.Namespace) -> int:
    loc = _locations(args)
    answer = request(loc, {"cmd": "connect", "peer": args.peer, "timeout": args.timeout},
                     timeout=args.timeout + 5)
    if answer.get("connected"):
        print(f"mesh: connected to {args.peer}")
        return 0
    row = answer.get("peer") or {}
    why = f": {row['error']}" if row.get("error") else ""
    print(f"mesh: not connected to {args.peer} yet ({row.get('state', 'unknown')}{why}); "
          "the daemon keeps trying", file=sys.stderr)
    return 1


def _age(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [headers, *rows]]
    return "\n".join(lines)


def format_status(status: dict) -> str:
    now = status["now"]
    out = [f"mesh daemon (pid {status['pid']}, up {_age(status['uptime'])}): router "
           f"{status['address']}:{status['port']} on {status['device']}, plugin "
           f"{status['plugin']}"]
    proxy = status.get("proxy")
    out += [f"Engine API proxy {proxy['url']} -> unix://{proxy['upstream']} (containers that "
            f"name no network join {proxy['network']})" if proxy else
            "no Engine API proxy (`mesh env` starts it)", ""]
    peers = [[p["peer"], p["state"], p["direction"] or "-", _age(now - p["since"]),
              "asked" if p["target"] else "learned", p["error"] or ""]
             for p in status["peers"]]
    out += [_table(["PEER", "STATE", "DIRECTION", "SINCE", "PEERED", "LAST ERROR"], peers)
            if peers else "no peers", ""]
    records = status["endpoints"]
    networks = []
    for net in status["networks"]:
        here = [r for r in records if r["network"] == net["id"]]
        networks.append([net["id"][:12], str(net["vni"]), net["bridge"], net["vxlan"],
                         net["pool"] or "-", str(net["mtu"]),
                         str(sum(r["local"] for r in here)),
                         str(sum(not r["local"] for r in here))])
    out += [_table(["NETWORK", "VNI", "BRIDGE", "VXLAN", "SUBNET", "MTU", "LOCAL EPS",
                    "REMOTE EPS"], networks) if networks else "no networks", ""]
    created = {n["id"] for n in status["networks"]}
    endpoints = [[r["endpoint"][:12], r["network"][:12] + ("" if r["network"] in created
                                                           else " (not here)"),
                  r["mac"], r["ip"] or "-", r["peer"],
                  ("here, " + (f"joined ({r['ifname']})" if r.get("ifname") else "not joined"))
                  if r["local"] else "remote"]
                 for r in sorted(records, key=lambda r: (r["network"], not r["local"],
                                                         r["peer"], r["endpoint"]))]
    out.append(_table(["ENDPOINT", "NETWORK", "MAC", "IP", "PEER", "WHERE"], endpoints)
               if endpoints else "no endpoints")
    return "\n".join(out)


def status(args: argparse.Namespace) -> int:
    loc = _locations(args)
    if running_pid(loc) is None:
        raise MeshError(f"mesh is not running (no daemon for {loc.plugin_dir})")
    answer = request(loc, {"cmd": "status"})
    print(json.dumps(answer, indent=2) if args.json else format_status(answer))
    return 0


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _remove_leftovers(loc: Locations) -> list[str]:
    """What a daemon that died without cleaning up left: its files, and (only when run in
    the namespace it ran in) its devices."""
    removed = []
    info = read_info(loc)
    if info.get("netns") == net_inode() and not in_machine_namespace():
        removed += dataplane.sweep()
    for path in loc.files():
        if path.exists() or path.is_symlink():
            path.unlink()
            removed.append(str(path))
    try:
        loc.state_dir.rmdir()
    except OSError:
        pass
    return removed


def stop(args: argparse.Namespace) -> int:
    loc = _locations(args)
    pid = running_pid(loc)
    if pid is None:
        removed = _remove_leftovers(loc)
        print("mesh: not running" + (f"; removed what it left: {' '.join(removed)}"
                                     if removed else ""))
        return 0
    try:
        request(loc, {"cmd": "stop"}, timeout=5.0)
    except MeshError:
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, args.timeout):
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
        removed = _remove_leftovers(loc)
        print(f"mesh: killed (pid {pid}) after {args.timeout:g}s; removed {' '.join(removed)}")
        return 1
    print(f"mesh: stopped (pid {pid})")
    return 0


# -- env ----------------------------------------------------------------------------------


def env(args: argparse.Namespace) -> int:
    if args.restore:
        line = restore_exports(os.environ, args.docker_host)
        if line is None:
            print("mesh: nothing to restore: ORIG_DOCKER_HOST is not set (this shell has not "
                  f"run `eval $({args.invoked_as})`)", file=sys.stderr)
            return 0
        print(line)
        return 0
    loc = _locations(args)
    if running_pid(loc) is None:
        host = os.environ.get("CNM_HOST")  # set by `cnm exec`
        launch_it = f"cnm exec {host} -- mesh launch" if host else "mesh launch"
        raise MeshError(f"mesh is not running on this host (no daemon for {loc.plugin_dir}); "
                        f"start it first: {launch_it}")
    upstream = upstream_of(args.docker_host, os.environ, f"unix://{loc.proxy_socket}")
    answer = request(loc, {"cmd": "proxy", "upstream": upstream or ""})
    print(proxy_exports(answer["url"], os.environ))
    print(f"# New containers join the mesh network \"{answer['network']}\" unless they name a "
          f"network. Configure your shell with: eval $({args.invoked_as})")
    print(f"# Undo it with: eval $({args.invoked_as} --restore)")
    return 0


# -- the command line ---------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin-dir", help="where the plugin socket mesh.sock goes "
                        "(default: $CNM_PLUGIN_DIR)")
    common.add_argument("--state-dir", help="pid file, control socket, log "
                        "(default: PLUGIN_DIR/mesh.d)")
    top = argparse.ArgumentParser(
        prog="mesh", description="An example third-party Docker network driver in the spirit "
        "of Weave Net: a gossiping router per host and VXLAN between hosts.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("launch", parents=[common], help="start the mesh daemon on this host")
    p.add_argument("peers", nargs="*", type=_ipv4, metavar="PEER",
                   help="underlay address of another host's mesh daemon")
    p.add_argument("--advertise", type=_ipv4, metavar="ADDR",
                   help="underlay address to use (default: that of the default route's "
                        "interface)")
    p.add_argument("--log", metavar="FILE", help="the daemon's log (default: STATE_DIR/mesh.log, "
                   "removed on stop)")
    p.set_defaults(func=launch)

    p = sub.add_parser("connect", parents=[common], help="peer the running daemon with PEER")
    p.add_argument("peer", type=_ipv4, metavar="PEER")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the connection (default 10)")
    p.set_defaults(func=connect)

    p = sub.add_parser("status", parents=[common], help="peers, networks and endpoints")
    p.add_argument("--json", action="store_true", help="the daemon's answer as JSON")
    p.set_defaults(func=status)

    p = sub.add_parser("stop", parents=[common],
                       help="stop the daemon and remove everything it made")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds to wait before killing it (default 20)")
    p.set_defaults(func=stop)

    p = sub.add_parser("env", parents=[common], help="print the exports that point the docker "
                       "CLI at this host's mesh proxy: eval $(mesh env)",
                       description="Start the mesh daemon's Engine API proxy (if it is not "
                       "running yet) and print the shell exports that point the docker CLI "
                       "at it; through it, new containers that name no network join the mesh "
                       "network. `eval $(mesh env --restore)` undoes it.")
    p.add_argument("--restore", action="store_true",
                   help="print the exports that put DOCKER_HOST back as it was")
    p.add_argument("--docker-host", metavar="URL",
                   help="the host's Engine API, unix:///PATH (default: $DOCKER_HOST, or "
                        "$ORIG_DOCKER_HOST when that is the proxy); with --restore, what "
                        "DOCKER_HOST becomes when ORIG_DOCKER_HOST is not set")
    p.add_argument("--as", dest="invoked_as", default="mesh env", help=argparse.SUPPRESS)
    p.set_defaults(func=env)

    p = sub.add_parser("daemon", parents=[common], help="(what launch starts; not by hand)")
    p.add_argument("peers", nargs="*", type=_ipv4)
    p.add_argument("--advertise", type=_ipv4, required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--mtu", type=int, required=True)
    p.add_argument("--ready-fd", type=int)
    p.add_argument("--made-dirs-from")
    p.set_defaults(func=daemon)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (MeshError, iproute.IprouteError) as exc:
        print(f"mesh: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
