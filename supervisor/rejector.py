"""Refusing a connection at once, DICOM-correctly, when no worker may take it.

Past --max-associations the supervisor answers A-ASSOCIATE-RJ (rejected
transient, service-provider presentation related, local limit exceeded) instead
of queueing without bound. The socket is then half-closed and drained until the
peer closes (or a short deadline), so the kernel does not turn unread request
bytes into a reset that could destroy the rejection before the peer reads it.
"""

from __future__ import annotations

import socket
import time

from dcmrecv_cluster.shared.ul import LIMIT_EXCEEDED_RJ

DRAIN_SECONDS = 2.0


class Rejector:
    def __init__(self, log, plaintext_reply: bool = True, max_draining: int = 1 << 30) -> None:
        self.log = log
        self.max_draining = max_draining    # beyond: the RJ is sent and the socket closed at once
        self.plaintext_reply = plaintext_reply
        self.draining: dict[int, tuple[socket.socket, float]] = {}
        self.poller = None

    def attach(self, poller) -> None:
        self.poller = poller

    def reject(self, conn: socket.socket, rj: bytes = LIMIT_EXCEEDED_RJ) -> None:
        if not self.plaintext_reply:
            # TLS port: a clear-text A-ASSOCIATE-RJ reads as a TLS error, and the supervisor
            # never handshakes (a slow client would stall it): just close.
            conn.close()
            return
        conn.setblocking(False)
        try:
            conn.send(rj)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            conn.close()
            return
        if len(self.draining) >= self.max_draining:
            conn.close()        # a flood of requests past the limit must not use up the descriptors
            return
        self.draining[conn.fileno()] = (conn, time.monotonic() + DRAIN_SECONDS)
        if self.poller is not None:
            self.poller.register(conn.fileno(), 1)

    def service(self, events: dict) -> None:
        now = time.monotonic()
        for fd, (conn, deadline) in list(self.draining.items()):
            if fd in events:
                try:
                    while conn.recv(65536):
                        pass
                    done = True          # orderly close by the peer
                except BlockingIOError:
                    done = False
                except OSError:
                    done = True
            else:
                done = False
            if done or now > deadline:
                self._close(fd)

    def _close(self, fd: int) -> None:
        conn, _ = self.draining.pop(fd)
        if self.poller is not None:
            self.poller.unregister(fd)
        conn.close()

    def close_all(self) -> None:
        for fd in list(self.draining):
            self._close(fd)
