"""The stored-instance event stream: one JSON message per stored instance on a ZeroMQ publisher.

Storage must never wait for a listener, so the socket is an XPUB with a bounded
queue per subscriber (``SNDHWM``) and non-blocking sends.  A plain PUB drops
silently for a subscriber whose queue is full; here ``XPUB_NODROP`` makes that
send fail at once (``zmq.Again``) so it is counted, and the message is then sent
again without it, so the other subscribers still get it: one slow subscriber
never starves the rest.  libzmq then skips that subscriber until its queue has
drained by about half, and the messages it misses meanwhile are not visible
here: ``slow-subscriber`` counts the times a queue was found full, a lower bound.
XPUB also tells which topics someone is subscribed to, so a message nobody would
receive is counted exactly (``no-subscriber``), and each new subscription is
counted, which lets a subscriber (or a test) know that it has joined before the
first instance it must not miss.

Wire format: a single frame, UTF-8 JSON, starting with ``{"event":"stored"`` (or
``{"event":"study"`` for a study completed by ``-tos``) so that a subscriber can
subscribe to that prefix (or to everything, ``b""``).
"""

from __future__ import annotations

import datetime
import json
import os

import zmq
import zmq.auth

QUEUE_LIMIT = 10_000          # messages queued per subscriber before new ones are dropped
LINGER_MS = 1000              # at shutdown, queued messages get this long to leave
DROP_NO_SUBSCRIBER = "no-subscriber"
DROP_SLOW_SUBSCRIBER = "slow-subscriber"


class EventPublisher:
    """Binds *endpoint* (``tcp://host:port``, ``ipc://path``); call from one thread only."""

    def __init__(self, endpoint: str, node_id: int | None = None, queue_limit: int = QUEUE_LIMIT,
                 curve_key: str | None = None, curve_clients: str | None = None) -> None:
        self.endpoint = endpoint
        self.node_id = node_id
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.XPUB)
        self.auth = None
        try:
            if curve_key is not None:
                self._require_curve(curve_key, curve_clients)
            self.socket.setsockopt(zmq.SNDHWM, queue_limit)
            self.socket.setsockopt(zmq.XPUB_NODROP, 1)
            self.socket.setsockopt(zmq.XPUB_VERBOSE, 1)   # every subscription, not only a topic's first
            self.socket.setsockopt(zmq.LINGER, LINGER_MS)
            self.socket.bind(endpoint)
        except zmq.ZMQError:
            if self.auth is not None:
                self.auth.stop()
            self.socket.close(0)
            self.context.term()
            raise
        self.bound = self.socket.getsockopt(zmq.LAST_ENDPOINT).decode()   # tcp://...:0 -> the real port
        self.cwd = os.getcwd()                 # the workers' too: their paths are relative to it
        self.topics: dict[bytes, int] = {}     # topic -> 1 while someone is subscribed to it
        self.subscriptions = 0                 # subscribe messages seen (joins)
        self.published = 0
        self.dropped: dict[str, int] = {}

    def poll_subscriptions(self) -> None:
        """Read (un)subscribe notifications; cheap when there are none."""
        if not self.socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            return
        while True:
            try:
                frame = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not frame:
                continue
            topic = frame[1:]
            if frame[0] == 1:
                self.topics[topic] = 1
                self.subscriptions += 1
            elif frame[0] == 0:
                self.topics.pop(topic, None)   # XPUB reports an unsubscribe once the last one has left

    def publish_stored(self, record: dict) -> str | None:
        """Publish one successful store; returns why it was dropped (for some or all), or None."""
        return self._publish(stored_message(record, self.node_id, self.cwd))

    def publish_study(self, uid: str, files: list[str], first: dict) -> str | None:
        """Publish one completed study (-tos): no instance of it for that long on any worker."""
        return self._publish(study_message(uid, files, first, self.node_id))

    def _publish(self, message: bytes) -> str | None:
        self.poll_subscriptions()
        if not any(message.startswith(topic) for topic in self.topics):
            return self._drop(DROP_NO_SUBSCRIBER)
        self.published += 1
        try:
            self.socket.send(message, zmq.NOBLOCK)
            return None
        except zmq.Again:
            pass
        self.socket.setsockopt(zmq.XPUB_NODROP, 0)   # deliver to those with room, drop for the full one
        try:
            self.socket.send(message, zmq.NOBLOCK)
        except zmq.Again:
            pass
        finally:
            self.socket.setsockopt(zmq.XPUB_NODROP, 1)
        return self._drop(DROP_SLOW_SUBSCRIBER)

    def _drop(self, reason: str) -> str:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return reason

    @property
    def listening(self) -> bool:
        return bool(self.topics)

    def _require_curve(self, key_file: str, clients_dir: str) -> None:
        """CURVE: the stream is encrypted, and only subscribers whose public key is in `clients_dir`
        complete the handshake (ZAP, pyzmq's authenticator in a thread of its own); the others
        never get a subscription in, so they receive nothing."""
        from zmq.auth.thread import ThreadAuthenticator

        public, secret = zmq.auth.load_certificate(key_file)
        self.auth = ThreadAuthenticator(self.context)
        self.auth.start()
        self.auth.configure_curve(domain="*", location=clients_dir)
        self.socket.setsockopt(zmq.CURVE_SERVER, 1)
        self.socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
        self.socket.setsockopt(zmq.CURVE_SECRETKEY, secret)

    def close(self) -> None:
        self.socket.close()
        if self.auth is not None:
            self.auth.stop()
        self.context.term()


def stored_message(record: dict, node_id: int | None = None, cwd: str | None = None) -> bytes:
    """The published JSON for a worker's STORED record (see README, "Operations")."""
    when = float(record.get("time") or 0.0)
    path = record.get("path")
    if path:
        path = os.path.normpath(os.path.join(cwd or os.getcwd(), path))
    return _encode({
        "event": "stored",
        "path": path,
        "sop_class_uid": record.get("sop_class_uid"),
        "sop_instance_uid": record.get("sop_instance_uid"),
        "study_instance_uid": record.get("study_instance_uid"),
        "series_instance_uid": record.get("series_instance_uid"),
        "calling_ae_title": record.get("calling_ae_title"),
        "peer": record.get("peer"),
        "bytes": record.get("bytes"),
        "transfer_syntax": record.get("transfer_syntax"),
        "time": datetime.datetime.fromtimestamp(when, datetime.timezone.utc).isoformat(timespec="microseconds"),
        "timestamp": when,
        "node_id": node_id,
    }).encode()


def study_message(uid: str, files: list[str], first: dict, node_id: int | None = None) -> bytes:
    """`{"event":"study"...}`: the study's UID, instance count and files (absolute paths)."""
    when = datetime.datetime.now(datetime.timezone.utc)
    return _encode({
        "event": "study",
        "study_instance_uid": uid or None,
        "instances": len(files),
        "files": files,
        "calling_ae_title": first.get("calling_ae_title"),
        "called_ae_title": first.get("called_ae_title"),
        "peer": first.get("peer"),
        "time": when.isoformat(timespec="microseconds"),
        "timestamp": when.timestamp(),
        "node_id": node_id,
    }).encode()


_encode = json.JSONEncoder(separators=(",", ":")).encode


def option_problem(options) -> str | None:
    """--events-curve-key and --events-curve-clients go together, with --events; the key file must
    hold a secret key (zmq.auth.create_certificates' `.key_secret`), the clients a directory."""
    key = getattr(options, "events_curve_key", None)
    clients = getattr(options, "events_curve_clients", None)
    if key is None and clients is None:
        return None
    if key is None or clients is None:
        return "--events-curve-key and --events-curve-clients must be given together"
    if options.events_endpoint is None:
        return "--events-curve-key only allowed with --events"
    if not zmq.has("curve"):
        return "--events-curve-key: this libzmq has no CURVE support"
    try:
        _, secret = zmq.auth.load_certificate(key)
    except (OSError, ValueError) as exc:
        return f"cannot read --events-curve-key {key}: {exc}"
    if not secret:
        return f"--events-curve-key {key} holds no secret key"
    if not os.path.isdir(clients):
        return f"--events-curve-clients {clients}: not a directory"
    return None
