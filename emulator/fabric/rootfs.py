"""The root filesystem busybox images run on, made once per machine.

`alpine` and `busybox` containers see a root of their own, as those images give:
Debian's busybox-static as /bin/busybox with a link per applet where the images
have theirs (`busybox --list-full`), /etc/passwd and /etc/group with the images'
system users, and the empty directories a root has. It is made once, in a
staging directory renamed into place, so concurrent engines never see half of
it; every container gets a writable layer over it (see containerroot).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

CACHE = Path("/var/cache/cnm-emulator")
BUSYBOX_ROOT = CACHE / "busybox-root-3"
MOUNTPOINT = CACHE / "mnt"
"""An empty directory a setup thread assembles a container's root on, in its own
mount namespace (the machine never sees what is mounted there)."""
_lock = threading.Lock()

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
mail:x:8:12:mail:/var/mail:/sbin/nologin
news:x:9:13:news:/usr/lib/news:/sbin/nologin
operator:x:11:0:operator:/root:/sbin/nologin
postmaster:x:14:12:postmaster:/var/mail:/sbin/nologin
ftp:x:21:21::/var/lib/ftp:/sbin/nologin
sshd:x:22:22:sshd:/dev/null:/sbin/nologin
www-data:x:33:33:www-data:/var/www:/sbin/nologin
guest:x:405:100:guest:/dev/null:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
"""
GROUP = """\
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
sys:x:3:root,bin
adm:x:4:root,daemon
tty:x:5:
disk:x:6:root
lp:x:7:lp
kmem:x:9:
wheel:x:10:root
floppy:x:11:root
mail:x:12:mail
news:x:13:news
uucp:x:14:uucp
cron:x:16:cron
audio:x:18:
cdrom:x:19:
dialout:x:20:root
ftp:x:21:
sshd:x:22:
input:x:23:
tape:x:26:root
video:x:27:root
netdev:x:28:
kvm:x:34:kvm
shadow:x:42:
www-data:x:82:
users:x:100:games
utmp:x:406:
ping:x:999:
nogroup:x:65533:
nobody:x:65534:
"""
EMPTY_DIRS = ("tmp", "root", "home", "var", "var/tmp", "var/log", "var/run", "proc", "sys",
              "dev", "etc", "mnt", "run", "srv", "opt", "media", "lib", "usr/lib",
              "usr/local/bin", "usr/local/sbin")
EMPTY_FILES = ("etc/hosts", "etc/resolv.conf", "etc/hostname")


def busybox_binary() -> str:
    found = shutil.which("busybox", path="/bin:/usr/bin")
    if found is None:
        raise FileNotFoundError("busybox is not installed (Debian package busybox-static; "
                                "scripts/install.sh installs it)")
    return found


def busybox_root() -> Path:
    """The busybox root (made on first use) and the setup threads' mountpoint."""
    with _lock:
        if BUSYBOX_ROOT.is_dir() and MOUNTPOINT.is_dir():
            return BUSYBOX_ROOT
        CACHE.mkdir(parents=True, exist_ok=True)
        MOUNTPOINT.mkdir(exist_ok=True)
        if BUSYBOX_ROOT.is_dir():
            return BUSYBOX_ROOT
        staging = Path(tempfile.mkdtemp(dir=CACHE, prefix=".staging-"))
        try:
            _fill(staging)
            os.chmod(staging, 0o755)
            staging.rename(BUSYBOX_ROOT)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not BUSYBOX_ROOT.is_dir():  # not another process's win: a real failure
                raise
        return BUSYBOX_ROOT


def ensure_mountpoint() -> Path:
    if not MOUNTPOINT.is_dir():
        MOUNTPOINT.mkdir(parents=True, exist_ok=True)
    return MOUNTPOINT


def _fill(root: Path) -> None:
    busybox = busybox_binary()
    for name in EMPTY_DIRS:
        (root / name).mkdir(parents=True, exist_ok=True)
    for name in ("bin", "sbin", "usr/bin", "usr/sbin"):
        (root / name).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    shutil.copy2(busybox, root / "bin/busybox")
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = root / applet
        if applet != "bin/busybox" and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink("/bin/busybox", link)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/shadow").write_text("".join(f"{line.split(':')[0]}:!::0:::::\n"
                                             for line in PASSWD.splitlines()))
    os.chmod(root / "etc/shadow", 0o640)
    (root / "etc/os-release").write_text(
        'NAME="BusyBox (cnm-emulator)"\nID=busybox\nPRETTY_NAME="BusyBox on cnm-emulator"\n')
    for name in EMPTY_FILES:
        (root / name).touch()
