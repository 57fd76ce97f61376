"""The `tcp-check` lines of deploy/haproxy.cfg: a real DICOM C-ECHO as HAProxy's health check.

HAProxy cannot speak DICOM, but it can send bytes and match answers. The
check associates (Verification, Implicit VR Little Endian), sends a C-ECHO-RQ,
expects status 0x0000, and releases, so a node that accepts TCP but is hung
(SIGSTOP, a stuck loop: the kernel still completes the handshake) is marked
DOWN, where a plain TCP check would pass. Run `python3 deploy/echo_check.py
[CALLED [CALLING]]` to print the lines; tests/test_scaleout.py checks that the
shipped configuration contains exactly these.

Expectations (PS3.8 9.3): `rbinary ^02` anchors on the PDU type of the
A-ASSOCIATE-AC (an unanchored `binary 02` would also match inside an
A-ASSOCIATE-RJ or A-ABORT); the C-ECHO-RSP must contain (0000,0900) US 0000;
the A-RELEASE-RP is matched whole.
"""

from __future__ import annotations

import struct
import sys

VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT_LE = b"1.2.840.10008.1.2"
APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
IMPLEMENTATION_CLASS_UID = b"2.25.5860148032557474086439061493140881664"   # this check, not a node


def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BxH", kind, len(value)) + value


def associate_rq(called: str, calling: str, max_pdu: int = 16384) -> bytes:
    context = _item(0x20, bytes((1, 0, 0, 0)) + _item(0x30, VERIFICATION) + _item(0x40, IMPLICIT_LE))
    user = _item(0x50, _item(0x51, struct.pack(">L", max_pdu)) + _item(0x52, IMPLEMENTATION_CLASS_UID))
    body = (struct.pack(">HH", 1, 0) + called.encode().ljust(16) + calling.encode().ljust(16) + bytes(32)
            + _item(0x10, APPLICATION_CONTEXT) + context + user)
    return struct.pack(">BxL", 1, len(body)) + body


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0, element, len(value)) + value


def echo_rq(message_id: int = 1) -> bytes:
    sop_class = VERIFICATION + b"\0"          # UI padded to even length
    body = (_element(0x0002, sop_class) + _element(0x0100, struct.pack("<H", 0x0030))
            + _element(0x0110, struct.pack("<H", message_id)) + _element(0x0800, struct.pack("<H", 0x0101)))
    command = _element(0x0000, struct.pack("<L", len(body))) + body
    pdv = struct.pack(">LBB", len(command) + 2, 1, 0x03) + command     # context 1, command + last
    return struct.pack(">BxL", 4, len(pdv)) + pdv


RELEASE_RQ = bytes((5, 0, 0, 0, 0, 4, 0, 0, 0, 0))
RELEASE_RP = bytes((6, 0, 0, 0, 0, 4, 0, 0, 0, 0))
STATUS_SUCCESS = _element(0x0900, struct.pack("<H", 0))


def tcp_check_lines(called: str = "ANY-SCP", calling: str = "HAPROXY-CHECK") -> list[str]:
    return [
        "tcp-check connect default",      # 'default': the check carries the server's send-proxy-v2 (LOCAL)
        f"tcp-check send-binary {associate_rq(called, calling).hex()} comment A-ASSOCIATE-RQ",
        "tcp-check expect rbinary ^02 comment A-ASSOCIATE-AC",
        f"tcp-check send-binary {echo_rq().hex()} comment C-ECHO-RQ",
        f"tcp-check expect binary {STATUS_SUCCESS.hex()} comment C-ECHO-RSP-status-0000",
        f"tcp-check send-binary {RELEASE_RQ.hex()} comment A-RELEASE-RQ",
        f"tcp-check expect binary {RELEASE_RP.hex()} comment A-RELEASE-RP",
    ]


if __name__ == "__main__":
    print("\n".join("    " + line for line in tcp_check_lines(*sys.argv[1:3])))
