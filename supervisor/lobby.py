"""Where a connection waits, in the supervisor, until its first PDU has arrived.

A connection that never sends its A-ASSOCIATE-RQ used to be handed to a worker
at once and counted against --max-associations until -ta expired: 300 silent
connections from one address locked every other sender out. Now the supervisor
keeps each new connection here until the whole first PDU (the A-ASSOCIATE-RQ,
or the TLS ClientHello record on a TLS port; at most PEEK_CAP bytes of it) sits
in the socket's receive buffer: only then is it dispatched and counted.
The bytes are only peeked, so the worker reads the stream from its first byte.

Waiting costs no CPU: SO_RCVLOWAT makes poll() report the socket only once the
bytes still missing have arrived (or the peer closed). The lobby is bounded per
peer address (--max-pending-per-host) and in total (--max-pending); when a
bound is reached the oldest waiting connection of that address, or of the
address with the most waiting connections, is closed to make room, so a flood
from one address only ever displaces its own connections. A connection still
incomplete after -ta is closed with dcmrecv's time-out line.
"""

from __future__ import annotations

import collections
import resource
import socket
import struct
import time

PEEK_CAP = 16384                # a larger first PDU is handed over once this much of it is here
MAX_REQUEST_PDU = 1 << 20       # as the worker: a larger "request" is handed over for its abort
A_ASSOCIATE_RQ = 0x01
TLS_HANDSHAKE = 0x16
DEFAULT_MAX_PENDING = 512
DEFAULT_MAX_PENDING_PER_HOST = 64
FD_RESERVE = 64                 # the supervisor's own descriptors (ZeroMQ, hand-off, HTTP, ...)

# reasons a waiting connection is closed (also the labels of the metric)
PER_HOST, TOTAL, TIMEOUT, PEER_CLOSED, FD_LIMIT = ("pending-per-host", "pending-total", "acse-timeout",
                                                  "closed-before-request", "fd-limit")
PEER_HOSTS = "peer-hosts"       # closed by the arbiter before the lobby: not in --peer-hosts
REASONS = (PER_HOST, TOTAL, TIMEOUT, PEER_CLOSED, FD_LIMIT, PEER_HOSTS)


def descriptor_budget() -> int:
    """Descriptors the supervisor may spend on connections it holds (lobby, PROXY headers, rejections).

    The supervisor must never reach its descriptor limit: accept() would fail, and libzmq
    aborts the whole process when its own accept() gets EMFILE (ipc_listener.cpp).
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4 * DEFAULT_MAX_PENDING
    return max(16, soft - FD_RESERVE)


def max_pending(configured: int | None) -> int:
    """--max-pending (default 512), never more than half the descriptor budget."""
    return max(8, min(configured or DEFAULT_MAX_PENDING, descriptor_budget() // 2))


def bytes_wanted(head: bytes, tls: bool) -> int:
    """How many bytes of the stream make its first PDU (capped); len(head) when it is no PDU the
    worker would wait for (the worker answers garbage at once, so it gets it at once)."""
    if tls:
        if len(head) < 5:
            return 5
        if head[0] != TLS_HANDSHAKE:
            return len(head)
        return min(5 + struct.unpack_from(">H", head, 3)[0], PEEK_CAP)
    if len(head) < 6:
        return 6
    length = struct.unpack_from(">L", head, 2)[0]
    if head[0] != A_ASSOCIATE_RQ or length > MAX_REQUEST_PDU:
        return len(head)
    return min(6 + length, PEEK_CAP)


class Waiting:
    __slots__ = ("conn", "peer", "probe", "deadline", "wanted")

    def __init__(self, conn, peer, probe, deadline) -> None:
        self.conn, self.peer, self.probe, self.deadline, self.wanted = conn, peer, probe, deadline, 1


class Lobby:
    """`admit()` takes accepted connections, `service(events)` returns those whose first PDU is
    complete as (conn, peer, probe); `on_close(reason, peer)` hears of every one closed here."""

    def __init__(self, acse_timeout: float, total: int, per_host: int, tls: bool, on_close) -> None:
        self.seconds = float(acse_timeout)
        self.total = total
        self.per_host = min(per_host, total)
        self.tls = tls
        self.on_close = on_close
        self.hosts: dict[str, collections.OrderedDict[int, Waiting]] = {}
        self.by_fd: dict[int, Waiting] = {}
        self.poller = None

    def attach(self, poller) -> None:
        self.poller = poller

    def __len__(self) -> int:
        return len(self.by_fd)

    def admit(self, conn: socket.socket, peer, probe: bool = False) -> None:
        host = peer[0]
        queue = self.hosts.get(host)
        if queue is not None and len(queue) >= self.per_host:
            self._close(next(iter(queue.values())), PER_HOST)
        elif len(self.by_fd) >= self.total:
            self.evict(TOTAL)
        conn.setblocking(False)
        entry = Waiting(conn, peer, probe, time.monotonic() + self.seconds)
        fd = conn.fileno()
        self.by_fd[fd] = entry
        self.hosts.setdefault(host, collections.OrderedDict())[fd] = entry
        if self.poller is not None:
            self.poller.register(fd, 1)    # POLLIN

    def evict(self, reason: str) -> bool:
        """Close the oldest waiting connection of the address with the most: room for others."""
        if not self.hosts:
            return False
        busiest = max(self.hosts.values(), key=len)
        self._close(next(iter(busiest.values())), reason)
        return True

    def service(self, events) -> list[tuple[socket.socket, tuple, bool]]:
        ready = []
        for fd in [fd for fd in events if fd in self.by_fd]:
            entry = self.by_fd[fd]
            try:
                head = entry.conn.recv(PEEK_CAP, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._close(entry, PEER_CLOSED)
                continue
            if not head:
                self._close(entry, PEER_CLOSED)
                continue
            wanted = bytes_wanted(head, self.tls)
            if len(head) >= wanted:
                self._forget(entry)
                conn = entry.conn
                try:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
                    conn.setblocking(True)     # as accept() gives it: the worker expects that
                except OSError:
                    conn.close()
                    continue
                ready.append((conn, entry.peer, entry.probe))
            elif wanted != entry.wanted:
                entry.wanted = wanted          # poll() wakes up again once all of it is here
                entry.conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, wanted)
        now = time.monotonic()
        for entry in [e for e in self.by_fd.values() if now > e.deadline]:
            self._close(entry, TIMEOUT)
        return ready

    def _forget(self, entry: Waiting) -> None:
        fd = entry.conn.fileno()
        del self.by_fd[fd]
        queue = self.hosts[entry.peer[0]]
        del queue[fd]
        if not queue:
            del self.hosts[entry.peer[0]]
        if self.poller is not None:
            self.poller.unregister(fd)

    def _close(self, entry: Waiting, reason: str) -> None:
        self._forget(entry)
        entry.conn.close()
        self.on_close(reason, entry.peer)

    def close_all(self) -> None:
        for entry in list(self.by_fd.values()):
            self._forget(entry)
            entry.conn.close()
