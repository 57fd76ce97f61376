"""The arbiter's observer: metrics and status (``--metrics-port``), the event stream (``--events``).

The arbiter calls ``event(name, **fields)``, ``store(record)``, ``tick(arbiter)``
and ``close()``, all from its own thread; nothing here blocks it (the HTTP
server has threads of its own, the publisher never waits).  Either half may be
off; :func:`open_telemetry` gives ``None`` when both are, and the arbiter then
uses its ``NullTelemetry``.
"""

from __future__ import annotations

import datetime
import errno
import os
import time

import zmq

from dcmrecv_cluster.shared import exitcodes
from dcmrecv_cluster.supervisor.events import DROP_NO_SUBSCRIBER, DROP_SLOW_SUBSCRIBER, EventPublisher
from dcmrecv_cluster.supervisor.lobby import REASONS as LOBBY_REASONS
from dcmrecv_cluster.supervisor.metrics import Metrics, StatusServer
from dcmrecv_cluster.supervisor.startup import StartupError

SNAPSHOT_INTERVAL = 0.2    # the status page and per-worker gauges are at most this stale (plus one arbiter tick)


def open_telemetry(options) -> Telemetry | None:
    """Bind what the options ask for; a port or endpoint that cannot be bound stops start-up (64)."""
    if options.metrics_port is None and options.events_endpoint is None:
        return None
    server = publisher = None
    metrics = Metrics()
    try:
        if options.metrics_port is not None:
            server = StatusServer(metrics, options.metrics_bind or options.bind_address, options.metrics_port)
        if options.events_endpoint is not None:
            publisher = EventPublisher(options.events_endpoint, options.node_id,
                                       curve_key=getattr(options, "events_curve_key", None),
                                       curve_clients=getattr(options, "events_curve_clients", None))
    except OSError as exc:
        reason = "Address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise StartupError(exitcodes.CANNOT_START_SCP_AND_LISTEN, [
            ("F", f"cannot serve metrics on port {options.metrics_port}: {reason}")]) from exc
    except zmq.ZMQError as exc:
        if server is not None:
            server.close()
        raise StartupError(exitcodes.CANNOT_START_SCP_AND_LISTEN, [
            ("F", f"cannot publish events on {options.events_endpoint}: {exc.strerror}")]) from exc
    return Telemetry(options, metrics, server, publisher)


class Telemetry:
    def __init__(self, options, metrics: Metrics, server: StatusServer | None,
                 publisher: EventPublisher | None) -> None:
        self.options = options
        self.metrics = metrics
        self.server = server
        self.publisher = publisher
        self.started = time.time()
        metrics.start_time.set(self.started)
        self.associations = 0
        self.rejected: dict[str, int] = {}
        self.closed: dict[str, int] = {}
        self.stored = 0
        self.failed: dict[str, int] = {}
        self.stored_bytes = 0
        self.restarts = 0
        self.dead: set[int] = set()        # worker indexes whose process died and awaits its replacement
        self.next_snapshot = 0.0
        low_space = ("min-free-space",) if getattr(options, "min_free_space", None) else ()
        for reason in ("max-associations", "no-worker", *low_space):
            metrics.rejected.labels(reason)          # present at 0 from the first scrape
        for reason in LOBBY_REASONS:
            metrics.closed.labels(reason)
        if publisher is not None:
            for reason in (DROP_NO_SUBSCRIBER, DROP_SLOW_SUBSCRIBER):
                metrics.events_dropped.labels(reason)
        for hook, command in (("reception", getattr(options, "exec_on_reception", None)),
                              ("eostudy", getattr(options, "exec_on_eostudy", None))):
            if command:
                for outcome in ("ok", "failed", "timeout", "dropped"):
                    metrics.hooks.labels(hook, outcome)      # present at 0 from the first scrape
        if server is not None:
            server.snapshot = {"service": "dcmrecv-cluster", "pid": os.getpid(), "since": _iso(self.started),
                               "starting": True}

    # ---- what the arbiter tells -----------------------------------------------
    def event(self, name: str, **fields) -> None:
        if name == "association_dispatched":
            self.associations += 1
            self.metrics.associations.inc()
        elif name == "association_rejected":
            reason = str(fields.get("reason", "unknown"))
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            self.metrics.rejected.labels(reason).inc()
        elif name == "connection_closed":
            reason = str(fields.get("reason", "unknown"))
            self.closed[reason] = self.closed.get(reason, 0) + 1
            self.metrics.closed.labels(reason).inc()
        elif name == "worker_died":
            self.dead.add(fields.get("worker"))
        elif name == "worker_started" and fields.get("worker") in self.dead:
            self.dead.discard(fields.get("worker"))
            self.restarts += 1
            self.metrics.restarts.inc()

    def store(self, record: dict) -> None:
        """One C-STORE answered (a worker's STORED record)."""
        status = record.get("status")
        latency = record.get("latency")
        if isinstance(latency, (int, float)):
            self.metrics.latency.observe(latency)
        if status != 0:
            label = f"0x{status:04x}" if isinstance(status, int) else str(status)
            self.failed[label] = self.failed.get(label, 0) + 1
            self.metrics.failed.labels(label).inc()
            return
        size = int(record.get("bytes") or 0)
        self.stored += 1
        self.stored_bytes += size
        self.metrics.stored.inc()
        self.metrics.stored_bytes.inc(size)
        if self.publisher is not None and record.get("path"):   # --ignore answers success, stores nothing
            dropped = self.publisher.publish_stored(record)
            if dropped != DROP_NO_SUBSCRIBER:
                self.metrics.events_published.inc()
            if dropped is not None:
                self.metrics.events_dropped.labels(dropped).inc()

    def hook(self, kind: str, outcome: str, seconds: float | None) -> None:
        """A hook ended (or was dropped); called from the hook threads (the counters are thread-safe)."""
        self.metrics.hooks.labels(kind, outcome).inc()

    def study(self, uid: str, files: list, first: dict) -> None:
        """A study is complete: counted, and a `study` event for the subscribers."""
        self.metrics.studies.inc()
        if self.publisher is not None:
            dropped = self.publisher.publish_study(uid, files, first)
            if dropped != DROP_NO_SUBSCRIBER:
                self.metrics.events_published.inc()
            if dropped is not None:
                self.metrics.events_dropped.labels(dropped).inc()

    def tick(self, arbiter) -> None:
        now = time.monotonic()
        if now < self.next_snapshot:
            return
        self.next_snapshot = now + SNAPSHOT_INTERVAL
        if self.publisher is not None:
            self.publisher.poll_subscriptions()
        snapshot = self._snapshot(arbiter, now)
        for worker in snapshot["workers"]:
            label = str(worker["index"])
            self.metrics.worker_up.labels(label).set(1 if worker["up"] else 0)
            self.metrics.worker_active.labels(label).set(worker["active"])
        self.metrics.associations_active.set(snapshot["associations"]["active"])
        watch = getattr(arbiter, "space", None)
        if watch is not None and watch.free is not None:
            self.metrics.free_space.set(watch.free)
            self.metrics.low_space.set(1 if watch.low else 0)
            snapshot["free_space"] = {"bytes": watch.free, "low": watch.low, "mark": watch.mark}
        if self.server is not None:
            self.server.snapshot = snapshot

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.publisher is not None:
            self.publisher.close()

    # ---- the status page ----------------------------------------------------------
    def _snapshot(self, arbiter, now: float) -> dict:
        wall = time.time()
        workers = [{
            "index": slot.index, "pid": slot.pid, "up": bool(slot.ready), "active": slot.active,
            "since": _iso(wall - (now - slot.started)) if slot.pid else None,
        } for slot in arbiter.slots]
        active = sum(slot.active for slot in arbiter.slots) + sum(slot.active for slot in arbiter.retiring)
        snapshot = {
            "service": "dcmrecv-cluster",
            "pid": os.getpid(),
            "node_id": self.options.node_id,
            "port": self.options.port,
            "aetitle": self.options.aetitle,
            "output_directory": os.path.abspath(self.options.output_directory or "."),
            "since": _iso(self.started),
            "uptime_seconds": round(wall - self.started, 3),
            "stopping": bool(arbiter.stopping),
            "workers": workers,
            "retiring_workers": len(arbiter.retiring),
            "worker_restarts": self.restarts,
            "associations": {"active": active, "total": self.associations, "rejected": dict(self.rejected)},
            "connections_closed": dict(self.closed),
            "instances": {"stored": self.stored, "bytes": self.stored_bytes, "failed": dict(self.failed)},
            "events": None,
        }
        if self.publisher is not None:
            snapshot["events"] = {
                "endpoint": self.publisher.bound, "listening": self.publisher.listening,
                "subscriptions": self.publisher.subscriptions, "published": self.publisher.published,
                "dropped": dict(self.publisher.dropped),
            }
        return snapshot


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).isoformat(timespec="seconds")
