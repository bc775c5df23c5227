"""The `cnm` command: thin argument handling over the package.

Every failure the user can cause ends as one line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from typing import NoReturn

from emulator.errdefs import DockerError
from emulator.lab.control import Interrupted, SeveralLabs
from emulator.lab.lab import LabError, name_from_env
from emulator.topology import TopologyError
from emulator.topology.model import ENGINES

# The topology files shipped in the package (package, path inside it), by the name
# `cnm topology show NAME` takes: the embedded default and the isolation experiment's.
PACKAGED_TOPOLOGIES = {
    "default": ("emulator.topology", "default.yaml"),
    "isolation": ("emulator.experiments", "topologies/isolation.yaml"),
    "isolation-dualstack": ("emulator.experiments", "topologies/isolation-dualstack.yaml"),
}


def program() -> str:
    """How the user invoked cnm, for the commands hints show: `cnm` when that is what
    PATH finds, else the path typed (e.g. `.venv/bin/cnm`)."""
    invoked = sys.argv[0] if sys.argv else ""
    if os.path.basename(invoked) != "cnm":
        return "cnm"  # python -m emulator.cli, or called from Python
    on_path = shutil.which("cnm")
    try:
        if on_path and os.path.samefile(on_path, invoked):
            return "cnm"
    except OSError:
        pass
    return invoked


def as_typed(text: str) -> str:
    """A message whose hints say `cnm ...` with cnm as the user invoked it."""
    return text.replace("`cnm ", f"`{program()} ")


class UsageError(Exception):
    """A command line argparse accepted but that cannot be used as given."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with a "did you mean" for a misspelt command or choice."""

    def error(self, message: str) -> NoReturn:
        found = re.search(r"invalid choice: '?([^']*?)'? \(choose from (.*)\)$", message)
        if found:  # choices are quoted before Python 3.12.8, bare after
            choices = [c.strip("'") for c in found.group(2).split(", ")]
            close = difflib.get_close_matches(found.group(1), choices, n=1)
            if close:
                message += f"; did you mean {close[0]!r}?"
        super().error(message)


def _print_warnings(warnings: list[object]) -> None:
    for warning in warnings:
        print(warning, file=sys.stderr)


def _lab_up(args: argparse.Namespace) -> int:
    from emulator.lab import control
    from emulator.lab.dryrun import check_topology, check_topology_file
    from emulator.topology import default_topology

    if args.topology:
        sourced, warnings = check_topology_file(args.topology)
        topology = sourced.topology
    else:
        topology = default_topology()
        warnings = check_topology(topology)
    _print_warnings(warnings)
    if args.engine:
        topology = topology.with_engine(args.engine)
    name = control.start_background(args.topology, args.name or name_from_env() or topology.name,
                                    args.engine)
    hosts = ", ".join(h.name if h.engine == "emulated" else f"{h.name} (real dockerd)"
                      for h in topology.hosts)
    print(f"lab {name} is up: Docker hosts {hosts}; outside {topology.outside.address}")
    if topology.lan is not None:
        lan = topology.lan
        members = ", ".join(["router", *(h.name for h in lan.hosts)])
        print(f"LAN {lan.subnet} ({lan.mode}) on eth1 of every Docker host: {members}")
    return 0


def _lab_ls(args: argparse.Namespace) -> int:
    from emulator.lab import control

    table = [("NAME", "STATUS", "PID", "HOSTS", "CONTAINERS")]
    table += [(row.name, as_typed(row.status), str(row.owner), ",".join(row.hosts),
               str(row.containers)) for row in control.summaries()]
    for line in columns(table):
        print(line)
    return 0


def columns(table: list[tuple[str, ...]], gap: str = "   ") -> list[str]:
    """Rows as lines of columns as wide as their widest cell (the last one unpadded)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return [gap.join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                      row[-1]]) for row in table]


def _lab_down(args: argparse.Namespace) -> int:
    from emulator.lab import control

    name = control.stop(_lab_name(args))
    print(f"lab {name} removed")
    return 0


def _lab_logs(args: argparse.Namespace) -> int:
    from emulator.lab import control

    sys.stdout.buffer.write(control.log_of(_lab_name(args)))
    sys.stdout.flush()
    return 0


def _lab_name(args: argparse.Namespace) -> str | None:
    """The lab a command names, as NAME or --lab NAME."""
    if args.name and args.lab and args.name != args.lab:
        raise UsageError(f"two labs named: {args.name} and --lab {args.lab}; name one")
    return args.name or args.lab or name_from_env()


def _clean(args: argparse.Namespace) -> int:
    from emulator.lab.cleanup import clean

    report = clean(only=_lab_name(args))
    for name in report.skipped_running:
        print(f"lab {name} is running; left alone (use `{program()} lab down {name}`)")
    if report.labs:
        print(f"removed {len(report.labs)} dead lab(s): {', '.join(report.labs)} "
              f"({report.processes} process(es) ended)")
    else:
        print("nothing to clean")
    return 0


def _exec(args: argparse.Namespace) -> int:
    from emulator.lab import control

    argv = exec_command(args)
    args.lab = args.lab or name_from_env()
    if not argv:
        raise UsageError(f"no command given: {program()} exec [--lab NAME] TARGET -- CMD [ARG...]")
    state = control.read_state(args.lab)
    try:
        control.exec_in(state, args.target, argv)
    except LabError as exc:
        if "executable file not found" in str(exc):
            print(f"cnm: {exc}", file=sys.stderr)
            return 127
        raise
    return 0


def exec_command(args: argparse.Namespace) -> list[str]:
    """The command `cnm exec` runs, once the options written after the target but before
    the command (`cnm exec h1 --lab X -- cmd`) are taken into args. After `--` or the
    command's first word, everything is the command's."""
    rest = list(args.command)
    while rest and (rest[0] == "--lab" or rest[0].startswith("--lab=")):
        if rest[0] == "--lab":
            if len(rest) < 2:
                raise UsageError("--lab needs a lab name")
            name, rest = rest[1], rest[2:]
        else:
            name, rest = rest[0].split("=", 1)[1], rest[1:]
        if args.lab not in (None, name):
            raise UsageError(f"two labs named: --lab {args.lab} and --lab {name}; name one")
        args.lab = name
    return rest[1:] if rest[:1] == ["--"] else rest


def _env(args: argparse.Namespace) -> int:
    from emulator.lab import control

    state = control.read_state(args.lab or name_from_env())
    if args.host not in state.hosts:
        raise LabError(f"no Docker host {args.host} in lab {state.name}"
                       f"{control.did_you_mean(args.host, list(state.hosts))}; hosts: "
                       + ", ".join(state.hosts))
    from emulator.lab.state import RunDir

    print(f"export DOCKER_HOST=unix://{RunDir(state.name).socket(args.host)}")
    print(f"# Run this command to point the docker CLI at {args.host} of lab {state.name}:")
    lab = ["--lab", args.lab] if args.lab else []
    print(f"# eval $({shlex.join([program(), 'env', *lab, args.host])})")
    if shutil.which("docker") is None:
        print("cnm: no docker CLI on PATH; scripts/install.sh installs one", file=sys.stderr)
    return 0


def _mesh_env(args: argparse.Namespace) -> int:
    """`mesh env` (emulator/mesh) run on the host, given the host's Engine API to front."""
    target = " ".join([*(["--lab", args.lab] if args.lab else []), args.host or "HOST"])
    mesh = [sys.executable, "-m", "emulator.mesh", "env", "--as", f"cnm mesh env {target}"]
    if args.host is None:
        if not args.restore:
            raise LabError("which Docker host? cnm mesh env [--lab LAB] HOST")
        os.execv(sys.executable, [*mesh, "--restore"])
    from emulator.lab import control
    from emulator.lab.state import RunDir

    state = control.read_state(args.lab)
    if args.host not in state.hosts:
        raise LabError(f"no Docker host {args.host} in lab {state.name}; hosts: "
                       + ", ".join(state.hosts))
    mesh += ["--docker-host", f"unix://{RunDir(state.name).socket(args.host)}"]
    if args.restore:
        os.execv(sys.executable, [*mesh, "--restore"])
    control.exec_in(state, args.host, mesh)
    return 0


def _run(args: argparse.Namespace) -> int:
    from emulator.experiments.runner import run_cli

    params = {}
    for item in args.param:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise SystemExit(f"cnm: --param {item!r}: expected NAME=VALUE")
        params[name] = value
    return run_cli(args.experiments, topology=packaged_or_path(args.topology),
                   results=args.results, list_only=args.list, params=params,
                   verbose=args.verbose)


def packaged_or_path(topology: str | None) -> str | None:
    """`--topology`: a file, or else the name of a topology shipped in the package
    (`cnm topology show NAME`)."""
    if topology is None or os.path.exists(topology) or topology not in PACKAGED_TOPOLOGIES:
        return topology
    from importlib.resources import files

    package, path = PACKAGED_TOPOLOGIES[topology]
    return str(files(package).joinpath(path))


def _conformance(args: argparse.Namespace) -> int:
    from emulator.conformance.runner import run_cli

    return run_cli(args.driver, args.plugin_socket, args.plugin_command, args.results,
                   keyword=args.k, list_only=args.list, engine=args.engine)


def _schema(args: argparse.Namespace) -> int:
    from emulator.topology import export_json_schema

    print(export_json_schema())
    return 0


def _check(args: argparse.Namespace) -> int:
    from emulator.lab.dryrun import check_topology_file

    _print_warnings(check_topology_file(args.topology)[1])
    print(f"{args.topology}: ok")
    return 0


def _show(args: argparse.Namespace) -> int:
    from importlib.resources import files

    package, path = PACKAGED_TOPOLOGIES[args.name]
    sys.stdout.write(files(package).joinpath(path).read_text(encoding="utf-8"))
    return 0


def _report(args: argparse.Namespace) -> int:
    from emulator.report import report_cli

    return report_cli(args.runs, args.compare, args.check, args.output, args.results,
                      args.tolerance, previous=not args.no_previous)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnm", description="Docker container networking, "
                                     "emulated on real network namespaces.")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="start, list and stop labs").add_subparsers(
        dest="lab_command", required=True)
    up = lab.add_parser("up", help="build a lab and leave it running in the background")
    up.add_argument("topology", nargs="?", help="topology YAML (default: the embedded one)")
    up.add_argument("--name", help="lab name (default: the topology's)")
    up.add_argument("--engine", choices=ENGINES,
                    help="run every Docker host with this engine: emulated, or docker (a "
                    "real dockerd inside the host); default: what the topology says")
    up.set_defaults(func=_lab_up)
    lab.add_parser("ls", help="list labs").set_defaults(func=_lab_ls)
    down = lab.add_parser("down", help="remove a running lab completely")
    down.add_argument("name", nargs="?", help="lab name (default: the only running lab)")
    down.add_argument("--lab", help="the same as NAME")
    down.set_defaults(func=_lab_down)
    logs = lab.add_parser("logs", help="print the log of a lab started by `cnm lab up`")
    logs.add_argument("name", nargs="?", help="lab name (default: the only running lab)")
    logs.add_argument("--lab", help="the same as NAME")
    logs.set_defaults(func=_lab_logs)

    clean = sub.add_parser("clean", help="remove what labs whose process is gone left behind")
    clean.add_argument("name", nargs="?", help="only this lab (default: every dead lab)")
    clean.add_argument("--lab", help="the same as NAME")
    clean.set_defaults(func=_clean)

    ex = sub.add_parser("exec", help="run a command in a host's or container's namespace",
                        usage="cnm exec [--lab NAME] TARGET [--lab NAME] [--] CMD [ARG...]")
    ex.add_argument("target", help="HOST, HOST/CONTAINER, outside or a LAN node")
    ex.add_argument("command", nargs=argparse.REMAINDER,
                    help="the command and its arguments (after -- or the first word, "
                         "nothing is read as an option of cnm)")
    ex.add_argument("--lab", help="lab name (default: the only running lab); before or "
                    "after TARGET")
    ex.set_defaults(func=_exec)

    env = sub.add_parser("env", help="print the DOCKER_HOST that points docker at a host")
    env.add_argument("host")
    env.add_argument("--lab", help="lab name (default: the only running lab); before or "
                     "after HOST")
    env.set_defaults(func=_env)

    mesh = sub.add_parser("mesh", help="the mesh driver's Docker proxy").add_subparsers(
        dest="mesh_command", required=True)
    mesh_env = mesh.add_parser(
        "env", help="print the exports that point docker at HOST's mesh proxy",
        description="Print the shell exports that point the docker CLI at the Engine API "
        "proxy of HOST's mesh daemon (started by `cnm exec HOST -- mesh launch`), as "
        "Weave's `weave env`: eval $(cnm mesh env HOST). Through it, a container that names "
        "no network joins the mesh network \"mesh\" (made on first use); one that names "
        "a network (--network X, --network bridge, --net=none, host) is left alone. "
        "eval $(cnm mesh env --restore) puts DOCKER_HOST back.")
    mesh_env.add_argument("host", nargs="?", help="the Docker host (optional with --restore)")
    mesh_env.add_argument("--restore", action="store_true",
                          help="print the exports that put DOCKER_HOST back as it was (with "
                               "HOST and no ORIG_DOCKER_HOST: what `cnm env HOST` gives)")
    mesh_env.add_argument("--lab", help="lab name (default: the only running lab)")
    mesh_env.set_defaults(func=_mesh_env)

    run = sub.add_parser(
        "run", help="run experiments and write results/",
        description="Run experiments and write their results under RESULTS/<experiment>/"
        "<run-id>/, showing one progress line per experiment, then a summary table with "
        "a verdict each: ok (as Docker), DIFFERS (observed behaviour differs from "
        "Docker's) or ERROR (the experiment could not run; the reason in one line).",
        epilog="Exit status: 0 every experiment ok; 1 some DIFFERS; 2 some ERROR (a bad "
        "argument such as --topology or a --param no selected experiment takes, a tool "
        "missing, a failure on the way); 77 not root.")
    run.add_argument("experiments", nargs="*", help="names (default: every experiment)")
    run.add_argument("--topology", help="topology YAML for experiments that take one, or "
                     "the name of a packaged one (cnm topology show)")
    run.add_argument("--results", default="results", help="results directory")
    run.add_argument("--list", action="store_true", help="list the registered experiments")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a parameter of the experiments (repeat for several), e.g. "
                          "bench-bringup's api_count=100 or cli_count=50")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="also print the long output (truth tables, the conformance kit's "
                          "pytest -v) that otherwise goes only to files of the run")
    run.set_defaults(func=_run)

    conf = sub.add_parser("conformance", help="run the driver conformance kit against drivers")
    conf.add_argument("--driver", action="append", default=[], metavar="NAME",
                      help="driver to check (repeat for several): bridge, host, null, "
                           "macvlan, overlay, mesh, or a plugin's name")
    conf.add_argument("--plugin-socket", metavar="PATH",
                      help="the plugin's Unix socket ({host}: the Docker host's name)")
    conf.add_argument("--plugin-command", metavar="CMD",
                      help="command starting the plugin on every Docker host ({socket}, "
                           "{host}, {python} are filled in)")
    conf.add_argument("--results", default="results",
                      help="results directory (reports in RESULTS/conformance/<run-id>/)")
    conf.add_argument("--engine", choices=("emulated", "docker"), default="emulated",
                      help="what runs the lab's Docker hosts: emulated (default) or docker "
                           "(a real dockerd inside each host)")
    conf.add_argument("-k", metavar="EXPR", help="only the checks matching EXPR (pytest -k)")
    conf.add_argument("--list", action="store_true", help="list the checks and exit")
    conf.set_defaults(func=_conformance)

    rep = sub.add_parser("report", help="one HTML + Markdown page from runs in results/")
    rep.add_argument("runs", nargs="*", metavar="RUN_DIR",
                     help="run directories, or directories of runs (the latest of each "
                          "experiment); default: the latest runs in --results")
    rep.add_argument("--compare", nargs=2, metavar=("A", "B"),
                     help="compare run(s) B with baseline run(s) A, figure by figure "
                          "(default: each run with its experiment's previous run)")
    rep.add_argument("--check", action="store_true",
                     help="exit 1 if a figure is worse beyond noise than in the baseline")
    rep.add_argument("--no-previous", action="store_true",
                     help="without --compare: do not compare each run with its "
                          "experiment's previous run")
    rep.add_argument("--tolerance", type=float, default=0.2, metavar="FRACTION",
                     help="relative change counted as noise for figures without CIs "
                          "(default 0.2)")
    rep.add_argument("-o", "--output", metavar="DIR",
                     help="where to write index.html and index.md "
                          "(default: RESULTS/report/<run-id>/)")
    rep.add_argument("--results", default="results", help="results directory")
    rep.set_defaults(func=_report)

    topo = sub.add_parser("topology", help="topology files").add_subparsers(
        dest="topology_command", required=True)
    topo.add_parser("schema", help="print the topology JSON Schema").set_defaults(func=_schema)
    chk = topo.add_parser("check", help="validate a topology file without building it")
    chk.add_argument("topology")
    chk.set_defaults(func=_check)
    show = topo.add_parser("show", help="print a topology shipped in the package, to copy")
    show.add_argument("name", choices=sorted(PACKAGED_TOPOLOGIES))
    show.set_defaults(func=_show)

    return parser


def _root_refusal(args: argparse.Namespace) -> str | None:
    """Why this command cannot run as this user, or None: everything but reading topology
    files, listing experiments or checks and writing reports builds or reads labs, which
    only root can."""
    readers = (_schema, _check, _show, _report)
    if os.geteuid() == 0 or args.func in readers or getattr(args, "list", False):
        return None
    command = args.func.__name__.strip("_").replace("_", " ")  # _lab_up: "lab up"
    return (f"cnm {command} needs root: labs are network namespaces, with their state in "
            "/run/cnm (run it with sudo)")


def parse(argv: list[str]) -> argparse.Namespace:
    """argv parsed; for `cnm exec`, whatever follows the first `--` is the command's
    untouched (argparse would drop a `--` that comes first in it)."""
    parser = build_parser()
    if argv[:1] != ["exec"] or "--" not in argv:
        return parser.parse_args(argv)
    end = argv.index("--")
    args = parser.parse_args(argv[:end])
    args.command = [*args.command, "--", *argv[end + 1:]]
    return args


def _with_lab(argv: list[str], args: argparse.Namespace, lab: str) -> list[str]:
    """The command line the user typed, naming `lab`: `cnm exec --lab LAB h1 -- cmd`,
    `cnm lab down LAB`."""
    if args.func in (_lab_down, _lab_logs):
        return [program(), *argv[:2], lab, *argv[2:]]
    return [program(), argv[0], "--lab", lab, *argv[1:]]


def _os_error(exc: OSError, argv: list[str]) -> str:
    """One line for an OSError: the file and what is wrong, and for a user other than
    root denied access, the command to run as root."""
    what = f"{exc.filename}: {exc.strerror}" if exc.filename else (exc.strerror or str(exc))
    if isinstance(exc, PermissionError) and os.geteuid() != 0:
        return f"cnm: {what}; run as root: sudo {shlex.join([program(), *argv])}"
    return f"cnm: {what}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    refusal = _root_refusal(args)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 77  # sysexits EX_NOPERM
    try:
        return func(args)
    except UsageError as exc:
        print(f"cnm: {exc}", file=sys.stderr)
        return 2
    except SeveralLabs as exc:
        print(f"cnm: several labs are running ({', '.join(exc.running)}); name one:",
              file=sys.stderr)
        for lab in exc.running:
            print(f"  {shlex.join(_with_lab(argv, args, lab))}", file=sys.stderr)
        return 1
    except TopologyError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except DockerError as exc:
        print(f"Error response from daemon: {exc.message}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"cnm: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except LabError as exc:
        print(f"cnm: {as_typed(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(_os_error(exc, argv), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug still ends as one line unless asked
        if os.environ.get("CNM_DEBUG"):
            raise
        print(f"cnm: internal error: {type(exc).__name__}: {exc} (CNM_DEBUG=1 shows the "
              "traceback)", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
