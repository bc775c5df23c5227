"""The embedded DNS server of one emulated Docker host: one thread for every container.

dockerd runs a resolver per container (goroutines are cheap); here one thread per
host serves them all with a selector: each container on a user-defined network
gets a UDP and a TCP socket on 127.0.0.11 in its own namespace (random ports, NAT
rules for port 53 beside them: `fabric/dnssockets.py`), made once when its first
such endpoint joins and closed when its sandbox goes. A query is answered from the
engine's published view (`cnm/dnsnames.py`, `cnm/dnsanswers.py`) without a lock,
a thread or a namespace switch of its own.

What no network knows is forwarded, as libnetwork's forwardExtDNS does: to the
container's own --dns servers (from the container's namespace) if it has any,
else to the host's resolvers (from the host's namespace, and only if the
container has a network with a way out: an internal network's container asks no
one). Up to three servers in order, each given 4 s; a SERVFAIL or REFUSED, a
refused connection or silence moves on to the next; when none answers, SERVFAIL.
UDP queries go upstream over UDP, TCP ones over TCP, with a query ID of our own
so that queries from many containers can share one socket per upstream server.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.rcode

from emulator.cnm import dnsanswers
from emulator.cnm.dnsanswers import Forward
from emulator.cnm.dnsnames import NameTable
from emulator.cnm.model import Container
from emulator.cnm.view import View
from emulator.fabric.base import HostFabric, SandboxHandle
from emulator.fabric.dnssockets import RESOLVER_ADDRESS, ResolverSockets

log = logging.getLogger(__name__)

MAX_UPSTREAMS = 3
UPSTREAM_TIMEOUT = 4.0
UNKNOWN_SOURCE_WAIT = 2.0
"""How long a query from a container the published view does not show yet (its
process started moments before the write that made it ended) waits for it."""
MAX_MESSAGE = 65535

Views = Callable[[], tuple[View, Sequence[View]]]
"""This host's view and the views of the hosts sharing swarm networks with it."""


@dataclass
class Client:
    """One container the resolver serves."""

    container_id: str
    sandbox: SandboxHandle
    sockets: ResolverSockets
    servers: tuple[str, ...] = ()  # its --dns servers, asked from its namespace
    ndots_set: bool = False


@dataclass
class ReplyTo:
    """Where the answer to one query goes: a UDP peer, or a TCP connection."""

    client: Client
    udp_peer: tuple[str, int] | None = None
    stream: Stream | None = None


@dataclass
class Stream:
    """A TCP connection from a client, or to an upstream server."""

    sock: socket.socket
    inbox: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    client: Client | None = None
    pending: Pending | None = None  # upstream connections: the query they carry


@dataclass
class Pending:
    """A query on its way to the upstream servers."""

    query: dns.message.Message
    reply_to: ReplyTo
    tcp: bool
    servers: list[str]
    from_container: bool
    attempt: int = 0
    upstream_id: int = 0
    socket_key: tuple | None = None
    stream: Stream | None = None
    done: bool = False


class EmbeddedDns:
    def __init__(self, host: str, fabric: HostFabric, views: Views,
                 dns_servers: Sequence[str] = (), upstream_port: int = 53) -> None:
        self.host = host
        self._fabric = fabric
        self._views = views
        self.dns_servers = [s for s in dns_servers if s != RESOLVER_ADDRESS][:MAX_UPSTREAMS]
        self._upstream_port = upstream_port
        self._lock = threading.RLock()
        self._clients: dict[str, Client] = {}
        self._selector: selectors.BaseSelector | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._stopping = False
        self._table: NameTable | None = None
        self._table_views: tuple[View, ...] = ()
        self._upstreams: dict[tuple, socket.socket] = {}
        self._in_flight: dict[tuple, dict[int, Pending]] = {}
        self._timers: list[tuple[float, int, Pending, int]] = []
        self._sequence = itertools.count()
        self._waiting: list[tuple[float, bytes, ReplyTo]] = []
        self.answered = 0

    # -- what the engine calls (holding its lock) ----------------------------------

    def serve(self, container: Container, servers: Sequence[str] = (),
              ndots_set: bool = False) -> None:
        """Start answering in the container's namespace (idempotent), as libnetwork's
        startResolver does when the first endpoint needing it joins."""
        if container.id in self._clients or container.sandbox is None:
            return
        if container.sandbox.shares_host:
            return
        sockets = self._fabric.open_resolver(container.sandbox)
        if sockets is None:  # a fabric without a kernel: nothing to listen on
            return
        client = Client(container.id, container.sandbox, sockets,
                        tuple(s for s in servers if s != RESOLVER_ADDRESS)[:MAX_UPSTREAMS],
                        ndots_set)
        with self._lock:
            self._start()
            assert self._selector is not None
            self._clients[container.id] = client
            self._selector.register(sockets.udp, selectors.EVENT_READ, ("udp", client))
            self._selector.register(sockets.tcp, selectors.EVENT_READ, ("accept", client))

    def release(self, container_id: str) -> None:
        """Stop answering for a container: its sockets close (they hold its namespace)."""
        with self._lock:
            client = self._clients.pop(container_id, None)
            if client is None:
                return
            for sock in (client.sockets.udp, client.sockets.tcp):
                self._forget(sock)
            for key in [k for k in self._upstreams if k[0] == container_id]:
                self._drop_upstream(key)
            if self._selector is not None:
                for key in list(self._selector.get_map().values()):
                    kind, owner = key.data
                    if kind == "stream" and owner.client is client:
                        self._close_stream(owner)

    def serving(self, container_id: str) -> ResolverSockets | None:
        """The container's resolver sockets, if it is served."""
        client = self._clients.get(container_id)
        return client.sockets if client else None

    def view_changed(self) -> None:
        """A write published a view: queries waiting for their container may go on."""
        if self._waiting:
            self._wake()

    def close(self) -> None:
        with self._lock:
            for cid in list(self._clients):
                self.release(cid)
            self._stopping = True
            thread = self._thread
        if thread is not None:
            self._wake()
            thread.join(timeout=10)
        with self._lock:
            for key in list(self._upstreams):
                self._drop_upstream(key)
            if self._selector is not None:
                for key in list(self._selector.get_map().values()):
                    if key.data[0] == "stream":
                        self._close_stream(key.data[1])
                self._selector.close()
                self._selector = None
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1
            self._thread = None

    # -- the thread ------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"dns-{self.host}",
                                        daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        while not self._stopping:
            timeout = self._next_timeout()
            try:
                events = selector.select(timeout)
            except (OSError, ValueError):
                if self._stopping:
                    return
                raise
            with self._lock:
                if self._stopping:
                    return
                for key, mask in events:
                    try:
                        self._dispatch(key, mask)
                    except Exception:  # one bad query must not stop the host's DNS
                        log.exception("embedded DNS on %s: query failed", self.host)
                # a view published while these were handled wakes no one: look again
                self._retry_waiting()
                self._expire(time.monotonic())

    def _next_timeout(self) -> float | None:
        deadlines = [t[0] for t in self._timers[:1]] + [w[0] for w in self._waiting[:1]]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _dispatch(self, key: selectors.SelectorKey, mask: int) -> None:
        kind, owner = key.data
        if kind == "wake":
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
            self._retry_waiting()
        elif kind == "udp":
            self._read_udp(owner)
        elif kind == "accept":
            self._accept(owner)
        elif kind == "stream":
            self._stream_event(owner, mask)
        elif kind == "upstream":
            self._read_upstream(owner)

    # -- clients ------------------------------------------------------------------------

    def _read_udp(self, client: Client) -> None:
        for _ in range(64):  # a burst at a time, then let the others speak
            try:
                wire, peer = client.sockets.udp.recvfrom(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._handle(wire, ReplyTo(client, udp_peer=peer))

    def _accept(self, client: Client) -> None:
        try:
            conn, _ = client.sockets.tcp.accept()
        except (BlockingIOError, InterruptedError, OSError):
            return
        conn.setblocking(False)
        stream = Stream(conn, client=client)
        assert self._selector is not None
        self._selector.register(conn, selectors.EVENT_READ, ("stream", stream))

    def _stream_event(self, stream: Stream, mask: int) -> None:
        if stream.pending is not None:
            self._upstream_stream_event(stream, mask)
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(stream)
        if not mask & selectors.EVENT_READ:
            return
        frames = _received_frames(stream)
        if frames is None:
            self._close_stream(stream)
            return
        for wire in frames:
            assert stream.client is not None
            self._handle(wire, ReplyTo(stream.client, stream=stream))

    def _handle(self, wire: bytes, reply_to: ReplyTo) -> None:
        parsed = dnsanswers.parse(wire)
        if parsed is None:
            return
        if isinstance(parsed, bytes):
            self._reply(reply_to, parsed)
            return
        table = self._current_table()
        cid = reply_to.client.container_id
        if not table.knows(cid):
            self._waiting.append((time.monotonic() + UNKNOWN_SOURCE_WAIT, wire, reply_to))
            return
        self._answer(table, parsed, reply_to)

    def _answer(self, table: NameTable, query: dns.message.Message,
                reply_to: ReplyTo) -> None:
        client = reply_to.client
        result = dnsanswers.answer(table, client.container_id, query,
                                   tcp=reply_to.stream is not None,
                                   ndots_set=client.ndots_set)
        if isinstance(result, Forward):
            self._forward(result.query, reply_to)
        else:
            self._reply(reply_to, result)

    def _retry_waiting(self, now: float | None = None) -> None:
        if not self._waiting:
            return
        table = self._current_table()
        still = []
        for deadline, wire, reply_to in self._waiting:
            known = table.knows(reply_to.client.container_id)
            if known or (now is not None and now >= deadline):
                query = dnsanswers.parse(wire)
                if isinstance(query, dns.message.Message):
                    self._answer(table, query, reply_to)
            else:
                still.append((deadline, wire, reply_to))
        self._waiting = still

    def _current_table(self) -> NameTable:
        local, peers = self._views()
        views = (local, *peers)
        same = len(views) == len(self._table_views) and all(
            a is b for a, b in zip(views, self._table_views, strict=True))
        if self._table is None or not same:
            self._table = NameTable(local, peers)
            self._table_views = views  # held, so that a new view cannot reuse an old one's id
        return self._table

    def _reply(self, reply_to: ReplyTo, wire: bytes) -> None:
        self.answered += 1
        if reply_to.client.container_id not in self._clients:
            return
        if reply_to.udp_peer is not None:
            try:
                reply_to.client.sockets.udp.sendto(wire, reply_to.udp_peer)
            except OSError:
                pass
            return
        stream = reply_to.stream
        if stream is None or stream.sock.fileno() < 0:
            return
        stream.outbox += len(wire).to_bytes(2, "big") + wire
        self._flush(stream)

    def _flush(self, stream: Stream) -> None:
        try:
            sent = stream.sock.send(stream.outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close_stream(stream)
            return
        del stream.outbox[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if stream.outbox else 0)
        assert self._selector is not None
        self._selector.modify(stream.sock, events, ("stream", stream))

    def _close_stream(self, stream: Stream) -> None:
        self._forget(stream.sock)

    def _forget(self, sock: socket.socket) -> None:
        if self._selector is not None and sock.fileno() >= 0:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
        sock.close()

    # -- forwarding ---------------------------------------------------------------------

    def _forward(self, query: dns.message.Message, reply_to: ReplyTo) -> None:
        client = reply_to.client
        if client.servers:
            servers, from_container = list(client.servers), True
        elif self._has_way_out(client.container_id):
            servers, from_container = list(self.dns_servers), False
        else:
            servers, from_container = [], False
        pending = Pending(query, reply_to, reply_to.stream is not None, servers,
                          from_container)
        self._next_server(pending)

    def _has_way_out(self, container_id: str) -> bool:
        """libnetwork's Sandbox.hasExternalAccess: an endpoint with a gateway of
        either family on a network that is not internal."""
        local, _ = self._views()
        container = local.containers.get(container_id)
        if container is None:
            return False
        for net_id, endpoint in container.endpoints.items():
            network = local.networks.get(net_id)
            if network is None or network.internal:
                continue
            if endpoint.gateway is not None or endpoint.gateway6 is not None:
                return True
        return False

    def _next_server(self, pending: Pending) -> None:
        """Ask the next server, or answer SERVFAIL when none is left."""
        self._leave_upstream(pending)
        while pending.servers:
            server = pending.servers.pop(0)
            pending.attempt += 1
            try:
                if pending.tcp:
                    self._ask_over_tcp(pending, server)
                else:
                    self._ask_over_udp(pending, server)
            except OSError as exc:
                log.debug("embedded DNS on %s: %s unreachable: %s", self.host, server, exc)
                self._leave_upstream(pending)
                continue
            deadline = time.monotonic() + UPSTREAM_TIMEOUT
            heapq.heappush(self._timers, (deadline, next(self._sequence), pending,
                                          pending.attempt))
            return
        pending.done = True
        self._reply(pending.reply_to, dnsanswers.servfail(pending.query))

    def _namespace_key(self, pending: Pending) -> tuple[str | None, SandboxHandle | None]:
        client = pending.reply_to.client
        if pending.from_container:
            return client.container_id, client.sandbox
        return None, None

    def _ask_over_udp(self, pending: Pending, server: str) -> None:
        owner, sandbox = self._namespace_key(pending)
        key = (owner, server)
        sock = self._upstreams.get(key)
        if sock is None:
            sock = self._fabric.upstream_socket(sandbox, server, self._upstream_port, tcp=False)
            self._upstreams[key] = sock
            self._in_flight[key] = {}
            assert self._selector is not None
            self._selector.register(sock, selectors.EVENT_READ, ("upstream", key))
        in_flight = self._in_flight[key]
        upstream_id = random.randrange(65536)
        while upstream_id in in_flight:
            upstream_id = random.randrange(65536)
        wire = _with_id(pending.query, upstream_id)
        sock.send(wire)
        pending.upstream_id = upstream_id
        pending.socket_key = key
        in_flight[upstream_id] = pending

    def _read_upstream(self, key: tuple) -> None:
        sock = self._upstreams.get(key)
        if sock is None:
            return
        for _ in range(64):
            try:
                wire = sock.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP said no one listens there: every query on this socket moves on
                log.debug("embedded DNS on %s: upstream %s: %s", self.host, key[1], exc)
                for pending in list(self._in_flight.get(key, {}).values()):
                    self._next_server(pending)
                return
            if len(wire) < 2:
                continue
            pending = self._in_flight.get(key, {}).get(int.from_bytes(wire[:2], "big"))
            if pending is not None:
                self._upstream_answered(pending, wire)

    def _upstream_answered(self, pending: Pending, wire: bytes) -> None:
        try:
            response = dns.message.from_wire(wire, ignore_trailing=True)
        except dns.exception.DNSException:
            return  # not an answer: keep waiting for one
        if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
            self._next_server(pending)
            return
        self._leave_upstream(pending)
        pending.done = True
        response.id = pending.query.id
        try:
            relayed = response.to_wire()
        except dns.exception.DNSException:
            relayed = pending.query.id.to_bytes(2, "big") + wire[2:]
        self._reply(pending.reply_to, relayed)

    def _leave_upstream(self, pending: Pending) -> None:
        """Forget the server the query was last sent to."""
        if pending.socket_key is not None:
            self._in_flight.get(pending.socket_key, {}).pop(pending.upstream_id, None)
            pending.socket_key = None
        if pending.stream is not None:
            self._close_stream(pending.stream)
            pending.stream = None

    def _drop_upstream(self, key: tuple) -> None:
        sock = self._upstreams.pop(key, None)
        for pending in self._in_flight.pop(key, {}).values():
            pending.socket_key = None
            pending.done = True
        if sock is not None:
            self._forget(sock)

    def _ask_over_tcp(self, pending: Pending, server: str) -> None:
        _, sandbox = self._namespace_key(pending)
        sock = self._fabric.upstream_socket(sandbox, server, self._upstream_port, tcp=True)
        wire = pending.query.to_wire()
        stream = Stream(sock, outbox=bytearray(len(wire).to_bytes(2, "big") + wire),
                        pending=pending)
        pending.stream = stream
        assert self._selector is not None
        self._selector.register(sock, selectors.EVENT_WRITE | selectors.EVENT_READ,
                                ("stream", stream))

    def _upstream_stream_event(self, stream: Stream, mask: int) -> None:
        pending = stream.pending
        assert pending is not None
        error = stream.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self._next_server(pending)
            return
        if mask & selectors.EVENT_WRITE and stream.outbox:
            try:
                sent = stream.sock.send(stream.outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._next_server(pending)
                return
            del stream.outbox[:sent]
            if not stream.outbox:
                assert self._selector is not None
                self._selector.modify(stream.sock, selectors.EVENT_READ, ("stream", stream))
        if not mask & selectors.EVENT_READ:
            return
        frames = _received_frames(stream)
        if frames is None:
            self._next_server(pending)
            return
        for wire in frames:
            self._upstream_answered(pending, wire)
            return

    def _expire(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, pending, attempt = heapq.heappop(self._timers)
            if not pending.done and pending.attempt == attempt:
                self._next_server(pending)
        if self._waiting and self._waiting[0][0] <= now:
            self._retry_waiting(now)


def _received_frames(stream: Stream) -> list[bytes] | None:
    """The whole DNS messages that arrived on a TCP stream (none yet: []), or None once
    the peer has closed it or it failed."""
    try:
        data = stream.sock.recv(MAX_MESSAGE)
    except (BlockingIOError, InterruptedError):
        return []
    except OSError:
        data = b""
    if not data:
        return None
    stream.inbox += data
    return list(_frames(stream.inbox))


def _frames(inbox: bytearray) -> list[bytes]:
    """Complete length-prefixed DNS messages of a TCP stream, removed from `inbox`."""
    frames = []
    while len(inbox) >= 2:
        size = int.from_bytes(inbox[:2], "big")
        if len(inbox) < 2 + size:
            break
        frames.append(bytes(inbox[2:2 + size]))
        del inbox[:2 + size]
    return frames


def _with_id(query: dns.message.Message, upstream_id: int) -> bytes:
    original = query.id
    query.id = upstream_id
    try:
        return query.to_wire()
    finally:
        query.id = original

