"""The closed set of messages between supervisor and workers, and their envelope.

Control traffic runs worker DEALER (identity ``w<index>.<serial>``) -> supervisor ROUTER;
log records and store events run worker PUSH -> supervisor PULL. Every message is
one JSON object with a ``kind``; the kinds below are the wire reference.
JSON keeps the channel inspectable and free of code execution on decode.
"""

from __future__ import annotations

import json
from typing import Any

# worker -> supervisor (control, DEALER -> ROUTER)
HELLO = "hello"          # {pid}: the worker booted and takes sockets now
HEARTBEAT = "heartbeat"  # {active}: sent by a thread of its own, so long C-STOREs never look hung
CLOSED = "closed"        # {}: one handed-over connection has ended (keeps the least-busy count exact)
NAME = "name"            # {mode: "unique"|"short", count}: ask the name authority; replied with REPLY
AET = "aet"              # {title}: may one more association from this calling AE title start?
                         #  (--max-associations-per-aet) replied with REPLY {granted}; the CLOSED of that
                         #  association then carries {aet: title} and gives the place back
BYE = "bye"              # {associations, dropped_logs}: the worker's summary before a clean exit

# supervisor -> worker (control, ROUTER -> DEALER)
REPLY = "reply"          # {status: "ok"|"error", errno, reason, ...payload}

# worker -> supervisor (logs, PUSH -> PULL)
LOG = "log"              # {level: "F"|"E"|"W"|"I"|"D"|"T", text, t: time, p: pid, a: association id}
REJECTED = "rejected"    # {reason, peer[, calling, called, text]}: a worker answered A-ASSOCIATE-RJ (for the
                         #  metrics; with text: a refusal by policy, logged by the supervisor, rate-limited)
STORED = "stored"        # {status, path, bytes, sop_class_uid, sop_instance_uid, calling_ae_title,
                         #  called_ae_title, association, peer,
                         #  transfer_syntax, latency, time, ...}: one C-STORE answered (status 0: the file
                         #  is complete under its final name), sent after the response


def encode(kind: str, **fields: Any) -> bytes:
    fields["kind"] = kind
    return json.dumps(fields, separators=(",", ":")).encode()


def decode(frame: bytes) -> dict[str, Any]:
    message = json.loads(frame)
    if not isinstance(message, dict) or "kind" not in message:
        raise ValueError("not a dcmrecv-cluster message")
    return message


def worker_identity(index: int, serial: int) -> str:
    """Unique per spawned process, so a replacement never receives its predecessor's replies."""
    return f"w{index}.{serial}"


def reply_ok(**payload: Any) -> bytes:
    return encode(REPLY, status="ok", errno=0, reason="", **payload)


def reply_error(errno: int, reason: str) -> bytes:
    return encode(REPLY, status="error", errno=errno, reason=reason)
