"""`docker cp`: stat, archive and extract paths in a container's own filesystem.

The work is done by a short-lived child process chrooted into the root of the
container's first process (`/proc/PID/root`), so every path and every symbolic
link, absolute ones included, is resolved inside the container, as dockerd's
chrooted archiver resolves them; nothing is read or written outside it. The child
speaks JSON on its last line of standard error and tar on its standard input and
output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

CHILD = r'''
import datetime, json, os, stat, sys, tarfile
op, root, path, opts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
GO_TYPES = ((stat.S_ISDIR, 1 << 31), (stat.S_ISLNK, 1 << 27), (stat.S_ISBLK, 1 << 26),
            (stat.S_ISCHR, (1 << 26) | (1 << 21)), (stat.S_ISFIFO, 1 << 25),
            (stat.S_ISSOCK, 1 << 24))

def answer(**fields):
    sys.stderr.write("\n" + json.dumps(fields) + "\n")
    sys.exit(0)

def go_mode(st):
    mode = st.st_mode & 0o777
    for test, bit in GO_TYPES:
        if test(st.st_mode):
            mode |= bit
    for flag, bit in ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22), (stat.S_ISVTX, 1 << 20)):
        if st.st_mode & flag:
            mode |= bit
    return mode

def path_stat(name):
    st = os.lstat(name)
    target = os.path.realpath(name) if stat.S_ISLNK(st.st_mode) else ""
    mtime = datetime.datetime.fromtimestamp(st.st_mtime_ns // 10**9).astimezone()
    text = mtime.strftime("%Y-%m-%dT%H:%M:%S")
    nanos = st.st_mtime_ns % 10**9
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    zone = mtime.strftime("%z")
    text += "Z" if zone in ("+0000", "") else zone[:3] + ":" + zone[3:]
    base = os.path.basename(name.rstrip("/")) or "/"
    if name.endswith("/."):
        base = "."
    return {"name": base, "size": st.st_size, "mode": go_mode(st), "mtime": text,
            "linkTarget": target}

os.chroot(root)
os.chdir("/")
absolute = "/" + path.lstrip("/") if path.startswith("/") else "/" + path
try:
    if op == "stat":
        answer(stat=path_stat(absolute))
    if op == "archive":
        found = path_stat(absolute)
        name = found["name"]
        out = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)
        out.add(absolute, arcname=name, recursive=True)
        out.close()
        sys.stdout.flush()
        answer(stat=found)
    if op == "extract":
        target = os.path.realpath(absolute)
        if not os.path.isdir(target):
            if not os.path.lexists(target):
                raise FileNotFoundError(2, "no such file or directory", path)
            answer(invalid="extraction point is not a directory")
        archive = tarfile.open(fileobj=sys.stdin.buffer, mode="r|*")

        def members():
            for member in archive:
                name = member.name.lstrip("/")
                parts = name.split("/")
                if ".." in parts or (member.islnk() and ".." in member.linkname.split("/")):
                    raise tarfile.TarError(f"invalid path in the archive: {member.name!r}")
                member.name = name
                if not opts["copy_uid_gid"]:
                    member.uid = member.gid = 0
                where = os.path.join(target, name)
                if opts["no_overwrite_dir_non_dir"] and os.path.lexists(where):
                    existing_dir = os.path.isdir(where) and not os.path.islink(where)
                    if existing_dir and not member.isdir():
                        raise tarfile.TarError(f"cannot overwrite directory {where!r} with "
                                               f"non-directory {name!r}")
                    if not existing_dir and member.isdir():
                        raise tarfile.TarError(f"cannot overwrite non-directory {where!r} "
                                               f"with directory {name!r}")
                yield member

        archive.extractall(target, members=members(), numeric_owner=True)
        archive.close()
        answer(done=True)
except FileNotFoundError:
    answer(missing=True)
except (OSError, tarfile.TarError) as exc:
    answer(error=str(exc))
'''


class PathNotFound(Exception):
    pass


class NotADirectory(Exception):
    pass


class ArchiveError(Exception):
    pass


@dataclass(frozen=True)
class Archive:
    stat: dict
    tar: bytes


def _run(op: str, pid: int, path: str, data: bytes = b"", **opts: bool) -> tuple[dict, bytes]:
    done = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, op, f"/proc/{pid}/root", path, json.dumps(opts)],
        input=data, capture_output=True, timeout=300)
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise ArchiveError(f"the archiver failed (exit status {done.returncode}): "
                           + " ".join(lines[-3:])) from None
    if answer.get("missing"):
        raise PathNotFound(path)
    if "invalid" in answer:
        raise NotADirectory(answer["invalid"])
    if "error" in answer:
        raise ArchiveError(answer["error"])
    return answer, done.stdout


def stat_path(pid: int, path: str) -> dict:
    """Docker's PathStat of `path` in the container of process `pid`."""
    return _run("stat", pid, path)[0]["stat"]


def archive_path(pid: int, path: str) -> Archive:
    """A tar of `path` (a file, or a directory and what it holds) named by its base name."""
    answer, tar = _run("archive", pid, path)
    return Archive(answer["stat"], tar)


def extract_to(pid: int, path: str, tar: bytes, copy_uid_gid: bool = False,
               no_overwrite_dir_non_dir: bool = False) -> None:
    """Unpack `tar` into the directory `path` of the container of process `pid`."""
    _run("extract", pid, path, tar, copy_uid_gid=copy_uid_gid,
         no_overwrite_dir_non_dir=no_overwrite_dir_non_dir)
