"""What one C-STORE puts on the wire, encoded once and patched per instance.

An `InstanceSpec` is the picklable description handed to worker processes;
a `PreparedInstance` is the ready byte string (command PDU(s) followed by
the data set's P-DATA-TF PDUs, fragmented for the peer's max PDU length)
in which only the MessageID and, for synthetic instances, the SOP Instance
UID are overwritten before each send.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .dimse import StoreRequestTemplate
from .pdu import encode_pdata, pdata_offset


@dataclass(frozen=True)
class InstanceSpec:
    """One instance to send: in memory (synthetic) or a file read lazily."""

    sop_class_uid: str
    transfer_syntax: str
    sop_instance_uid: str
    size: int  # bytes of the encoded data set
    dataset: bytes | None = None
    path: str | None = None
    offset: int = 0  # where the data set starts in `path`
    uid_offset: int | None = None  # set: patch a fresh instance UID here per send

    @property
    def patched(self) -> bool:
        return self.uid_offset is not None

    def load(self) -> bytes:
        if self.dataset is not None:
            return self.dataset
        assert self.path is not None
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        if len(data) != self.size:
            raise OSError(f"{self.path}: size changed since it was scanned")
        return data


def _runs(buf_base: int, payload_offset: int, length: int, max_fragment: int):
    """(buffer offset, start, end) pieces of a payload range split by PDV headers."""
    pieces = []
    pos = payload_offset
    end = payload_offset + length
    while pos < end:
        frag_end = (pos // max_fragment + 1) * max_fragment
        stop = min(end, frag_end)
        pieces.append((buf_base + pdata_offset(pos, max_fragment),
                       pos - payload_offset, stop - payload_offset))
        pos = stop
    return pieces


class PreparedInstance:
    """`buf` is what goes to sendall(); stamp() makes it the next instance."""

    __slots__ = ("buf", "spec", "size", "_msgid_offsets", "_uid_runs")

    def __init__(self, spec: InstanceSpec, ctx_id: int, max_fragment: int,
                 data: bytes | None = None):
        self.spec = spec
        self.size = spec.size
        template = StoreRequestTemplate(spec.sop_class_uid, spec.sop_instance_uid)
        command = encode_pdata(ctx_id, template.command, True, max_fragment)
        dataset = encode_pdata(ctx_id, spec.load() if data is None else data,
                               False, max_fragment)
        base = len(command)
        self.buf = command + dataset
        self._msgid_offsets = [(o, s, e) for o, s, e in
                               _runs(0, template.message_id_offset, 2, max_fragment)]
        self._uid_runs = []
        if spec.patched:
            self._uid_runs += _runs(0, template.uid_offset, template.uid_length, max_fragment)
            self._uid_runs += _runs(base, spec.uid_offset, template.uid_length, max_fragment)

    def stamp(self, message_id: int, uid: bytes | None = None) -> None:
        """Write the MessageID (and the instance UID for patched specs) in place."""
        buf = self.buf
        if len(self._msgid_offsets) == 1:
            struct.pack_into("<H", buf, self._msgid_offsets[0][0], message_id)
        else:
            raw = struct.pack("<H", message_id)
            for offset, start, end in self._msgid_offsets:
                buf[offset:offset + end - start] = raw[start:end]
        if uid is not None and self._uid_runs:
            for offset, start, end in self._uid_runs:
                buf[offset:offset + end - start] = uid[start:end]
