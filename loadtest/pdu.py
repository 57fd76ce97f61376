"""Upper-layer PDUs (PS3.8 §9.3) encoded and parsed with struct.

Only what an SCU that sends C-STOREs needs: A-ASSOCIATE-RQ out, AC/RJ in,
P-DATA-TF both ways, A-RELEASE-RQ/RP, A-ABORT. Kept free of any DICOM
library so that the sender's CPU per instance stays small.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
# A UID of the 2.25 (UUID-derived) form, so no organisation root is borrowed.
IMPLEMENTATION_CLASS_UID = "2.25.256120396566139052282978233281135149488"
IMPLEMENTATION_VERSION = "DCMRCL_LOADTEST"

A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

PDU_HEADER = struct.Struct(">BxI")
PDV_HEADER = struct.Struct(">IBB")  # item length, context id, message control header
# bytes in front of each fragment of a P-DATA-TF PDU that carries one PDV
PDATA_OVERHEAD = PDU_HEADER.size + PDV_HEADER.size

RJ_RESULT = {1: "rejected-permanent", 2: "rejected-transient"}
RJ_SOURCE = {1: "service-user", 2: "service-provider (ACSE)", 3: "service-provider (presentation)"}
RJ_REASON = {
    1: {1: "no-reason-given", 2: "application-context-name-not-supported",
        3: "calling-AE-title-not-recognized", 7: "called-AE-title-not-recognized"},
    2: {1: "no-reason-given", 2: "protocol-version-not-supported"},
    3: {1: "temporary-congestion", 2: "local-limit-exceeded"},
}
ABORT_SOURCE = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASON = {0: "not-specified", 1: "unrecognized-PDU", 2: "unexpected-PDU",
                4: "unrecognized-PDU-parameter", 5: "unexpected-PDU-parameter",
                6: "invalid-PDU-parameter-value"}
PC_RESULT = {0: "acceptance", 1: "user-rejection", 2: "no-reason",
             3: "abstract-syntax-not-supported", 4: "transfer-syntaxes-not-supported"}


class PduError(Exception):
    """The peer sent something this SCU cannot make sense of."""


def _item(item_type: int, payload: bytes) -> bytes:
    return struct.pack(">BxH", item_type, len(payload)) + payload


def _ae(title: str) -> bytes:
    raw = title.encode("ascii")
    if not 0 < len(raw) <= 16:
        raise ValueError(f"AE title must be 1..16 characters: {title!r}")
    return raw.ljust(16, b" ")


def encode_associate_rq(called: str, calling: str,
                        contexts: list[tuple[int, str, list[str]]],
                        max_pdu: int) -> bytes:
    """A-ASSOCIATE-RQ proposing (context id, abstract syntax, transfer syntaxes)."""
    body = bytearray(struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + bytes(32))
    body += _item(0x10, APPLICATION_CONTEXT.encode())
    for ctx_id, abstract, syntaxes in contexts:
        sub = _item(0x30, abstract.encode())
        for ts in syntaxes:
            sub += _item(0x40, ts.encode())
        body += _item(0x20, struct.pack(">Bxxx", ctx_id) + sub)
    user = (_item(0x51, struct.pack(">I", max_pdu))
            + _item(0x52, IMPLEMENTATION_CLASS_UID.encode())
            + _item(0x55, IMPLEMENTATION_VERSION.encode()))
    body += _item(0x50, user)
    return PDU_HEADER.pack(A_ASSOCIATE_RQ, len(body)) + bytes(body)


def _uid(raw: bytes) -> str:
    return raw.rstrip(b"\x00 ").decode("ascii", "replace")


@dataclass
class AssociateAC:
    """What the SCU needs from an A-ASSOCIATE-AC."""

    max_pdu: int = 0  # 0: unlimited
    # context id -> (result, transfer syntax or "")
    contexts: dict[int, tuple[int, str]] = field(default_factory=dict)
    implementation_class_uid: str = ""
    implementation_version: str = ""


def _items(data: bytes, offset: int):
    while offset + 4 <= len(data):
        item_type, length = struct.unpack_from(">BxH", data, offset)
        start = offset + 4
        if start + length > len(data):
            raise PduError("item runs past the end of its PDU")
        yield item_type, data[start:start + length]
        offset = start + length


def parse_associate_ac(body: bytes) -> AssociateAC:
    """Parse the variable part of an A-ASSOCIATE-AC (body = PDU after its 6-byte header)."""
    if len(body) < 68:
        raise PduError("A-ASSOCIATE-AC too short")
    ac = AssociateAC()
    for item_type, data in _items(body, 68):
        if item_type == 0x21 and len(data) >= 4:
            ctx_id, result = data[0], data[2]
            ts = ""
            for sub_type, sub in _items(data, 4):
                if sub_type == 0x40:
                    ts = _uid(sub)
            ac.contexts[ctx_id] = (result, ts)
        elif item_type == 0x50:
            for sub_type, sub in _items(data, 0):
                if sub_type == 0x51 and len(sub) == 4:
                    ac.max_pdu = struct.unpack(">I", sub)[0]
                elif sub_type == 0x52:
                    ac.implementation_class_uid = _uid(sub)
                elif sub_type == 0x55:
                    ac.implementation_version = sub.decode("ascii", "replace").strip()
    return ac


def parse_reject(body: bytes) -> tuple[int, int, int]:
    """(result, source, reason) of an A-ASSOCIATE-RJ."""
    if len(body) < 4:
        raise PduError("A-ASSOCIATE-RJ too short")
    return body[1], body[2], body[3]


def parse_abort(body: bytes) -> tuple[int, int]:
    """(source, reason) of an A-ABORT."""
    if len(body) < 4:
        return 0, 0
    return body[2], body[3]


def describe_reject(result: int, source: int, reason: int) -> str:
    text = (f"{RJ_RESULT.get(result, '?')}, {RJ_SOURCE.get(source, '?')}, "
            f"{RJ_REASON.get(source, {}).get(reason, '?')}")
    return f"rejected result={result} source={source} reason={reason} ({text})"


def describe_abort(source: int, reason: int) -> str:
    text = f"{ABORT_SOURCE.get(source, '?')}"
    if source == 2:
        text += f", {ABORT_REASON.get(reason, '?')}"
    return f"aborted source={source} reason={reason} ({text})"


RELEASE_RQ = PDU_HEADER.pack(A_RELEASE_RQ, 4) + bytes(4)
RELEASE_RP = PDU_HEADER.pack(A_RELEASE_RP, 4) + bytes(4)
ABORT = PDU_HEADER.pack(A_ABORT, 4) + bytes(4)  # source 0 (service-user), reason 0


def encode_pdata(ctx_id: int, payload: bytes | memoryview, is_command: bool,
                 max_fragment: int) -> bytearray:
    """`payload` as consecutive P-DATA-TF PDUs, one PDV each, fragments <= max_fragment."""
    out = bytearray()
    total = len(payload)
    flag = 0x01 if is_command else 0x00
    view = memoryview(payload)
    pos = 0
    while True:
        chunk = view[pos:pos + max_fragment]
        pos += len(chunk)
        last = pos >= total
        out += PDU_HEADER.pack(P_DATA_TF, PDV_HEADER.size + len(chunk))
        out += PDV_HEADER.pack(len(chunk) + 2, ctx_id, flag | (0x02 if last else 0x00))
        out += chunk
        if last:
            return out


def pdata_offset(payload_offset: int, max_fragment: int) -> int:
    """Where byte `payload_offset` of the payload lands in encode_pdata's output."""
    return payload_offset + PDATA_OVERHEAD * (payload_offset // max_fragment + 1)


def iter_pdvs(body: bytes | memoryview):
    """(context id, control header, fragment) of each PDV in a P-DATA-TF body."""
    offset = 0
    while offset < len(body):
        if offset + 6 > len(body):
            raise PduError("truncated PDV item")
        length, ctx_id, control = PDV_HEADER.unpack_from(body, offset)
        if length < 2 or offset + 4 + length > len(body):
            raise PduError("bad PDV item length")
        yield ctx_id, control, body[offset + 6:offset + 4 + length]
        offset += 4 + length
