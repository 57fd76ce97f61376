"""A-ASSOCIATE-RQ decoding and A-ASSOCIATE-AC/RJ encoding (PS3.8 9.3.2-9.3.4).

Written with struct rather than pynetdicom's PDU classes: those take ~28 ms of
CPU to decode a request with 128 presentation contexts, which alone would blow
the 5 ms budget for accepting an association. Every length is checked against
the bytes actually present, so a malformed request raises instead of reading
past its end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

_ITEM = struct.Struct(">BxH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">L")


class MalformedRequest(ValueError):
    """The A-ASSOCIATE-RQ violates PS3.8; the association is aborted."""


@dataclass
class AssociateRequest:
    called_ae_title: str = ""
    calling_ae_title: str = ""
    application_context: str = ""
    contexts: list[tuple[int, str, list[str]]] = field(default_factory=list)
    max_pdu_length: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    roles: dict[str, tuple[int, int]] = field(default_factory=dict)
    extended_negotiation: dict[str, bytes] = field(default_factory=dict)


def _text(value: bytes) -> str:
    return value.decode("ascii", "replace").strip(" \x00")


def _items(data: bytes, start: int, end: int):
    """Yield (type, value start, value end) for the items in data[start:end]."""
    offset = start
    while offset < end:
        if offset + 4 > end:
            raise MalformedRequest("truncated item header")
        item_type, length = _ITEM.unpack_from(data, offset)
        value_start = offset + 4
        value_end = value_start + length
        if value_end > end:
            raise MalformedRequest(f"item 0x{item_type:02x} longer than its PDU")
        yield item_type, value_start, value_end
        offset = value_end


def _uid_item(data: bytes, start: int, end: int) -> str:
    return _text(data[start:end])


def decode_request(body: bytes) -> AssociateRequest:
    """Decode the variable part of an A-ASSOCIATE-RQ (everything after the 6-byte PDU header)."""
    if len(body) < 68:
        raise MalformedRequest("A-ASSOCIATE-RQ shorter than its fixed fields")
    request = AssociateRequest(
        called_ae_title=_text(body[4:20]),
        calling_ae_title=_text(body[20:36]),
    )
    for item_type, start, end in _items(body, 68, len(body)):
        if item_type == 0x10:
            request.application_context = _uid_item(body, start, end)
        elif item_type == 0x20:
            request.contexts.append(_decode_context(body, start, end))
        elif item_type == 0x50:
            _decode_user_information(request, body, start, end)
    return request


def _decode_context(data: bytes, start: int, end: int) -> tuple[int, str, list[str]]:
    if end - start < 4:
        raise MalformedRequest("presentation context item too short")
    context_id = data[start]
    abstract_syntax = ""
    transfer_syntaxes: list[str] = []
    for sub_type, sub_start, sub_end in _items(data, start + 4, end):
        if sub_type == 0x30:
            abstract_syntax = _uid_item(data, sub_start, sub_end)
        elif sub_type == 0x40:
            transfer_syntaxes.append(_uid_item(data, sub_start, sub_end))
    return context_id, abstract_syntax, transfer_syntaxes


def _decode_user_information(request: AssociateRequest, data: bytes, start: int, end: int) -> None:
    for sub_type, sub_start, sub_end in _items(data, start, end):
        value = data[sub_start:sub_end]
        if sub_type == 0x51 and len(value) == 4:
            request.max_pdu_length = _U32.unpack(value)[0]
        elif sub_type == 0x52:
            request.implementation_class_uid = _text(value)
        elif sub_type == 0x55:
            request.implementation_version_name = _text(value)
        elif sub_type == 0x54 and len(value) >= 4:
            uid_length = _U16.unpack_from(value)[0]
            if 2 + uid_length + 2 <= len(value):
                uid = _text(value[2 : 2 + uid_length])
                request.roles[uid] = (value[2 + uid_length], value[3 + uid_length])
        elif sub_type == 0x56 and len(value) >= 2:
            uid_length = _U16.unpack_from(value)[0]
            if 2 + uid_length <= len(value):
                uid = _text(value[2 : 2 + uid_length])
                request.extended_negotiation[uid] = bytes(value[2 + uid_length :])


def _item(item_type: int, value: bytes) -> bytes:
    return _ITEM.pack(item_type, len(value)) + value


def _ae(title: str) -> bytes:
    return title.encode("ascii", "replace")[:16].ljust(16)


def _uid_with_length(uid: str) -> bytes:
    raw = uid.encode("ascii")
    return _U16.pack(len(raw)) + raw


def encode_accept(
    request: AssociateRequest,
    results: list[tuple[int, int, str | None]],
    max_pdu_length: int,
    implementation_class_uid: str,
    implementation_version_name: str,
    roles: dict[str, tuple[int, int]] | None = None,
    extended_negotiation: dict[str, bytes] | None = None,
) -> bytes:
    """The A-ASSOCIATE-AC PDU; AE titles echo the request as DCMTK and pynetdicom do."""
    parts = [_item(0x10, APPLICATION_CONTEXT.encode())]
    for context_id, result, transfer_syntax in results:
        # A rejected context still carries one transfer-syntax sub-item, whose value is ignored.
        syntax = (transfer_syntax or "").encode() if result == 0 else b""
        parts.append(_item(0x21, bytes((context_id, 0, result, 0)) + _item(0x40, syntax)))
    user = [
        _item(0x51, _U32.pack(max_pdu_length)),
        _item(0x52, implementation_class_uid.encode()),
        _item(0x55, implementation_version_name.encode()),
    ]
    for uid, (scu, scp) in (roles or {}).items():
        user.append(_item(0x54, _uid_with_length(uid) + bytes((scu, scp))))
    for uid, info in (extended_negotiation or {}).items():
        user.append(_item(0x56, _uid_with_length(uid) + info))
    parts.append(_item(0x50, b"".join(user)))
    body = (
        _U16.pack(1) + b"\x00\x00" + _ae(request.called_ae_title) + _ae(request.calling_ae_title)
        + bytes(32) + b"".join(parts)
    )
    return struct.pack(">BxL", 0x02, len(body)) + body


def encode_reject(result: int, source: int, reason: int) -> bytes:
    return bytes((0x03, 0, 0, 0, 0, 4, 0, result, source, reason))
