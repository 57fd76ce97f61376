"""The few DIMSE command sets a Storage SCP meets, decoded and encoded by hand.

Command sets are always Implicit VR Little Endian (PS3.7 6.3.1) and small;
responses are built from the request's values without a general-purpose encoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
NO_DATASET = 0x0101

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000

_ELEMENT = struct.Struct("<HHL")
_US = struct.Struct("<H")


class CommandError(ValueError):
    """The command set cannot be decoded."""


@dataclass
class Command:
    command_field: int
    message_id: int
    has_dataset: bool
    affected_sop_class_uid: str = ""
    affected_sop_instance_uid: str = ""
    priority: int = 0


def _uid(value: bytes) -> str:
    # latin-1 keeps every byte: a hostile UID still round-trips into the response unchanged.
    return value.rstrip(b"\x00 ").decode("latin-1").strip()


def decode_command(data: bytes) -> Command:
    values: dict[int, bytes] = {}
    offset = 0
    size = len(data)
    while offset < size:
        if offset + 8 > size:
            raise CommandError("truncated element header in command set")
        group, element, length = _ELEMENT.unpack_from(data, offset)
        offset += 8
        if group != 0x0000 or length == 0xFFFFFFFF or offset + length > size:
            raise CommandError(f"invalid element ({group:04x},{element:04x}) in command set")
        values[element] = data[offset : offset + length]
        offset += length

    def us(element: int) -> int:
        value = values.get(element)
        if value is None or len(value) != 2:
            raise CommandError(f"missing or invalid (0000,{element:04x}) in command set")
        return _US.unpack(value)[0]

    command_field = us(0x0100)
    message_id = us(0x0110) if command_field & 0x8000 == 0 else 0
    return Command(
        command_field=command_field,
        message_id=message_id,
        has_dataset=us(0x0800) != NO_DATASET,
        affected_sop_class_uid=_uid(values.get(0x0002, b"")),
        affected_sop_instance_uid=_uid(values.get(0x1000, b"")),
        priority=_US.unpack(values[0x0700])[0] if len(values.get(0x0700, b"")) == 2 else 0,
    )


def _ui(element: int, uid: str) -> bytes:
    value = uid.encode("latin-1")
    if len(value) % 2:
        value += b"\x00"
    return _ELEMENT.pack(0, element, len(value)) + value


def _us(element: int, value: int) -> bytes:
    return _ELEMENT.pack(0, element, 2) + _US.pack(value)


def _with_group_length(body: bytes) -> bytes:
    return _ELEMENT.pack(0, 0x0000, 4) + struct.pack("<L", len(body)) + body


def store_response(request: Command, status: int) -> bytes:
    return _with_group_length(
        _ui(0x0002, request.affected_sop_class_uid)
        + _us(0x0100, C_STORE_RSP)
        + _us(0x0120, request.message_id)
        + _us(0x0800, NO_DATASET)
        + _us(0x0900, status)
        + _ui(0x1000, request.affected_sop_instance_uid)
    )


def echo_response(request: Command) -> bytes:
    return _with_group_length(
        _ui(0x0002, request.affected_sop_class_uid or "1.2.840.10008.1.1")
        + _us(0x0100, C_ECHO_RSP)
        + _us(0x0120, request.message_id)
        + _us(0x0800, NO_DATASET)
        + _us(0x0900, SUCCESS)
    )


STATUS_TEXT = {
    SUCCESS: "Success",
    OUT_OF_RESOURCES: "Refused: OutOfResources",
    CANNOT_UNDERSTAND: "Error: CannotUnderstand",
}


def status_text(status: int) -> str:
    """dcmrecv's wording for the statuses it sends (DU_cstoreStatusString)."""
    return STATUS_TEXT.get(status, f"Unknown Status: 0x{status:x}")
