"""DICOM Part 10 files found in a directory, described without decoding them.

Only the File Meta Information (group 0002, explicit VR LE) is read: it gives
the SOP class, instance UID, transfer syntax and where the data set begins;
the data set bytes are sent exactly as stored.
"""

from __future__ import annotations

import os
import struct

from .payload import InstanceSpec

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
             b"UR", b"UT", b"UV"}


class NotPart10(ValueError):
    """The file has no DICM prefix or no usable meta information."""


def read_meta(path: str) -> InstanceSpec:
    """Scan one file's meta header into an InstanceSpec (data set read later)."""
    with open(path, "rb") as fh:
        head = fh.read(132)
        if len(head) < 132 or head[128:132] != b"DICM":
            raise NotPart10(f"{path}: not a DICOM Part 10 file")
        meta = fh.read(65536)
    values: dict[int, bytes] = {}
    offset = 0
    while offset + 8 <= len(meta):
        group, element = struct.unpack_from("<HH", meta, offset)
        if group != 0x0002:
            break
        vr = meta[offset + 4:offset + 6]
        if vr in _LONG_VRS:
            length = struct.unpack_from("<I", meta, offset + 8)[0]
            start = offset + 12
        else:
            length = struct.unpack_from("<H", meta, offset + 6)[0]
            start = offset + 8
        values[element] = meta[start:start + length]
        offset = start + length
    try:
        sop_class = values[0x0002].rstrip(b"\x00 ").decode("ascii")
        sop_instance = values[0x0003].rstrip(b"\x00 ").decode("ascii")
        ts = values[0x0010].rstrip(b"\x00 ").decode("ascii")
    except (KeyError, UnicodeDecodeError) as exc:
        raise NotPart10(f"{path}: incomplete file meta information") from exc
    data_offset = 132 + offset
    size = os.path.getsize(path) - data_offset
    return InstanceSpec(sop_class_uid=sop_class, transfer_syntax=ts,
                        sop_instance_uid=sop_instance, size=size, path=path,
                        offset=data_offset)


def scan(directory: str) -> tuple[list[InstanceSpec], list[str]]:
    """All Part 10 files under `directory` (sorted), and the paths skipped."""
    specs: list[InstanceSpec] = []
    skipped: list[str] = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            try:
                specs.append(read_meta(path))
            except (NotPart10, OSError, struct.error):
                skipped.append(path)
    return specs, skipped
