"""Prometheus metrics of the whole node, and the HTTP endpoint that serves them with a status page.

Workers report every C-STORE and the arbiter every association to the
supervisor already; the counters are kept here, in the supervisor, so one
scrape covers all workers (no multiprocess registry, no per-worker port).
``GET /metrics`` is the Prometheus text format, ``GET /status`` a JSON
snapshot for ``dcmrecv-cluster-status``.  The server runs in daemon threads of
the supervisor and only reads: counters are thread-safe, and the status
snapshot is a fresh dict swapped in by the arbiter's thread.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "dcmrecv_cluster"
#: C-STORE latency (command received -> response sent): 1 ms .. 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

if hasattr(prometheus_client, "disable_created_metrics"):
    prometheus_client.disable_created_metrics()   # no *_created series: they double the output for nothing


class Metrics:
    """The node's metric families, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def metric(kind, name, text, labels=(), **extra):
            return kind(f"{PREFIX}_{name}", text, labels, registry=registry, **extra)

        self.start_time = metric(Gauge, "start_time_seconds", "Start of the service, Unix time")
        self.associations_active = metric(Gauge, "associations_active", "Associations in progress on all workers")
        self.associations = metric(Counter, "associations", "Connections handed to a worker")
        self.rejected = metric(Counter, "associations_rejected", "Associations refused (A-ASSOCIATE-RJ), by reason",
                               ("reason",))
        self.closed = metric(Counter, "connections_closed",
                             "Connections closed before a whole A-ASSOCIATE-RQ arrived (or refused unread), by reason",
                             ("reason",))
        self.free_space = metric(Gauge, "free_space_bytes", "Free space of the output directory's filesystem "
                                 "(with --min-free-space)")
        self.low_space = metric(Gauge, "low_space", "1 while below --min-free-space: new associations refused")
        self.stored = metric(Counter, "instances_stored", "Instances stored (C-STORE answered with success)")
        self.failed = metric(Counter, "instances_failed", "C-STOREs answered with an error status",
                             ("status",))
        self.stored_bytes = metric(Counter, "stored_bytes", "Bytes of the stored files (meta header included)")
        self.latency = metric(Histogram, "cstore_latency_seconds",
                              "C-STORE request received to response sent", buckets=LATENCY_BUCKETS)
        self.restarts = metric(Counter, "worker_restarts", "Workers replaced after an unexpected exit")
        self.worker_up = metric(Gauge, "worker_up", "1 when the worker has booted and takes connections",
                                ("worker",))
        self.worker_active = metric(Gauge, "worker_associations_active", "Associations in progress per worker",
                                    ("worker",))
        self.events_published = metric(Counter, "events_published", "Stored-instance events sent to the subscribers")
        self.events_dropped = metric(Counter, "events_dropped",
                                     "Events nobody was subscribed to, or times a subscriber's queue was full",
                                     ("reason",))
        self.hooks = metric(Counter, "hooks", "Hook commands (-xcr reception, -xcs eostudy) by outcome: "
                            "ok, failed (non-zero exit), timeout (killed), dropped (queue full)", ("hook", "outcome"))
        self.studies = metric(Counter, "studies_completed", "Studies quiet for --eostudy-timeout seconds")

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class StatusServer:
    """``/metrics`` and ``/status`` over HTTP on *address*:*port* (OSError when it cannot bind)."""

    def __init__(self, metrics: Metrics, address: str, port: int) -> None:
        self.metrics = metrics
        self.snapshot: dict = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, CONTENT_TYPE_LATEST, server.metrics.exposition())
                elif path == "/status":
                    self._answer(200, "application/json", json.dumps(server.snapshot, indent=1).encode() + b"\n")
                elif path == "/":
                    self._answer(200, "text/plain; charset=utf-8", b"dcmrecv-cluster: /metrics /status\n")
                else:
                    self._answer(404, "text/plain; charset=utf-8", b"not found\n")

            def _answer(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:  # noqa: A002 - scrapes are not log lines
                pass

        self.httpd = ThreadingHTTPServer((address, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.2,),
                                       name="dcmrecv-cluster-metrics", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
