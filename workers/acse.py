"""A-ASSOCIATE-RQ decoding and A-ASSOCIATE-AC/RJ encoding (PS3.8 9.3.2-9.3.4).

Written with struct rather than pynetdicom's PDU classes: those take ~28 ms of
CPU to decode a request with 128 presentation contexts, which alone would blow
the 5 ms budget for accepting an association. Every length is checked against
the bytes actually present, so a malformed request raises instead of reading
past its end. Values are read as DCMTK's DUL layer reads them (AE titles lose
trailing spaces only, a UID ends at its first NUL, the first role item for an
abstract syntax wins), so that negotiation compares the same strings dcmrecv
compares.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dcmrecv_cluster.shared import ul

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
MAXIMUM_PDU_SIZE = 131072  # DCMTK ASC_MAXIMUMPDUSIZE: caps the PDV size we send

_ITEM = ul.ITEM_HEADER
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">L")


BOTH_ROLES_ZERO = ("W", "DULFSM: both role fields are 0 in SCP/SCU role selection sub-item")


class MalformedRequest(ValueError):
    """The A-ASSOCIATE-RQ violates PS3.8; the association is aborted."""


@dataclass
class UserIdentity:
    """A User Identity Negotiation sub-item (0x58) of the request, kept only for the +v dump."""

    identity_type: int
    positive_response: int
    primary: bytes
    secondary: bytes


@dataclass
class AssociateRequest:
    called_ae_title: str = ""
    calling_ae_title: str = ""
    application_context: str = ""
    contexts: list[tuple[int, str, list[str]]] = field(default_factory=list)
    max_pdu_length: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    # abstract syntax -> (SCU role, SCP role) of the first role item for it (DCMTK findSCUSCPRole)
    roles: dict[str, tuple[int, int]] = field(default_factory=dict)
    # every SOP Class Extended Negotiation item, in request order (only dumped: never answered from)
    extended_negotiation: list[tuple[str, bytes]] = field(default_factory=list)
    user_identity: UserIdentity | None = None
    # (level, text) lines DCMTK's upper layer logs while it receives such a request, before
    # "Association Received"
    warnings: list[tuple[str, str]] = field(default_factory=list)


def _text(value: bytes) -> str:
    """An AE title as DCMTK keeps it: up to the first NUL, trailing spaces removed."""
    end = value.find(0)
    if end >= 0:
        value = value[:end]
    return value.decode("latin-1").rstrip(" ")


def _uid(data: bytes, start: int, end: int) -> str:
    """A UID sub-item value as a C string: it ends at the first NUL (DCMTK parseSubItem)."""
    nul = data.find(0, start, end)
    return data[start : end if nul < 0 else nul].decode("latin-1")


def _items(data: bytes, start: int, end: int, where: str):
    """(type, value start, value end) of each item in data[start:end]; every length is checked."""
    unpack = _ITEM.unpack_from
    offset = start
    while offset < end:
        if offset + 4 > end:
            raise MalformedRequest(f"truncated {where} header")
        item_type, length = unpack(data, offset)
        value_start = offset + 4
        offset = value_start + length
        if offset > end:
            raise MalformedRequest(f"{where} 0x{item_type:02x} longer than its container")
        yield item_type, value_start, offset


def decode_request(body: bytes) -> AssociateRequest:
    """Decode the variable part of an A-ASSOCIATE-RQ (everything after the 6-byte PDU header)."""
    size = len(body)
    if size < 68:
        raise MalformedRequest("A-ASSOCIATE-RQ shorter than its fixed fields")
    request = AssociateRequest(_text(body[4:20]), _text(body[20:36]))
    for item_type, start, end in _items(body, 68, size, "item"):
        if item_type == 0x20:
            request.contexts.append(_decode_context(body, start, end))
        elif item_type == 0x10:
            request.application_context = _uid(body, start, end)
        elif item_type == 0x50:
            _decode_user_information(request, body, start, end)
    if request.roles and (0, 0) in request.roles.values():
        both_zero = {uid for uid, pair in request.roles.items() if pair == (0, 0)}
        request.warnings += [BOTH_ROLES_ZERO for _, uid, _ in request.contexts if uid in both_zero]
    return request


def _decode_context(data: bytes, start: int, end: int) -> tuple[int, str, list[str]]:
    if end - start < 4:
        raise MalformedRequest("presentation context item too short")
    context_id = data[start]
    abstract_syntax = ""
    transfer_syntaxes: list[str] = []
    for sub_type, sub_start, sub_end in _items(data, start + 4, end, "sub-item"):
        if sub_type == 0x40:
            transfer_syntaxes.append(_uid(data, sub_start, sub_end))
        elif sub_type == 0x30:
            abstract_syntax = _uid(data, sub_start, sub_end)
    if not transfer_syntaxes:
        # DCMTK: "DUL Peer supplied illegal number of transfer syntaxes (0)", association not received
        raise MalformedRequest("DUL Peer supplied illegal number of transfer syntaxes (0)")
    return context_id, abstract_syntax, transfer_syntaxes


def _decode_user_information(request: AssociateRequest, data: bytes, start: int, end: int) -> None:
    for sub_type, value_start, value_end in _items(data, start, end, "user information sub-item"):
        value = data[value_start:value_end]
        length = value_end - value_start
        if sub_type == 0x51 and length == 4:
            request.max_pdu_length = _U32.unpack(value)[0]
        elif sub_type == 0x52:
            request.implementation_class_uid = _uid(value, 0, length)
        elif sub_type == 0x55:
            request.implementation_version_name = _uid(value, 0, length)
        elif sub_type == 0x54 and length >= 4:
            uid_length = _U16.unpack_from(value)[0]
            if 2 + uid_length + 2 <= length:
                uid = _uid(value, 2, 2 + uid_length)
                if uid not in request.roles:
                    request.roles[uid] = (value[2 + uid_length], value[3 + uid_length])
        elif sub_type == 0x56 and length >= 2:
            uid_length = _U16.unpack_from(value)[0]
            if 2 + uid_length <= length:
                request.extended_negotiation.append((_uid(value, 2, 2 + uid_length), value[2 + uid_length :]))
        elif sub_type == 0x58 and length >= 4:
            primary_length = _U16.unpack_from(value, 2)[0]
            secondary_at = 4 + primary_length
            secondary = b""
            if secondary_at + 2 <= length:
                secondary_length = _U16.unpack_from(value, secondary_at)[0]
                secondary = value[secondary_at + 2 : secondary_at + 2 + secondary_length]
            request.user_identity = UserIdentity(value[0], value[1], value[4:secondary_at], secondary)


def max_send_pdv(their_max_pdu: int) -> int:
    """DCMTK's 'Max Send PDV' for the peer's maximum PDU length (ASC_acknowledgeAssociation).

    0 (unlimited) and anything above 131072 mean 131072; odd values lose one; 12 header bytes
    come off; results below 12 fall back to 4096 - 12.
    """
    size = their_max_pdu
    if size < 1 or size > MAXIMUM_PDU_SIZE:
        size = MAXIMUM_PDU_SIZE
    size -= size % 2
    size -= 12
    return size if size >= 12 else 4096 - 12


def _item(item_type: int, value: bytes) -> bytes:
    return _ITEM.pack(item_type, len(value)) + value


def _ae(title: str) -> bytes:
    return title.encode("latin-1", "replace")[:16].ljust(16)


def _uid_with_length(uid: str) -> bytes:
    raw = uid.encode("latin-1")
    return _U16.pack(len(raw)) + raw


_APPLICATION_CONTEXT_ITEM = _item(0x10, APPLICATION_CONTEXT.encode())
_REFUSED_SYNTAX_ITEM = _item(0x40, IMPLICIT_VR_LITTLE_ENDIAN.encode())


def encode_accept(
    request: AssociateRequest,
    results: list[tuple[int, int, str | None]],
    max_pdu_length: int,
    implementation_class_uid: str,
    implementation_version_name: str,
    roles: list[tuple[str, int, int]] | None = None,
    extended_negotiation: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """The A-ASSOCIATE-AC PDU, item for item what DCMTK sends.

    AE titles echo the request; a refused context carries Implicit VR Little Endian as its
    transfer syntax (DCMTK ``ASC_refusePresentationContext``: "some implementations get
    confused" without one); role items and extended negotiation items come in the order given.
    """
    pack = _ITEM.pack
    parts = [_APPLICATION_CONTEXT_ITEM]
    append = parts.append
    for context_id, result, transfer_syntax in results:
        if result == ul.ACCEPTANCE:
            syntax = transfer_syntax.encode()  # type: ignore[union-attr]
            append(pack(0x21, 8 + len(syntax)) + bytes((context_id, 0, 0, 0)) + pack(0x40, len(syntax)) + syntax)
        else:
            append(pack(0x21, 4 + len(_REFUSED_SYNTAX_ITEM)) + bytes((context_id, 0, result, 0)) + _REFUSED_SYNTAX_ITEM)
    user = [
        _item(0x51, _U32.pack(max_pdu_length)),
        _item(0x52, implementation_class_uid.encode()),
    ]
    for uid, scu, scp in roles or ():
        user.append(_item(0x54, _uid_with_length(uid) + bytes((scu, scp))))
    user.append(_item(0x55, implementation_version_name.encode()))
    for uid, info in extended_negotiation or ():
        user.append(_item(0x56, _uid_with_length(uid) + info))
    append(_item(0x50, b"".join(user)))
    body = (
        b"\x00\x01\x00\x00" + _ae(request.called_ae_title) + _ae(request.calling_ae_title)
        + bytes(32) + b"".join(parts)
    )
    return ul.PDU_HEADER.pack(ul.A_ASSOCIATE_AC, len(body)) + body


encode_reject = ul.reject_pdu  # A-ASSOCIATE-RJ: one encoder, shared with the supervisor's rejector
