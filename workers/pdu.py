"""Reading and writing Upper Layer PDUs on a socket, with deadlines.

The reader keeps one receive buffer per association and parses PDUs out of it,
so a burst of small PDUs costs one recv() and a large P-DATA value streams
through in buffer-sized pieces: nothing is ever sized by a length field.
"""

from __future__ import annotations

import socket
import struct
import time

A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

PDU_HEADER = struct.Struct(">BxL")
PDV_HEADER = struct.Struct(">LBB")

# Abort sources and provider reasons, PS3.8 9.3.8
SOURCE_USER = 0
SOURCE_PROVIDER = 2
REASON_NOT_SPECIFIED = 0
REASON_UNRECOGNIZED_PDU = 1
REASON_UNEXPECTED_PDU = 2
REASON_INVALID_PARAMETER = 6

RELEASE_RP = bytes((A_RELEASE_RP, 0, 0, 0, 0, 4, 0, 0, 0, 0))


class PeerClosed(Exception):
    """The peer closed the connection (or reset it)."""


class DeadlineExpired(Exception):
    """Nothing (or not enough) arrived before the deadline."""


def abort_pdu(source: int, reason: int) -> bytes:
    return bytes((A_ABORT, 0, 0, 0, 0, 4, 0, 0, source, reason))


def p_data_pdu(context_id: int, control: int, payload: bytes) -> bytes:
    """One P-DATA-TF holding one PDV: responses are small and go out in one write."""
    pdv_length = len(payload) + 2
    return (
        PDU_HEADER.pack(P_DATA_TF, pdv_length + 4)
        + PDV_HEADER.pack(pdv_length, context_id, control)
        + payload
    )


class SocketReader:
    """A receive buffer over a socket; every read is bounded by a deadline."""

    def __init__(self, sock: socket.socket, size: int = 262144) -> None:
        self.sock = sock
        self.buffer = bytearray(size)
        self.view = memoryview(self.buffer)
        self.start = 0
        self.end = 0

    @property
    def available(self) -> int:
        return self.end - self.start

    def fill(self, deadline: float | None) -> None:
        """Receive at least one more byte (compacting the buffer when needed)."""
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.buffer):
            remaining = self.end - self.start
            self.buffer[:remaining] = self.buffer[self.start : self.end]
            self.start, self.end = 0, remaining
        if deadline is None:
            self.sock.settimeout(None)
        else:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise DeadlineExpired()
            self.sock.settimeout(timeout)
        try:
            received = self.sock.recv_into(self.view[self.end :])
        except (socket.timeout, TimeoutError) as exc:
            raise DeadlineExpired() from exc
        except OSError as exc:
            raise PeerClosed(str(exc)) from exc
        if received == 0:
            raise PeerClosed("connection closed by peer")
        self.end += received

    def read_exact(self, count: int, deadline: float | None) -> bytes:
        """Small reads only (headers, commands): the value is copied out."""
        while self.available < count:
            if count > len(self.buffer):
                raise ValueError("read larger than the receive buffer")
            self.fill(deadline)
        data = bytes(self.view[self.start : self.start + count])
        self.start += count
        return data

    def take(self, limit: int, deadline: float | None) -> memoryview:
        """Up to ``limit`` bytes as a view into the buffer, valid until the next read."""
        if self.available == 0:
            self.fill(deadline)
        count = min(limit, self.available)
        chunk = self.view[self.start : self.start + count]
        self.start += count
        return chunk

    def discard(self, count: int, deadline: float | None) -> None:
        while count:
            count -= len(self.take(count, deadline))
