"""A plugin that misbehaves at the transport level, for the remote driver's tests.

It activates and states its capabilities; every other call, in MODE:
  hang            never answers
  garbage         answers a body that is not JSON
  notjson-object  answers JSON that is not an object
  die-on-create   the process dies without answering
  noactivate      (activates as an IPAM driver only) answers {}

Usage: python misbehaving.py SOCKET hang|garbage|notjson-object|noactivate|die-on-create
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script: the emulator of this tree comes first, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import threading

from emulator.pluginhttp import Answer, Handler, Method, Raw, serve  # noqa: E402


class Misbehaving(Handler):
    name = "misbehaving"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def activate(self, body: dict) -> dict:
        return {"Implements": ["IpamDriver"] if self.mode == "noactivate" else ["NetworkDriver"]}

    def get_capabilities(self, body: dict) -> dict:
        return {"Scope": "local"}

    def discover_new(self, body: dict) -> dict:
        return {}

    def method(self, call: str) -> Method | None:
        return super().method(call) or self.misbehave

    def misbehave(self, body: dict) -> Answer:
        if self.mode == "hang":
            threading.Event().wait()
        if self.mode == "garbage":
            return Raw(b"<html>surprise</html>")
        if self.mode == "notjson-object":
            return Raw(b"[1, 2, 3]")
        if self.mode == "die-on-create":
            os._exit(1)
        return {}


if __name__ == "__main__":
    serve(sys.argv[1], Misbehaving(sys.argv[2]))
