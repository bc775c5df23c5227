"""The sample bridge plugin, recording every call, with the deviations issue 18 names.

Each call is appended to RECORD as one JSON line {"call", "body", "reply"}; a Join
also records what the plugin sees through its SandboxKey ("sandbox": the links
`ip -o link` lists in the namespace the path opens, or the error). Options:

  --no-gateway        Join answers no Gateway (Docker's gateway service applies)
  --fail CALL         answer {"Err"} to NetworkDriver.CALL (repeatable)
  --keep-veth         Leave deletes nothing (the container's end comes back to the host)
  --echo-address      CreateEndpoint answers the Address it was given
  --scope SCOPE       GetCapabilities' Scope (default local)

Usage: python recording.py SOCKET RECORD [options]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from pathlib import Path

# Run as a script: the emulator of this tree comes first, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from emulator.pluginhttp import CallFailed, Method, serve  # noqa: E402
from emulator.plugins.bridgeplugin import Plugin  # noqa: E402


class Recording(Plugin):
    name = "recording"

    def __init__(self, record: Path, args: argparse.Namespace) -> None:
        super().__init__(None)
        self.record = record
        self.args = args
        self._lock = threading.Lock()

    def _write(self, entry: dict) -> None:
        with self._lock, self.record.open("a") as out:
            out.write(json.dumps(entry) + "\n")

    def method(self, call: str) -> Method | None:
        method = super().method(call)
        if method is None:
            return None

        def recorded(body: dict):
            entry: dict = {"call": call, "body": body}
            try:
                if call.removeprefix("NetworkDriver.") in (self.args.fail or []):
                    raise CallFailed(f"recording: {call} fails on purpose")
                reply = method(body)
                entry["reply"] = reply
                return reply
            except CallFailed as exc:
                entry["reply"] = {"Err": str(exc)}
                raise
            finally:
                if call == "NetworkDriver.Join":
                    entry["sandbox"] = self._look_into(body.get("SandboxKey", ""))
                self._write(entry)
        return recorded

    @staticmethod
    def _look_into(key: str) -> dict:
        done = subprocess.run(["nsenter", f"--net={key}", "ip", "-o", "link", "show"],
                              capture_output=True, text=True)
        links = [line.split(":")[1].strip().split("@")[0] for line in done.stdout.splitlines()]
        return {"exit": done.returncode, "links": links, "error": done.stderr.strip()}

    def get_capabilities(self, body: dict) -> dict:
        return {"Scope": self.args.scope, "ConnectivityScope": self.args.scope}

    def create_endpoint(self, body: dict) -> dict:
        reply = super().create_endpoint(body)
        if self.args.echo_address:
            reply = {"Interface": {"Address": (body.get("Interface") or {}).get("Address")}}
        return reply

    def join(self, body: dict) -> dict:
        reply = super().join(body)
        if self.args.no_gateway:
            reply.pop("Gateway", None)
        return reply

    def leave(self, body: dict) -> dict:
        return {} if self.args.keep_veth else super().leave(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("socket")
    parser.add_argument("record", type=Path)
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--fail", action="append")
    parser.add_argument("--keep-veth", action="store_true")
    parser.add_argument("--echo-address", action="store_true")
    parser.add_argument("--scope", default="local")
    args = parser.parse_args()
    serve(args.socket, Recording(args.record, args))


if __name__ == "__main__":
    main()
