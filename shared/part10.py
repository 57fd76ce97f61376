"""The DICOM Part-10 file header dcmrecv writes, a cheap dataset peek, and a streaming scanner.

``encode_meta`` builds the 128-byte preamble, ``DICM`` and group 0002 with
exactly the elements dcmrecv writes (DCMTK ``DcmFileFormat::validateMetaInfo``); the worker appends the
dataset bytes as received.  ``read_dataset_facts`` pulls the few top-level
attributes naming needs from an encoded dataset without decoding it fully:
it stops at the first element past group 0008 and never touches pixel data.
``DatasetScanner`` is its push-driven sibling for a dataset arriving in
fragments: it walks the whole structure without keeping values (so it can tell,
as DCMTK's parser does, whether the dataset decodes at all) and reports the
naming facts as soon as group 0008 has been passed.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from dcmrecv_cluster.shared.sequence_tags import SEQUENCE_TAGS

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "BIT_PRESERVING_VERSION_NAME",
    "encode_meta",
    "DatasetFacts",
    "DatasetError",
    "read_dataset_facts",
    "DatasetScanner",
    "UNKNOWN_SOP_CLASS_UID",
]

#: Our Implementation Class UID (not DCMTK's ``1.2.276.0.7230010.3.0.3.6.7``).
#: Derived from UUID f4de59c6-0061-4981-afe1-37c524812441, generated once for
#: dcmrecv-cluster, under the ``2.25`` arc (X.667) like our ``+fu`` UIDs, so
#: it needs no registered organisation root.  44 chars (even: no padding).
IMPLEMENTATION_CLASS_UID = "2.25.325486141695862720474628593889394631745"

#: (0002,0013) in normal mode; analogue of DCMTK's ``OFFIS_DCMTK_367``.
#: SH and the A-ASSOCIATE item allow at most 16 chars, so the suggested
#: ``DCMRECV_CLUSTER_01`` (18) is shortened.
IMPLEMENTATION_VERSION_NAME = "DCMRECVCLUSTER01"

#: (0002,0013) in ``+B`` mode; analogue of DCMTK's ``OFFIS_DCMBP_367``.
BIT_PRESERVING_VERSION_NAME = "DCMRECVCLUSTBP01"

PREAMBLE = bytes(128)
MAGIC = b"DICM"

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
#: Syntaxes whose whole dataset is raw-deflated explicit VR LE.
_DEFLATED = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95"})


# --------------------------------------------------------------------------
# group 0002


def _pad(value: bytes, pad: bytes) -> bytes:
    return value + pad if len(value) % 2 else value


def _el_short(elem: int, vr: bytes, value: bytes) -> bytes:
    """Explicit VR LE element of group 0002 with a 2-byte length field."""
    return struct.pack("<HH2sH", 0x0002, elem, vr, len(value)) + value


def _ui(value: str) -> bytes:
    return _pad(value.encode("latin-1"), b"\0")


def _sh(value: str) -> bytes:
    return _pad(value.encode("latin-1"), b" ")


@functools.lru_cache(maxsize=256)
def _meta_head(sop_class_uid: str) -> bytes:
    """(0002,0001) and (0002,0002): the same for every instance of a class."""
    return (struct.pack("<HH2sHI", 0x0002, 0x0001, b"OB", 0, 2) + b"\x00\x01"
            + _el_short(0x0002, b"UI", _ui(sop_class_uid)))


@functools.lru_cache(maxsize=64)
def _meta_tail(transfer_syntax: str, implementation_class_uid: str, implementation_version: str) -> bytes:
    """(0002,0010), (0002,0012) and (0002,0013): the same for every instance of an association."""
    return (_el_short(0x0010, b"UI", _ui(transfer_syntax))
            + _el_short(0x0012, b"UI", _ui(implementation_class_uid))
            + _el_short(0x0013, b"SH", _sh(implementation_version)))


def encode_meta(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
    implementation_version: str = IMPLEMENTATION_VERSION_NAME,
    source_ae_title: str | None = None,
) -> bytes:
    """Preamble + ``DICM`` + group 0002 (explicit VR LE), as dcmrecv writes it.

    Elements in order: (0000) UL group length, (0001) OB ``00\\01``,
    (0002)/(0003) UI class/instance, (0010) UI transfer syntax, (0012) UI,
    (0013) SH, and (0016) AE only if *source_ae_title* is given (``+B``).
    UI values are padded with NUL, SH/AE with a space, to even length.
    Trailing spaces of the AE title are dropped first (the association layer
    hands dcmrecv the title without them; leading spaces are kept), verified
    against Debian 12's dcmrecv.  Strings are encoded Latin-1 so any bytes
    the caller decoded that way round-trip.
    """

    payload = b"".join((
        _meta_head(sop_class_uid),
        _el_short(0x0003, b"UI", _ui(sop_instance_uid)),
        _meta_tail(transfer_syntax, implementation_class_uid, implementation_version),
        b"" if source_ae_title is None else _el_short(0x0016, b"AE", _sh(source_ae_title.rstrip(" "))),
    ))
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(payload))
    return PREAMBLE + MAGIC + group_length + payload


# --------------------------------------------------------------------------
# dataset peek


class DatasetError(ValueError):
    """The encoded dataset cannot be parsed (truncated, bad VR, bad deflate...)."""


@dataclass(frozen=True)
class DatasetFacts:
    """Top-level attributes of a received dataset that naming needs.

    UIDs and modality are text as DCMTK's C strings would see them (cut at
    the first NUL, i.e. UI padding removed); the series date is the raw value
    with its VR (as on the wire, or ``DA`` for implicit VR), for
    :func:`dcmrecv_cluster.shared.naming.series_date_subdir`.  ``None`` =
    attribute absent.
    """

    sop_class_uid: str | None
    sop_instance_uid: str | None
    series_date: bytes | None
    series_date_vr: str | None
    modality: str | None
    is_empty: bool
    #: Only from :class:`DatasetScanner`, and only once the whole dataset (or
    #: group 0020) has passed: they come after the naming facts, never delay them.
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None


# VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_SHORT_VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split())
_UNDEFINED = 0xFFFFFFFF
_VR_TEXT = {vr: vr.decode() for vr in _LONG_VRS | _SHORT_VRS}
_PIXEL_DATA = (0x7FE0, 0x0010)
# tag, 16-bit and 32-bit length per byte order: made once, not per scanner
_HEADER_STRUCTS = {end: (struct.Struct(end + "HH"), struct.Struct(end + "H"), struct.Struct(end + "I"),
                         struct.Struct(end + "HH2sH"), struct.Struct(end + "HHI"))
                   for end in "<>"}
_ITEM, _ITEM_END, _SEQ_END = 0xE000, 0xE00D, 0xE0DD
_WANTED = {0x0016: "class", 0x0018: "instance", 0x0021: "date", 0x0060: "modality"}
_IMPLICIT_VR = {0x0016: "UI", 0x0018: "UI", 0x0021: "DA", 0x0060: "CS", 0x000D: "UI", 0x000E: "UI"}
#: Group 0020 attributes the scanner keeps for the store event (not for naming).
_WANTED_0020 = {0x000D: "study", 0x000E: "series"}
_CHUNK = 16384


def _implicit_is_sequence(group: int, elem: int) -> bool:
    """Implicit VR: the data dictionary says which elements are sequences (DCMTK's does too)."""
    return ((group << 16) | elem) in SEQUENCE_TAGS


def _text(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("latin-1")


def _encoding(transfer_syntax: str) -> tuple[bool, bool, bool]:
    """(explicit, little endian, deflated) for a transfer syntax UID."""
    ts = transfer_syntax.rstrip("\0 ")
    if ts == _IMPLICIT_LE:
        return False, True, False
    if ts == _EXPLICIT_BE:
        return True, False, False
    return True, True, ts in _DEFLATED  # explicit LE and all encapsulated syntaxes


def read_dataset_facts(
    data: bytes | bytearray | memoryview | BinaryIO, transfer_syntax: str
) -> DatasetFacts:
    """Peek at SOP Class/Instance UID, Series Date (+VR), Modality, emptiness of a whole dataset.

    *data* is the encoded dataset (no meta header) in *transfer_syntax*, as
    bytes or a binary file positioned at its start.  The same walk as
    :class:`DatasetScanner` (one parser, not two); reading stops as soon as
    the facts are final.  Raises :class:`DatasetError` if the bytes up to that
    point cannot be decoded.
    """
    scanner = DatasetScanner(transfer_syntax)
    read = data.read if hasattr(data, "read") else None  # type: ignore[union-attr]
    view = memoryview(data) if read is None else None
    offset = 0
    while not scanner.facts_ready:
        chunk = read(_FACTS_CHUNK) if read is not None else view[offset : offset + _FACTS_CHUNK]
        offset += len(chunk)
        if not chunk:
            scanner.close()
            break
        scanner.feed(chunk)
        if scanner.error is not None:
            raise scanner.error
    return scanner.facts()


_FACTS_CHUNK = 16384


# --------------------------------------------------------------------------
# streaming scanner

#: What DCMTK writes as (0002,0002) when the dataset has no SOP Class UID
#: (``UID_PrivateGenericFileSOPClass``, verified against dcmrecv).
UNKNOWN_SOP_CLASS_UID = "1.2.276.0.7230010.3.1.0.1"

_SEEN_PAST_FACTS = (0x0008, 0x0021)
_SEEN_PAST_UIDS = (0x0020, 0x000E)
_INFLATE_STEP = 1 << 20
#: Longer naming values are skipped, never buffered (a UID has 64 chars at most).
_MAX_WANTED = 4096


class _EndInHeader(Exception):
    """The data ended inside an element or item header: DCMTK drops that tail silently."""


class DatasetScanner:
    """Walk an encoded dataset fed in arbitrary fragments, in bounded memory.

    ``feed(chunk)`` takes the bytes as received (deflated ones are inflated
    here); ``close()`` marks the end and raises :class:`DatasetError` when the
    dataset does not decode the way DCMTK's reader requires: a value or header
    running past the end, an unterminated sequence or item, a non-item inside a
    sequence, a top-level item tag, a bad deflate stream.  Like dcmrecv
    (verified), a tail too short for a whole element header and a sequence
    left open at the end are accepted.  Like DCMTK, a
    non-standard explicit VR is accepted: two upper-case letters are read with
    a 4-byte length, anything else with a 2-byte length.  Values are skipped,
    except the four naming attributes of group 0008 and the two UIDs of group 0020.

    ``facts_ready`` becomes true once no later element can change the facts
    (an element past (0008,0021) at top level, or the end); ``facts()`` then
    gives the :class:`DatasetFacts`.  Study and Series Instance UID are kept
    too as the walk passes them, without moving ``facts_ready``; ``uids_ready``
    tells when they are final (past (0020,000E), or the end).  Only element
    headers and the wanted values are ever buffered, so memory stays small
    whatever the dataset size.
    """

    def __init__(self, transfer_syntax: str) -> None:
        explicit, little, deflated = _encoding(transfer_syntax)
        self._explicit = explicit
        self._end = "<" if little else ">"
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
        self._buf = bytearray()
        self._skip = 0
        self._eof = False
        self._found: dict[str, tuple[str | None, bytes]] = {}
        self._elements = 0
        self._consumed = 0   # position in the (inflated) dataset
        self.facts_ready = False
        self.uids_ready = False
        self.error: DatasetError | None = None
        self._tag, self._u16, self._u32, self._explicit_head, self._implicit_head = _HEADER_STRUCTS[self._end]
        self._walker = self._walk()
        self._resume()

    # ---- input ---------------------------------------------------------------
    def feed(self, chunk) -> None:
        if self.error is not None or self._walker is None:
            return
        if self._inflater is None:
            self._take_in(chunk)
            return
        try:
            data = self._inflater.decompress(chunk, _INFLATE_STEP)
            self._take_in(data)
            while self._inflater.unconsumed_tail and self.error is None:
                self._take_in(self._inflater.decompress(self._inflater.unconsumed_tail, _INFLATE_STEP))
        except zlib.error as exc:
            self._set_error(DatasetError(f"invalid deflated dataset: {exc}"))

    def skip_ahead(self, count: int) -> bool:
        """feed() of ``count`` bytes that fall inside the value being skipped (pixel data): True if so.

        False, and nothing taken, when they do not all fall there: feed() them then.
        """
        if self._skip >= count and self._inflater is None and self.error is None:
            self._skip -= count
            return True
        return False

    def close(self) -> None:
        """End of data: raises :class:`DatasetError` if it did not decode."""
        if self.error is None and self._inflater is not None:
            try:
                self._take_in(self._inflater.flush())
            except zlib.error as exc:
                self._set_error(DatasetError(f"invalid deflated dataset: {exc}"))
        self._eof = True
        if self.error is None and self._walker is not None:
            self._resume()
        if self.error is not None:
            raise self.error
        self.facts_ready = self.uids_ready = True

    def _take_in(self, data) -> None:
        view = memoryview(data)
        if self._skip:
            n = min(self._skip, len(view))
            self._skip -= n
            view = view[n:]
        if view and self._walker is not None:
            self._buf += view
            self._resume()

    def _set_error(self, error: DatasetError) -> None:
        self.error = error
        self._walker = None
        self._buf = bytearray()

    def _resume(self) -> None:
        try:
            next(self._walker)
        except (StopIteration, _EndInHeader):
            self._walker = None
        except DatasetError as exc:
            self._set_error(exc)

    # ---- primitives used by the walker (generators: they yield for more data) ----
    def _need(self, n: int, header: bool):
        while len(self._buf) < n:
            if self._eof:
                if header:
                    raise _EndInHeader()
                raise DatasetError(f"dataset truncated: needed {n} bytes, {len(self._buf)} left")
            yield

    def _read(self, n: int, header: bool = True):
        yield from self._need(n, header)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self._consumed += n
        return out

    def _skip_bytes(self, n: int):
        self._consumed += n
        have = len(self._buf)
        if have >= n:
            del self._buf[:n]
            return
        self._buf.clear()
        self._skip = n - have
        while self._skip:
            if self._eof:
                raise DatasetError("dataset truncated inside an element value")
            yield

    def _at_end(self):
        while not self._buf and self._skip == 0:
            if self._eof:
                return True
            yield
        return False

    # ---- the walk --------------------------------------------------------------
    def _header(self, group: int, explicit: bool, end: str):
        if group == 0xFFFE or not explicit:
            (length,) = struct.unpack(end + "I", (yield from self._read(4)))
            return None, length
        raw = yield from self._read(4)
        vr = raw[:2]
        if vr in _LONG_VRS or (vr not in _SHORT_VRS and 0x41 <= vr[0] <= 0x5A and 0x41 <= vr[1] <= 0x5A):
            (length,) = struct.unpack(end + "I", (yield from self._read(4)))
        else:
            (length,) = struct.unpack(end + "H", raw[2:])
        return vr.decode("latin-1"), length

    def _walk(self):
        yield  # primed by __init__
        explicit, end = self._explicit, self._end
        while True:
            if len(self._buf) >= 8:
                self._scan_buffered()
            # Fast path for one element: its header is already buffered.
            header = self._header_now() if len(self._buf) >= 8 else None
            if header is None:
                if (yield from self._at_end()):
                    break
                group, elem = struct.unpack(end + "HH", (yield from self._read(4)))
            else:
                group, elem, vr, length = header
            self._elements += 1
            if group == 0xFFFE:
                raise DatasetError(f"item/delimiter tag ({group:04X},{elem:04X}) at top level")
            if (group, elem) > _SEEN_PAST_FACTS:
                self.facts_ready = True
                if (group, elem) > _SEEN_PAST_UIDS:
                    self.uids_ready = True
            if header is None:
                vr, length = yield from self._header(group, explicit, end)
            key = _WANTED.get(elem) if group == 0x0008 else _WANTED_0020.get(elem) if group == 0x0020 else None
            if key is not None and length <= _MAX_WANTED and key not in self._found:
                self._found[key] = (vr or _IMPLICIT_VR[elem], (yield from self._read(length, header=False)))
            elif (length != _UNDEFINED and len(self._buf) >= length and vr != "SQ"
                  and (vr is not None or not _implicit_is_sequence(group, elem) or (group, elem) == _PIXEL_DATA)):
                del self._buf[:length]      # a plain value, already buffered: skipped without a generator
                self._consumed += length
            else:
                yield from self._skip_value(group, elem, vr, length, explicit, end)
        self.facts_ready = self.uids_ready = True

    def _scan_buffered(self) -> None:
        """Every leading element that is plain and whole in the buffer, in one pass without generators.

        Plain: defined length, not a sequence, not an item tag, its value buffered. The
        first element that is not is left, untouched, to the walk above; the result is
        the same as that walk's (the tests of this module and test_storage hold both to
        DCMTK's verdicts).
        """
        buf = self._buf
        size = len(buf)
        pos = elements = 0
        explicit = self._explicit
        head = self._explicit_head if explicit else self._implicit_head
        u32 = self._u32
        found = self._found
        sequences = None if explicit else SEQUENCE_TAGS
        facts_ready, uids_ready = self.facts_ready, self.uids_ready
        while size - pos >= 8:
            if explicit:
                group, elem, raw, length = head.unpack_from(buf, pos)
                if raw in _LONG_VRS or (raw not in _SHORT_VRS and 0x41 <= raw[0] <= 0x5A and 0x41 <= raw[1] <= 0x5A):
                    if raw == b"SQ" or size - pos < 12:
                        break
                    (length,) = u32.unpack_from(buf, pos + 8)
                    header = 12
                else:
                    header = 8
            else:
                group, elem, length = head.unpack_from(buf, pos)
                raw, header = None, 8
                if ((group << 16) | elem) in sequences and (group, elem) != _PIXEL_DATA:
                    break
            stop = pos + header + length
            if group == 0xFFFE or length == _UNDEFINED or stop > size:
                break
            if not uids_ready:
                tag = (group << 16) | elem
                if tag > 0x00080021:
                    facts_ready = True
                    uids_ready = tag > 0x0020000E
            if group == 0x0008 or group == 0x0020:
                key = (_WANTED if group == 0x0008 else _WANTED_0020).get(elem)
                if key is not None and length <= _MAX_WANTED and key not in found:
                    vr = (_VR_TEXT.get(raw) or raw.decode("latin-1")) if raw is not None else _IMPLICIT_VR[elem]
                    found[key] = (vr, bytes(buf[pos + header:stop]))
            elements += 1
            pos = stop
        if pos:
            del buf[:pos]
            self._consumed += pos
            self._elements += elements
            self.facts_ready, self.uids_ready = facts_ready, uids_ready

    def _header_now(self) -> tuple[int, int, str | None, int] | None:
        """Tag, VR and length of the next top-level element if its header is all buffered (then consumed)."""
        buf = self._buf
        group, elem = self._tag.unpack_from(buf)
        if group == 0xFFFE or not self._explicit:
            size, vr = 8, None
            (length,) = self._u32.unpack_from(buf, 4)
        else:
            raw = bytes(buf[4:6])
            vr = _VR_TEXT.get(raw)
            if raw in _LONG_VRS or (vr is None and 0x41 <= raw[0] <= 0x5A and 0x41 <= raw[1] <= 0x5A):
                if len(buf) < 12:
                    return None
                size = 12
                (length,) = self._u32.unpack_from(buf, 8)
            else:
                size = 8
                (length,) = self._u16.unpack_from(buf, 6)
            if vr is None:
                vr = raw.decode("latin-1")
        del buf[:size]
        self._consumed += size
        return group, elem, vr, length

    def _skip_value(self, group: int, elem: int, vr, length: int, explicit: bool, end: str):
        """Skip one value; sequences are walked (DCMTK parses them, so must we to judge them)."""
        if vr is None and (group, elem) != _PIXEL_DATA:
            vr = "SQ" if _implicit_is_sequence(group, elem) else None
        if vr == "SQ":
            yield from self._walk_sequence(explicit, end, length)
        elif length != _UNDEFINED:
            yield from self._skip_bytes(length)
        elif vr == "UN":
            yield from self._walk_sequence(False, "<", length)   # PS3.5 6.2.2: implicit VR LE inside
        else:
            yield from self._walk_sequence(explicit, end, length, fragments=True)   # encapsulated data

    def _walk_sequence(self, explicit: bool, end: str, length: int, fragments: bool = False):
        """Items up to the sequence delimiter (undefined length) or the defined length.

        Items of a sequence hold datasets and are walked; *fragments* (encapsulated
        pixel data) are opaque and skipped.
        """
        stop = None if length == _UNDEFINED else self._consumed + length
        while stop is None or self._consumed < stop:
            group, elem = struct.unpack(end + "HH", (yield from self._read(4)))
            (item_length,) = struct.unpack(end + "I", (yield from self._read(4)))
            if group != 0xFFFE:
                raise DatasetError(f"expected item tag in sequence, got ({group:04X},{elem:04X})")
            if elem == _SEQ_END:
                return
            if elem != _ITEM:
                raise DatasetError(f"unexpected ({group:04X},{elem:04X}) in sequence")
            if fragments and item_length != _UNDEFINED:
                yield from self._skip_bytes(item_length)
            else:
                yield from self._walk_item(explicit, end, item_length)

    def _walk_item(self, explicit: bool, end: str, length: int):
        stop = None if length == _UNDEFINED else self._consumed + length
        while stop is None or self._consumed < stop:
            group, elem = struct.unpack(end + "HH", (yield from self._read(4)))
            if group == 0xFFFE and elem == _ITEM_END:
                yield from self._read(4)
                return
            vr, value_length = yield from self._header(group, explicit, end)
            yield from self._skip_value(group, elem, vr, value_length, explicit, end)

    # ---- output ------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        return self._elements == 0

    def facts(self) -> DatasetFacts:
        def text_of(key: str, strip: bool = False) -> str | None:
            if key not in self._found:
                return None
            value = _text(self._found[key][1])
            return value.strip(" ") if strip else value

        date = self._found.get("date")
        return DatasetFacts(
            sop_class_uid=text_of("class"),
            sop_instance_uid=text_of("instance"),
            series_date=date[1] if date else None,
            series_date_vr=date[0] if date else None,
            modality=text_of("modality", strip=True),
            is_empty=self.is_empty,
            study_instance_uid=text_of("study", strip=True),
            series_instance_uid=text_of("series", strip=True),
        )
