"""One long-lived nftables session per namespace, for small transactions that cost little.

Starting `nft` costs a few milliseconds per change; libnftables (Debian's
python3-nftables binds it) runs the same scripts in-process, each as one
transaction. Its netlink socket is opened when the session is made, in the
namespace of the calling thread, and stays there; every command is run with the
thread stepped into the namespace as well. Without the binding, each script
goes to an `nft -f -` started in the namespace.
"""

from __future__ import annotations

import threading

from emulator.fabric import firewall
from emulator.fabric.netns import Namespace

try:
    import nftables
except ImportError:  # pragma: no cover - python3-nftables is installed by scripts/install.sh
    nftables = None


class NftSession:
    def __init__(self, namespace: Namespace) -> None:
        self._ns = namespace
        self._lock = threading.Lock()
        self._nft = None
        self._closed = False
        if nftables is not None:
            with namespace.entered():
                self._nft = nftables.Nftables()

    def run(self, script: str) -> None:
        """Run `script` (nft syntax) as one transaction; FirewallError if nft refuses it."""
        with self._lock, self._ns.entered():
            if self._closed:
                raise firewall.FirewallError("the namespace's nft session is closed")
            if self._nft is None:
                firewall.load(script)
                return
            rc, _, error = self._nft.cmd(script)
        if rc != 0:
            raise firewall.FirewallError(f"nft refused the ruleset: {error.strip()}")

    def replace_tables(self, body: str,
                       tables: tuple[tuple[str, str], ...] = firewall.TABLES) -> None:
        """Replace `tables` (family, name) with `body`, in one transaction; an empty
        body only removes them."""
        drop = "".join(f"table {family} {name} {{}}\ndelete table {family} {name}\n"
                       for family, name in tables)
        self.run(drop + body)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._nft = None  # frees the context and its socket
