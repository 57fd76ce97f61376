"""Connections that arrive at --max-associations wait a moment for a place before being refused.

A sender that releases an association and at once opens the next (one association per
study, as modalities send) races its worker's word that the first one is over: the
A-RELEASE-RP reaches the sender over loopback TCP as fast as the worker's CLOSED
reaches the supervisor over ZeroMQ. Refused at that instant, it would get an
A-ASSOCIATE-RJ "local limit exceeded" from a node that is not full. So such a
connection is held for up to GRACE seconds, admitted as soon as a place frees, and
refused only if none does; a flood past the limit still gets its refusals within the
grace, and at most MOST_HELD connections are held at once (the rest are refused at once).
"""

from __future__ import annotations

import collections
import socket
import time
from collections.abc import Callable, Iterator

GRACE = 0.2
MOST_HELD = 64


class LimitWait:
    def __init__(self) -> None:
        self.held: collections.deque[tuple[float, socket.socket, tuple]] = collections.deque()

    def hold(self, conn: socket.socket, peer: tuple) -> bool:
        """Keep ``conn`` waiting for a place; False (refuse it now) when too many wait already."""
        if len(self.held) >= MOST_HELD:
            return False
        self.held.append((time.monotonic() + GRACE, conn, peer))
        return True

    def settle(self, room: Callable[[], bool]) -> Iterator[tuple[socket.socket, tuple, bool]]:
        """Held connections, first come first served: (conn, peer, True) to admit while ``room()``,
        (conn, peer, False) to refuse once its grace is over."""
        now = time.monotonic()
        while self.held:
            deadline, conn, peer = self.held[0]
            if room():
                self.held.popleft()
                yield conn, peer, True
            elif now >= deadline:
                self.held.popleft()
                yield conn, peer, False
            else:
                return

    def wait_at_most(self, seconds: float) -> float:
        """``seconds``, or less when a held connection's grace ends sooner."""
        if not self.held:
            return seconds
        return max(0.0, min(seconds, self.held[0][0] - time.monotonic()))

    def take_all(self) -> list[tuple[socket.socket, tuple]]:
        """Every held connection, for refusal at a stop."""
        held = [(conn, peer) for _, conn, peer in self.held]
        self.held.clear()
        return held
