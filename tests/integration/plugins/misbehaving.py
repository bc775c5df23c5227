"""A plugin that misbehaves at the transport level, for the remote driver's tests.

Usage: python misbehaving.py SOCKET hang|garbage|notjson-object|noactivate|die-on-create
"""

from __future__ import annotations

import json
import os
import socketserver
import sys
import time
from http.server import BaseHTTPRequestHandler

MODE = sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        call = self.path.lstrip("/")
        if call == "Plugin.Activate":
            reply = {"Implements": ["IpamDriver"] if MODE == "noactivate" else ["NetworkDriver"]}
        elif call == "NetworkDriver.GetCapabilities":
            reply = {"Scope": "local"}
        elif call == "NetworkDriver.DiscoverNew":
            reply = {}
        elif MODE == "hang":
            time.sleep(3600)
            return
        elif MODE == "garbage":
            self._send(200, b"<html>surprise</html>")
            return
        elif MODE == "notjson-object":
            self._send(200, b"[1, 2, 3]")
            return
        elif MODE == "die-on-create":
            os._exit(1)
        else:
            reply = {}
        self._send(200, json.dumps(reply).encode())

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return None


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if __name__ == "__main__":
    Server(sys.argv[1], Handler).serve_forever()
