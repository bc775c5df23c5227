"""`cnm container ...`: the docker CLI's `docker container` over the Engine API."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator

from emulator.client import format as fmt
from emulator.client import streams
from emulator.client.command import (
    ClientError,
    ClientParser,
    daemon_message,
    filter_arg,
    filters,
    inspect_objects,
    key_values,
    run,
    write,
)
from emulator.client.target import target_options

TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
         "\t{{.Names}}")
TITLES = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
          "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
          "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS",
          "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
          "Platform": "PLATFORM"}


def human_size(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


def _names(names: list[str], trunc: bool) -> str:
    stripped = [n.removeprefix("/") for n in names]
    if trunc:
        return next((n for n in stripped if "/" not in n), "")
    return ",".join(stripped)


def _image(summary: dict, trunc: bool) -> str:
    image = summary.get("Image") or ""
    if not image:
        return "<no image>"
    if not trunc:
        return image
    short = fmt.truncate_id(image)
    if fmt.truncate_id(summary.get("ImageID") or "") == short:
        return short
    return fmt.familiar_image(image)


def container_row(summary: dict, trunc: bool = True, now: float | None = None) -> fmt.Row:
    """formatter.ContainerContext over one entry of GET /containers/json."""
    labels = summary.get("Labels") or {}
    ident = summary.get("Id", "")
    command = summary.get("Command", "")
    created = summary.get("Created", 0)
    mounts = summary.get("Mounts") or []
    mount_names = [m.get("Name") or m.get("Source", "") for m in mounts]
    size = human_size(summary.get("SizeRw") or 0)
    if summary.get("SizeRootFs"):
        size += f" (virtual {human_size(summary['SizeRootFs'])})"
    networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
    return fmt.Row("*formatter.ContainerContext", {
        "ID": fmt.truncate_id(ident) if trunc else ident,
        "Names": _names(summary.get("Names") or [], trunc),
        "Image": _image(summary, trunc),
        "Command": fmt.go_quote(fmt.ellipsis(command, 20) if trunc else command),
        "CreatedAt": fmt.go_unix_time(created),
        "RunningFor": fmt.since(created, now),
        "Ports": fmt.displayable_ports(summary.get("Ports") or []),
        "State": summary.get("State", ""),
        "Status": summary.get("Status", ""),
        "Size": size,
        "Labels": ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
        "Mounts": ",".join(fmt.ellipsis(n, 15) if trunc else n for n in mount_names),
        "LocalVolumes": str(sum(1 for m in mounts if m.get("Driver") == "local")),
        "Networks": ",".join(networks),
        "Platform": None,
    }, labels)


def list_format(source: str, quiet: bool) -> str:
    """formatter.NewContainerFormat: -q wins over a template."""
    if source in ("", "table"):
        return "{{.ID}}" if quiet else TABLE
    if source == "raw":
        if quiet:
            return "container_id: {{.ID}}"
        return ("container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\n"
                "created_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\n"
                "status: {{- pad .Status 1 0}}\nnames: {{.Names}}\n"
                "labels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n")
    return "{{.ID}}" if quiet else source


def _ls(args: argparse.Namespace, api) -> int:
    try:
        if args.format:
            fmt.check_template(args.format, container_row({}))
        containers = api.containers(all=args.all, filters=filters(args.filter))
        now = time.time()
        rows = [container_row(c, trunc=not args.no_trunc, now=now) for c in containers]
        write(fmt.write_list(list_format(args.format or "", args.quiet), rows, TITLES))
    except fmt.FormatError as exc:
        raise ClientError(exc.message, exc.status) from None
    return 0


def _inspect(args: argparse.Namespace, api) -> int:
    return inspect_objects(api, "/containers/{0}/json", args.container, args.format,
                           {"size": "1"} if args.size else None)


def _each(names: list[str], action, force: bool = False) -> int:
    """stop/rm: each name printed as it succeeds, the errors together at the end."""
    import docker.errors

    errors = []
    for name in names:
        try:
            action(name)
        except docker.errors.APIError as exc:
            if force and exc.status_code == 404:
                print(daemon_message(exc), file=sys.stderr)
                continue
            errors.append(daemon_message(exc))
            continue
        except ClientError as exc:
            errors.append(exc.message)
            continue
        write(name + "\n")
    if errors:
        raise ClientError("\n".join(errors))
    return 0


def _stop(args: argparse.Namespace, api) -> int:
    return _each(args.container, lambda name: api.stop(name, timeout=args.timeout))


def _rm(args: argparse.Namespace, api) -> int:
    def remove(name: str) -> None:
        ident = name.strip("/")
        if not ident:
            raise ClientError("container name cannot be empty")
        api.remove_container(ident, v=args.volumes, link=args.link, force=args.force)

    return _each(args.container, remove, force=args.force)


def _exec(args: argparse.Namespace, api) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise ClientError("cnm container exec: requires at least 2 arguments\n\n"
                          "Usage:  cnm container exec [OPTIONS] CONTAINER COMMAND [ARG...]",
                          1)
    api.inspect_container(args.container)  # like docker: "no such container" comes first
    exec_id = api.exec_create(args.container, command, stdout=not args.detach,
                              stderr=not args.detach, tty=args.tty,
                              environment=args.env or None, workdir=args.workdir,
                              user=args.user or "")["Id"]
    if args.detach:
        api.exec_start(exec_id, detach=True, tty=args.tty)
        return 0
    streams.copy(streams.start_exec(api, exec_id, args.tty), args.tty)
    code = api.exec_inspect(exec_id).get("ExitCode")
    return code or 0


# -- run -----------------------------------------------------------------------------------


def start_error_status(message: str) -> int:
    """docker run's status for a failed start: 127 not found, 126 not executable, else 125."""
    if any(s in message for s in ("executable file not found", "no such file or directory",
                                  "system cannot find the file specified")):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _json_stream(chunks) -> Iterator[dict]:
    """The JSON messages of a progress stream, however its chunks split them."""
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while True:
            buffer = buffer.lstrip()
            try:
                message, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                break
            buffer = buffer[end:]
            if isinstance(message, dict):
                yield message


def _pull(api, image: str) -> None:
    """docker run's pull when the daemon does not have the image; progress on stderr."""
    import docker.errors

    repository, tag = fmt.normalized_image(image)
    reference = fmt.familiar_image(repository) + (tag if tag.startswith("@") else f":{tag}")
    print(f"Unable to find image '{reference}' locally", file=sys.stderr)
    try:
        for message in _json_stream(api.pull(repository, tag=tag.lstrip("@"), stream=True)):
            if message.get("error"):
                raise ClientError(message["error"], 125)
            prefix = f"{message['id']}: " if message.get("id") else ""
            text = message.get("stream") or message.get("status", "")
            if message.get("progress") is None and message.get("status") is not None:
                print(prefix + text, file=sys.stderr)
    except docker.errors.APIError as exc:
        raise ClientError(daemon_message(exc), 125) from None


def _create(args: argparse.Namespace, api) -> dict:
    import docker.errors

    network = args.network or "default"
    networking = None
    if args.ip or args.network_alias:
        networking = api.create_networking_config({network: api.create_endpoint_config(
            ipv4_address=args.ip, aliases=args.network_alias or None)})
    host_config = api.create_host_config(auto_remove=args.rm, network_mode=network)

    def create() -> dict:
        return api.create_container(
            args.image, command=args.command or None, hostname=args.hostname,
            detach=args.detach, name=args.name, environment=args.env or None,
            labels=key_values(args.label) or None, host_config=host_config,
            networking_config=networking)

    try:
        return create()
    except docker.errors.APIError as exc:
        if exc.status_code != 404:
            raise ClientError(daemon_message(exc), 125) from None
    _pull(api, args.image)  # docker reads any "not found" as a missing image
    try:
        return create()
    except docker.errors.APIError as exc:
        raise ClientError(daemon_message(exc), 125) from None


def _run(args: argparse.Namespace, api) -> int:
    import docker.errors

    created = _create(args, api)
    for warning in created.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    cid = created["Id"]
    if args.detach:
        write(cid + "\n")
        try:
            api.start(cid)
        except docker.errors.APIError as exc:
            raise ClientError(daemon_message(exc),
                              start_error_status(exc.explanation or "")) from None
        return 0
    stream = streams.attach(api, cid)
    result: dict = {}

    def wait() -> None:
        try:
            result.update(api.wait(cid, condition="removed" if args.rm else "next-exit"))
        except docker.errors.APIError as exc:
            result["Error"] = {"Message": exc.explanation}

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    try:
        api.start(cid)
    except docker.errors.APIError as exc:
        stream.close()
        raise ClientError(daemon_message(exc),
                          start_error_status(exc.explanation or "")) from None
    streams.copy(stream, tty=False)
    waiter.join()
    if (result.get("Error") or {}).get("Message"):
        print(f"Error waiting for container: {result['Error']['Message']}", file=sys.stderr)
        return 125
    return result.get("StatusCode", 0)


# -- arguments ---------------------------------------------------------------------------


def add_parser(sub) -> None:
    """`cnm container ...` under the top-level subparsers."""
    parent = target_options()
    container = sub.add_parser("container", help="run and manage a Docker host's containers "
                               "(docker container, for machines without the docker CLI)")
    cmds = container.add_subparsers(dest="container_command", required=True,
                                    parser_class=ClientParser, metavar="COMMAND")

    run_ = cmds.add_parser("run", parents=[parent], add_help=False,
                           help="create and start a container")
    run_.add_argument("--help", action="help", help="show this help message and exit")
    run_.add_argument("-d", "--detach", action="store_true", help="run in the background, "
                      "print the container ID")
    run_.add_argument("--name", help="container name")
    run_.add_argument("--network", "--net", help="network to connect to")
    run_.add_argument("--network-alias", action="append", help="network-scoped alias")
    run_.add_argument("--ip", help="IPv4 address on --network")
    run_.add_argument("-h", "--hostname", help="container host name")
    run_.add_argument("--rm", action="store_true", help="remove the container when it exits")
    run_.add_argument("-e", "--env", action="append", help="environment variable K=V")
    run_.add_argument("-l", "--label", action="append", help="label K=V")
    run_.add_argument("image", metavar="IMAGE")
    run_.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    run_.set_defaults(func=run(_run))

    ls = cmds.add_parser("ls", aliases=["ps", "list"], parents=[parent],
                         help="list containers")
    ls.add_argument("-a", "--all", action="store_true", help="show all containers")
    ls.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    ls.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
    ls.add_argument("-f", "--filter", action="append", type=filter_arg,
                    help='filter values (e.g. "status=exited")')
    ls.add_argument("--format", help="'table', 'table TEMPLATE', 'json' or a Go template")
    ls.set_defaults(func=run(_ls))

    inspect = cmds.add_parser("inspect", parents=[parent], help="show containers as JSON")
    inspect.add_argument("container", nargs="+", metavar="CONTAINER")
    inspect.add_argument("-f", "--format", help="'json' or a Go template")
    inspect.add_argument("-s", "--size", action="store_true", help="display file sizes")
    inspect.set_defaults(func=run(_inspect))

    stop = cmds.add_parser("stop", parents=[parent], help="stop containers")
    stop.add_argument("container", nargs="+", metavar="CONTAINER")
    stop.add_argument("-t", "--timeout", "--time", type=int, help="seconds before killing")
    stop.set_defaults(func=run(_stop))

    rm = cmds.add_parser("rm", aliases=["remove"], parents=[parent], help="remove containers")
    rm.add_argument("container", nargs="+", metavar="CONTAINER")
    rm.add_argument("-f", "--force", action="store_true", help="remove running containers")
    rm.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes")
    rm.add_argument("-l", "--link", action="store_true", help="remove the link")
    rm.set_defaults(func=run(_rm))

    exec_ = cmds.add_parser("exec", parents=[parent], help="run a command in a container")
    exec_.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    exec_.add_argument("-d", "--detach", action="store_true", help="run in the background")
    exec_.add_argument("-e", "--env", action="append", help="environment variable K=V")
    exec_.add_argument("-w", "--workdir", help="working directory")
    exec_.add_argument("-u", "--user", help="user")
    exec_.add_argument("container", metavar="CONTAINER")
    exec_.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    exec_.set_defaults(func=run(_exec))
