"""A global-scope variant of bridgeplugin (no data plane across hosts): for the tests
of global-scope network bookkeeping only. Usage: python globalbridge.py SOCKET"""

from __future__ import annotations

import sys

from emulator.plugins.bridgeplugin import Plugin, serve


class GlobalPlugin(Plugin):
    def call_NetworkDriver_GetCapabilities(self, body: dict) -> dict:  # noqa: N802
        return {"Scope": "global", "ConnectivityScope": "global"}


if __name__ == "__main__":
    serve(sys.argv[1], GlobalPlugin(None))
