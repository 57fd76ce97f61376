"""C-STORE command sets in implicit VR little endian (PS3.7 §9.3.1, §E).

The request is a template: only the MessageID and the instance UID change
per instance, and both sit at fixed offsets once the UID length is fixed.
"""

from __future__ import annotations

import struct

_ELEMENT = struct.Struct("<HHI")

PRIORITY_MEDIUM = 0x0000
# Anything but 0x0101 announces a data set; DCMTK sends 0x0000 too.
DATASET_PRESENT = 0x0000

STATUS_NAMES = {
    0x0000: "Success",
    0x0001: "Warning: attribute list error",
    0x0107: "Warning: attribute list error",
    0x0116: "Warning: attribute value out of range",
    0xB000: "Warning: coercion of data elements",
    0xB006: "Warning: elements discarded",
    0xB007: "Warning: data set does not match SOP class",
    0x0110: "Failure: processing failure",
    0x0111: "Failure: duplicate SOP instance",
    0x0117: "Failure: invalid object instance",
    0x0122: "Failure: SOP class not supported",
    0x0124: "Failure: not authorized",
    0x0210: "Failure: duplicate invocation",
    0x0211: "Failure: unrecognized operation",
    0x0212: "Failure: mistyped argument",
    0xA700: "Failure: out of resources",
    0xA900: "Failure: data set does not match SOP class",
    0xC000: "Failure: cannot understand",
}


def is_warning(status: int) -> bool:
    return status in (0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF


def describe_status(status: int) -> str:
    name = STATUS_NAMES.get(status)
    if name is None:
        if is_warning(status):
            name = "Warning"
        elif 0xA700 <= status <= 0xA7FF:
            name = "Failure: out of resources"
        elif 0xA900 <= status <= 0xA9FF:
            name = "Failure: data set does not match SOP class"
        elif 0xC000 <= status <= 0xCFFF:
            name = "Failure: cannot understand"
        else:
            name = "Failure"
    return f"0x{status:04X} ({name})"


def _ui(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _el(element: int, value: bytes) -> bytes:
    return _ELEMENT.pack(0x0000, element, len(value)) + value


class StoreRequestTemplate:
    """A C-STORE-RQ command set whose MessageID and instance UID are patched in place."""

    def __init__(self, sop_class_uid: str, sop_instance_uid: str):
        self.uid_length = len(_ui(sop_instance_uid))
        body = bytearray()
        body += _el(0x0002, _ui(sop_class_uid))
        body += _el(0x0100, struct.pack("<H", 0x0001))
        self.message_id_offset = len(body) + 12 + 8  # group length element + header
        body += _el(0x0110, struct.pack("<H", 0))
        body += _el(0x0700, struct.pack("<H", PRIORITY_MEDIUM))
        body += _el(0x0800, struct.pack("<H", DATASET_PRESENT))
        self.uid_offset = len(body) + 12 + 8
        body += _el(0x1000, _ui(sop_instance_uid))
        self.command = bytes(_el(0x0000, struct.pack("<I", len(body))) + body)

    def render(self, message_id: int, sop_instance_uid: str) -> bytes:
        """A complete command set (for tests and one-off use)."""
        out = bytearray(self.command)
        struct.pack_into("<H", out, self.message_id_offset, message_id)
        uid = _ui(sop_instance_uid)
        if len(uid) != self.uid_length:
            raise ValueError("instance UID length differs from the template's")
        out[self.uid_offset:self.uid_offset + len(uid)] = uid
        return bytes(out)


def parse_command(data: bytes | bytearray) -> dict[int, bytes]:
    """Elements of an implicit VR LE command set: element number -> raw value."""
    out: dict[int, bytes] = {}
    offset = 0
    end = len(data)
    while offset + 8 <= end:
        group, element, length = _ELEMENT.unpack_from(data, offset)
        offset += 8
        if group != 0x0000 or offset + length > end:
            raise ValueError("malformed command set")
        out[element] = bytes(data[offset:offset + length])
        offset += length
    return out


def store_response(data: bytes | bytearray) -> tuple[int, int]:
    """(MessageIDBeingRespondedTo, Status) of a C-STORE-RSP command set."""
    elements = parse_command(data)
    field = struct.unpack("<H", elements.get(0x0100, b"\0\0")[:2])[0]
    if field != 0x8001:
        raise ValueError(f"expected C-STORE-RSP (0x8001), got command field 0x{field:04X}")
    responded = struct.unpack("<H", elements.get(0x0120, b"\0\0")[:2])[0]
    if 0x0900 not in elements:
        raise ValueError("C-STORE-RSP without Status")
    status = struct.unpack("<H", elements[0x0900][:2])[0]
    return responded, status
