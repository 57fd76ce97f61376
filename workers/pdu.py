"""Reading and writing Upper Layer PDUs on a socket, with deadlines.

The reader keeps one receive buffer per association and parses PDUs out of it,
so a burst of small PDUs costs one recv() and a large P-DATA value streams
through in buffer-sized pieces: nothing is ever sized by a length field.
"""

from __future__ import annotations

import socket
import struct

from dcmrecv_cluster.shared import ul

# The protocol numbers and fixed PDUs live in shared.ul; these names are what this package reads as pdu.X.
A_ASSOCIATE_RQ, P_DATA_TF, A_RELEASE_RQ, A_ABORT = ul.A_ASSOCIATE_RQ, ul.P_DATA_TF, ul.A_RELEASE_RQ, ul.A_ABORT
PDU_HEADER, PDV_HEADER, PDU_PDV_HEADER = ul.PDU_HEADER, ul.PDV_HEADER, ul.PDU_PDV_HEADER
RELEASE_RP = ul.RELEASE_RP
abort_pdu = ul.abort_pdu

TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)

# The A-ABORT source and reasons, as this package names them.
SOURCE_USER = ul.ABORT_SOURCE_USER
SOURCE_PROVIDER = ul.ABORT_SOURCE_PROVIDER
REASON_NOT_SPECIFIED = ul.ABORT_REASON_NOT_SPECIFIED
REASON_UNRECOGNIZED_PDU = ul.ABORT_REASON_UNRECOGNIZED_PDU
REASON_UNEXPECTED_PDU = ul.ABORT_REASON_UNEXPECTED_PDU
REASON_INVALID_PARAMETER = ul.ABORT_REASON_INVALID_PARAMETER


class PeerClosed(Exception):
    """The peer closed the connection (or reset it)."""


class DeadlineExpired(Exception):
    """Nothing (or not enough) arrived before the deadline."""


def p_data_pdu(context_id: int, control: int, payload: bytes) -> bytes:
    """One P-DATA-TF holding one PDV: responses are small and go out in one write."""
    pdv_length = len(payload) + 2
    return (
        PDU_HEADER.pack(P_DATA_TF, pdv_length + 4)
        + PDV_HEADER.pack(pdv_length, context_id, control)
        + payload
    )


class SocketReader:
    """The receive buffer of one connection; the reactor fills it, the association's generator reads it.

    The generator functions below yield a ``Wait`` whenever they need more
    bytes than the buffer holds; every wait carries its deadline.
    """

    def __init__(self, sock: socket.socket, size: int = 262144) -> None:
        self.sock = sock
        self.buffer = bytearray(size)
        self.view = memoryview(self.buffer)
        self.start = 0
        self.end = 0
        self.plain = type(sock) is socket.socket    # not TLS
        self.before_wait = None     # called before every wait: views handed out so far die at the refill
        # False once a receive came back short: a plain socket is then drained. TLS decrypts
        # record by record, so only SSLWantReadError says that there.
        self.maybe_more = True

    @property
    def available(self) -> int:
        return self.end - self.start

    def receive(self) -> int:
        """One non-blocking receive (plus what TLS already decrypted); 0 when the peer closed."""
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.buffer):
            remaining = self.end - self.start
            self.buffer[:remaining] = self.buffer[self.start : self.end]
            self.start, self.end = 0, remaining
        space = len(self.buffer) - self.end
        received = self.sock.recv_into(self.view[self.end :])
        self.end += received
        self.maybe_more = received == space or not self.plain
        if self.plain:
            # Acknowledge at once: a sender that leaves Nagle on (DCMTK as shipped) otherwise
            # waits for our delayed ACK, ~40 ms, before its next small segment.
            self.sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        pending = getattr(self.sock, "pending", None)
        while received and pending is not None and pending() and self.end < len(self.buffer):
            more = self.sock.recv_into(self.view[self.end :])
            if not more:
                break
            self.end += more
        return received

    def peek(self, header: struct.Struct) -> tuple | None:
        """A fixed-size header out of the buffer, left there; None when not all of it is here."""
        if self.end - self.start < header.size:
            return None
        return header.unpack_from(self.buffer, self.start)

    def try_unpack(self, header: struct.Struct) -> tuple | None:
        """peek(), and the header consumed when it was all here."""
        values = self.peek(header)
        if values is not None:
            self.start += header.size
        return values

    def read_exact(self, count: int, deadline: float | None):
        """Small reads only (headers, commands): ``data = yield from reader.read_exact(n, deadline)``."""
        if count > len(self.buffer):
            raise ValueError("read larger than the receive buffer")
        while self.available < count:
            if self.before_wait is not None:
                self.before_wait()
            yield Wait(DATA, deadline)
        data = bytes(self.view[self.start : self.start + count])
        self.start += count
        return data

    def take_now(self, limit: int):
        """take() without a generator when bytes are here (the common case); None when empty."""
        count = self.end - self.start
        if count == 0:
            return None
        if count > limit:
            count = limit
        chunk = self.view[self.start : self.start + count]
        self.start += count
        return chunk

    def take(self, limit: int, deadline: float | None):
        """Up to ``limit`` bytes as a view into the buffer, valid until the buffer is refilled."""
        while self.available == 0:
            if self.before_wait is not None:
                self.before_wait()
            yield Wait(DATA, deadline)
        count = min(limit, self.available)
        chunk = self.view[self.start : self.start + count]
        self.start += count
        return chunk

    def discard(self, count: int, deadline: float | None):
        while count:
            count -= len((yield from self.take(count, deadline)))


DATA = 1
WRITABLE = 2


class Wait:
    """What a generator yields to the reactor: resume once there is data (or room to write)."""

    __slots__ = ("what", "deadline")

    def __init__(self, what: int, deadline: float | None) -> None:
        self.what = what
        self.deadline = deadline


class Offload:
    """Run ``function`` in a thread of its own (it may block); the generator gets its result back."""

    __slots__ = ("function",)

    def __init__(self, function) -> None:
        self.function = function


class Commit:
    """Hand a finished store (an InstanceWriter) to the group commit; the generator gets its Outcome."""

    __slots__ = ("writer",)

    def __init__(self, writer) -> None:
        self.writer = writer


def send_all(sock: socket.socket, data: bytes, deadline: float | None):
    """``yield from send_all(...)``: responses are small and nearly always go out in one send()."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            raise PeerClosed(str(exc)) from exc
        view = view[sent:]
        if view:
            yield Wait(WRITABLE, deadline)
