"""The worker's end of the ZeroMQ channel to the supervisor.

The reactor and the heartbeat thread share one DEALER (requests
and replies, one at a time under a lock: there is only ever one outstanding
request) and one PUSH (log records and store reports, sent without blocking;
what cannot be queued is dropped and counted). The heartbeat has a thread of
its own, so a long C-STORE never looks like a hung worker.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import zmq

from dcmrecv_cluster.shared import logwire, wire

REQUEST_TIMEOUT_MS = 10_000
HEARTBEAT_SECONDS = 1.0


class SupervisorGone(Exception):
    """The supervisor did not answer: the worker can no longer name files safely."""


class SupervisorLink:
    def __init__(self, identity: str, control_endpoint: str, log_endpoint: str, log_level: str,
                 reports: bool = True) -> None:
        self.context = zmq.Context()
        self.control = self.context.socket(zmq.DEALER)
        self.control.setsockopt(zmq.IDENTITY, identity.encode())
        self.control.setsockopt(zmq.LINGER, 2000)
        self.control.connect(control_endpoint)
        self.logs = self.context.socket(zmq.PUSH)
        self.logs.setsockopt(zmq.SNDHWM, 100_000)
        self.logs.setsockopt(zmq.LINGER, 2000)
        self.logs.connect(log_endpoint)
        self.log_level = log_level
        self.reports = reports      # store reports are wanted (metrics or events are on)
        self.dropped = 0
        self._control_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._stop = threading.Event()
        self.parent = os.getppid()
        self.pid = os.getpid()

    # ---- logs -------------------------------------------------------------
    def enabled(self, letter: str) -> bool:
        return logwire.enabled(letter, self.log_level)

    def log(self, letter: str, text: str, association: str = "") -> None:
        """Time and pid are taken here, so `-lc` patterns show when and where it happened."""
        if self.enabled(letter):
            self._push(wire.encode(wire.LOG, level=letter, text=text, t=time.time(), p=self.pid,
                                   a=association))

    def for_association(self, association: str) -> AssociationLink:
        return AssociationLink(self, association)

    def store_event(self, **fields) -> None:
        self._push(wire.encode(wire.STORED, **fields))

    def rejected(self, reason: str, peer: str, **details) -> None:
        self._push(wire.encode(wire.REJECTED, reason=reason, peer=peer, **details))

    def _push(self, frame: bytes) -> None:
        with self._log_lock:
            try:
                self.logs.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                self.dropped += 1

    # ---- control ------------------------------------------------------------
    def send(self, kind: str, **fields: Any) -> None:
        with self._control_lock:
            self.control.send(wire.encode(kind, **fields))

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        with self._control_lock:
            self.control.send(wire.encode(kind, **fields))
            while True:
                if not self.control.poll(REQUEST_TIMEOUT_MS):
                    raise SupervisorGone(f"no answer to '{kind}' within {REQUEST_TIMEOUT_MS} ms")
                reply = wire.decode(self.control.recv())
                if reply.get("kind") == wire.REPLY:
                    return reply

    # ---- heartbeat ----------------------------------------------------------
    def start_heartbeat(self, active_count) -> None:
        threading.Thread(target=self._beat, args=(active_count,), name="heartbeat", daemon=True).start()

    def _beat(self, active_count) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            if os.getppid() != self.parent:
                # The supervisor is gone: never outlive it.
                os._exit(1)
            try:
                self.send(wire.HEARTBEAT, active=active_count())
            except zmq.ZMQError:
                return

    def close(self) -> None:
        self._stop.set()
        with self._control_lock, self._log_lock:
            self.control.close()
            self.logs.close()
        self.context.term()


class AssociationLink:
    """The link as one association sees it: every record and report carries the association's id,
    so lines of concurrent associations can be told apart (`%x` in -lc patterns, --association-ids)."""

    def __init__(self, link: SupervisorLink, association: str) -> None:
        self.link = link
        self.association = association
        self.reports = link.reports
        self.enabled = link.enabled
        self.rejected = link.rejected

    def log(self, letter: str, text: str) -> None:
        self.link.log(letter, text, self.association)

    def store_event(self, **fields) -> None:
        self.link.store_event(association=self.association, **fields)

    def __getattr__(self, name: str):
        return getattr(self.link, name)
