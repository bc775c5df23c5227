"""The router: TCP connections between mesh peers (port 6783), and what they say.

Peers are named by their advertise (underlay) address. Every peer keeps one
connection to every other peer it knows of: a full mesh, which it builds by itself
from any one connection, because peers tell each other whom they are connected to.

Wire format: newline-delimited JSON objects, each with a "type":

    hello   {"protocol": 1, "peer": ADDRESS}       first line, both ways
    state   {"peers": [...], "endpoints": [...]}   after hello, both ways: the whole
                                                   of what the sender itself has
    peers   {"peers": [...]}                       a peer the sender just connected to
    add     {"endpoints": [...]}                   the sender's new endpoints
    remove  {"endpoints": [{"network", "endpoint"}]}
    bye     {}                                     the sender is stopping
    ping    {}                                     every 5 s of silence; 20 s of
                                                   silence means the peer is gone

An endpoint record is {"network", "endpoint", "mac", "ip", "peer"}. Each peer speaks
only for its own endpoints, so a record lives exactly as long as the connection
to the peer that has it: when that connection goes, its records go.

When both sides dial at once, both keep the connection dialled by the lower
address and close the other (both sides decide the same way).
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Protocol

PORT = 6783
PROTOCOL = 1
PING_EVERY = 5.0
DEAD_AFTER = 20.0
HANDSHAKE_TIMEOUT = 5.0
DIAL_TIMEOUT = 3.0
MAX_LINE = 16 << 20
FORGET_AFTER_FAILURES = 5  # a peer only heard of (not asked for) is dropped after these

log = logging.getLogger("mesh.router")


class ProtocolError(RuntimeError):
    pass


class Handler(Protocol):
    """What the router tells the daemon; always called with the daemon's lock held."""

    def local_records(self) -> list[dict]: ...
    def peer_state(self, peer: str, records: list[dict]) -> None: ...
    def peer_update(self, peer: str, added: list[dict], removed: list[dict]) -> None: ...
    def peer_lost(self, peer: str) -> None: ...
    def membership_changed(self) -> None: ...


class Connection:
    """One TCP connection to a peer: a reader thread (the router's) and a writer thread
    fed by a queue, so that a slow peer never blocks the daemon."""

    def __init__(self, sock: socket.socket, outbound: bool, initiator: str) -> None:
        self.sock = sock
        self.outbound = outbound
        self.initiator = initiator
        self.peer = ""
        self.since = time.time()
        self._queue: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        self._buffer = b""
        self._closed = threading.Event()
        self._writer: threading.Thread | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def read(self) -> dict | None:
        """The next message, or None at the end of the stream."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE:
                raise ProtocolError("message too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            raise ProtocolError("not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError("not a message object")
        return message

    def send_now(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write, name=f"mesh-tx-{self.peer}",
                                        daemon=True)
        self._writer.start()

    def send(self, message: dict) -> None:
        if not self.closed:
            self._queue.put(message)

    def finish(self) -> None:
        """Send what is queued, then close (the reader sees the end and cleans up)."""
        self._queue.put(None)

    def close(self) -> None:
        self._closed.set()
        self._queue.put(None)
        self._shutdown()

    def release(self) -> None:
        """Called by the reader thread when it is done: the socket is closed once."""
        self.close()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join(timeout=2.0)
        self.sock.close()

    def _shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self) -> None:
        try:
            while True:
                try:
                    message = self._queue.get(timeout=PING_EVERY)
                except queue.Empty:
                    message = {"type": "ping"}
                if message is None:
                    break
                self.send_now(message)
        except OSError as exc:
            log.info("sending to %s: %s", self.peer, exc)
        finally:
            self._closed.set()
            self._shutdown()


@dataclass
class Peer:
    address: str
    target: bool  # asked for (launch, connect): retried for ever; else heard of in gossip
    conn: Connection | None = None
    synced: bool = False  # its whole state has arrived over conn
    dialing: bool = False
    failures: int = 0
    next_attempt: float = 0.0
    last_error: str = ""
    changed: float = field(default_factory=time.time)
    left: bool = False

    def state(self) -> str:
        if self.conn is not None:
            return "established" if self.synced else "handshaking"
        if self.dialing:
            return "connecting"
        if self.left:
            return "stopped"
        return "retrying" if self.failures else "waiting"


def _backoff(failures: int) -> float:
    return min(5.0, 0.25 * 2 ** max(0, failures - 1))


class Router:
    def __init__(self, address: str, handler: Handler, lock: threading.RLock,
                 port: int = PORT) -> None:
        self.address = address
        self.port = port
        self.handler = handler
        self.lock = lock
        self.changed = threading.Condition(lock)
        self.peers: dict[str, Peer] = {}
        self.stopping = False
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------

    def listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, self.port))
        sock.listen(64)
        self._listener = sock

    def start(self) -> None:
        for target, name in ((self._accept_loop, "mesh-accept"), (self._dial_loop, "mesh-dial")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Say bye to every peer and close every connection."""
        with self.lock:
            self.stopping = True
            conns = [p.conn for p in self.peers.values() if p.conn is not None]
            for conn in conns:
                conn.send({"type": "bye"})
                conn.finish()
            self.changed.notify_all()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        deadline = time.monotonic() + 2.0
        for conn in conns:
            while not conn.closed and time.monotonic() < deadline:
                time.sleep(0.01)
            conn.close()

    # -- peers ----------------------------------------------------------------

    def add_peer(self, address: str, target: bool = True) -> Peer | None:
        """Peer with `address` (from now on, and again whenever the connection is lost)."""
        with self.lock:
            if address == self.address:
                return None
            peer = self.peers.get(address)
            if peer is None:
                peer = self.peers[address] = Peer(address, target)
            if target:
                peer.target = True
                peer.left = False
                peer.next_attempt = 0.0
            self.changed.notify_all()
            return peer

    def connected(self) -> list[str]:
        with self.lock:
            return sorted((a for a, p in self.peers.items() if p.conn is not None),
                          key=IPv4Address)

    def wait_synced(self, address: str, timeout: float) -> bool:
        with self.lock:
            return self.changed.wait_for(
                lambda: (p := self.peers.get(address)) is not None and p.synced, timeout)

    def broadcast(self, message: dict) -> None:
        with self.lock:
            for peer in self.peers.values():
                if peer.conn is not None:
                    peer.conn.send(message)

    def status(self) -> list[dict]:
        with self.lock:
            rows = []
            for address in sorted(self.peers, key=IPv4Address):
                peer = self.peers[address]
                rows.append({
                    "peer": address, "state": peer.state(),
                    "direction": ("outbound" if peer.conn.outbound else "inbound")
                    if peer.conn is not None else "",
                    "since": peer.conn.since if peer.conn is not None else peer.changed,
                    "target": peer.target, "failures": peer.failures,
                    "error": peer.last_error})
            return rows

    def _learn(self, addresses: object) -> None:
        if not isinstance(addresses, list):
            return
        for address in addresses:
            try:
                address = str(IPv4Address(str(address)))
            except ValueError:
                continue
            if address != self.address and address not in self.peers:
                log.info("heard of peer %s", address)
                self.peers[address] = Peer(address, target=False)
                self.changed.notify_all()

    # -- connections ----------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock, False, None),
                             name="mesh-rx", daemon=True).start()

    def _dial_loop(self) -> None:
        with self.lock:
            while not self.stopping:
                now = time.monotonic()
                wake = now + 1.0
                for peer in list(self.peers.values()):
                    if peer.conn is not None or peer.dialing:
                        continue
                    if peer.next_attempt <= now:
                        peer.dialing = True
                        threading.Thread(target=self._dial, args=(peer.address,),
                                         name=f"mesh-dial-{peer.address}", daemon=True).start()
                    else:
                        wake = min(wake, peer.next_attempt)
                self.changed.wait(max(0.01, wake - now))

    def _dial(self, address: str) -> None:
        try:
            sock = socket.create_connection((address, self.port), timeout=DIAL_TIMEOUT,
                                            source_address=(self.address, 0))
        except OSError as exc:
            self._dial_failed(address, exc.strerror or str(exc))
            return
        self._serve(sock, True, address)

    def _dial_failed(self, address: str, error: str) -> None:
        with self.lock:
            peer = self.peers.get(address)
            if peer is None:
                return
            peer.dialing = False
            if peer.conn is not None:
                return
            peer.failures += 1
            peer.last_error = error
            peer.changed = time.time()
            peer.next_attempt = time.monotonic() + _backoff(peer.failures)
            if not peer.target and peer.failures >= FORGET_AFTER_FAILURES:
                log.info("forgetting peer %s: %s", address, error)
                del self.peers[address]
            self.changed.notify_all()

    def _handshake(self, conn: Connection, dialled: str | None) -> str:
        conn.sock.settimeout(HANDSHAKE_TIMEOUT)
        conn.send_now({"type": "hello", "protocol": PROTOCOL, "peer": self.address})
        hello = conn.read()
        if hello is None:
            raise ProtocolError("closed before hello")
        if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL:
            raise ProtocolError(f"not a mesh peer (protocol {PROTOCOL}): {hello!r}"[:200])
        try:
            peer = str(IPv4Address(str(hello.get("peer"))))
        except ValueError:
            raise ProtocolError(f"bad peer name {hello.get('peer')!r}") from None
        if peer == self.address:
            raise ProtocolError("connected to itself")
        if dialled is not None and peer != dialled:
            with self.lock:
                self._learn([peer])
            raise ProtocolError(f"{dialled} answered as {peer}")
        conn.sock.settimeout(DEAD_AFTER)
        return peer

    def _serve(self, sock: socket.socket, outbound: bool, dialled: str | None) -> None:
        initiator = self.address if outbound else ""
        conn = Connection(sock, outbound, initiator)
        try:
            conn.peer = self._handshake(conn, dialled)
        except (OSError, ProtocolError) as exc:
            log.info("handshake with %s failed: %s", dialled or "an inbound peer", exc)
            conn.release()
            if dialled is not None:
                self._dial_failed(dialled, str(exc))
            return
        if not outbound:
            conn.initiator = conn.peer
        if not self._register(conn):
            conn.release()
            return
        try:
            while True:
                message = conn.read()
                if message is None:
                    break
                with self.lock:
                    if not self._current(conn):
                        break
                    self._dispatch(conn.peer, message)
        except (OSError, ProtocolError) as exc:
            log.info("connection to %s: %s", conn.peer, exc)
        finally:
            conn.release()
            self._lost(conn)

    def _current(self, conn: Connection) -> bool:
        peer = self.peers.get(conn.peer)
        return peer is not None and peer.conn is conn

    def _preferred(self, old: Connection, new: Connection) -> Connection:
        lower = min(self.address, new.peer, key=IPv4Address)
        if old.initiator != lower and new.initiator == lower:
            return new
        return old

    def _register(self, conn: Connection) -> bool:
        with self.lock:
            if self.stopping:
                return False
            peer = self.peers.get(conn.peer)
            if peer is None:
                peer = self.peers[conn.peer] = Peer(conn.peer, target=False)
            if conn.outbound:
                peer.dialing = False
            old = peer.conn
            if old is not None and not old.closed:
                if self._preferred(old, conn) is old:
                    return False
                old.close()  # its reader finds it is no longer current: no loss reported
            peer.conn = conn
            peer.synced = False
            peer.failures = 0
            peer.last_error = ""
            peer.left = False
            peer.changed = time.time()
            conn.start_writer()
            others = [a for a, p in self.peers.items() if p.conn is not None and a != conn.peer]
            conn.send({"type": "state", "peers": [self.address, *others],
                       "endpoints": self.handler.local_records()})
            for address in others:
                self.peers[address].conn.send({"type": "peers", "peers": [conn.peer]})
            log.info("connected to %s (%s)", conn.peer,
                     "outbound" if conn.outbound else "inbound")
            self.handler.membership_changed()
            self.changed.notify_all()
            return True

    def _lost(self, conn: Connection) -> None:
        with self.lock:
            if not self._current(conn):
                return
            peer = self.peers[conn.peer]
            peer.conn = None
            peer.synced = False
            peer.changed = time.time()
            log.info("lost connection to %s%s", conn.peer, " (it stopped)" if peer.left else "")
            if self.stopping:
                return
            self.handler.peer_lost(conn.peer)
            self.handler.membership_changed()
            if peer.left and not peer.target:
                del self.peers[conn.peer]
            else:
                # The other side may be dialling back already; give it a moment.
                peer.next_attempt = time.monotonic() + (_backoff(3) if peer.left else 0.2)
            self.changed.notify_all()

    def _dispatch(self, address: str, message: dict) -> None:
        peer = self.peers[address]
        kind = message["type"]
        if kind == "state":
            records = message.get("endpoints") or []
            self.handler.peer_state(address, [r for r in records if isinstance(r, dict)])
            self._learn(message.get("peers"))
            peer.synced = True
            self.changed.notify_all()
        elif kind == "add":
            added = [r for r in message.get("endpoints") or [] if isinstance(r, dict)]
            self.handler.peer_update(address, added, [])
        elif kind == "remove":
            removed = [r for r in message.get("endpoints") or [] if isinstance(r, dict)]
            self.handler.peer_update(address, [], removed)
        elif kind == "peers":
            self._learn(message.get("peers"))
        elif kind == "bye":
            peer.left = True
        elif kind != "ping":
            log.debug("ignoring message %r from %s", kind, address)

