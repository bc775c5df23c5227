"""A global-scope variant of bridgeplugin (no data plane across hosts): for the tests
of global-scope network bookkeeping only. Usage: python globalbridge.py SOCKET"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script: the emulator of this tree comes first, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from emulator.pluginhttp import serve  # noqa: E402
from emulator.plugins.bridgeplugin import Plugin  # noqa: E402


class GlobalPlugin(Plugin):
    def get_capabilities(self, body: dict) -> dict:
        return {"Scope": "global", "ConnectivityScope": "global"}


if __name__ == "__main__":
    serve(sys.argv[1], GlobalPlugin(None))
