"""Naming rules, series-date folders and the Part-10 header vs. DCMTK's dcmrecv.

Unit tests pin the pure functions; the differential tests start the real
``/usr/bin/dcmrecv`` on a free loopback port, send with ``/usr/bin/storescu``
and compare file names, folders and group 0002 with ours.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import io
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from dcmrecv_cluster.shared.modalities import MODALITY_TABLE, modality_prefix
from dcmrecv_cluster.shared.naming import (
    MAX_TRY,
    NamingError,
    ShortNameGenerator,
    UidGenerator,
    default_name,
    is_valid_uid,
    sanitize,
    series_date_subdir,
    short_unique_name,
    system_time_name,
    unique_name,
)
from dcmrecv_cluster.shared.part10 import (
    BIT_PRESERVING_VERSION_NAME,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    DatasetError,
    encode_meta,
    read_dataset_facts,
)

from .support.net import free_port
from .support.tools import DCMRECV, STORESCP_CFG, STORESCU

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
PRIVATE = "1.2.3.4.5.6"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
DCMTK_IMPL_UID = "1.2.276.0.7230010.3.0.3.6.7"

HAVE_DCMTK = os.access(DCMRECV, os.X_OK) and os.access(STORESCU, os.X_OK)
needs_dcmtk = pytest.mark.skipif(not HAVE_DCMTK, reason="DCMTK binaries not installed")
# invalid UIDs and dates are sent on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR:UserWarning")


# ==========================================================================
# modality prefixes


def _dcmtk_modality_fn():
    try:
        lib = ctypes.CDLL("libdcmdata.so.17")
        fn = lib._Z24dcmSOPClassUIDToModalityPKcS0_
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return fn


def test_modality_table_shape():
    assert len(MODALITY_TABLE) == 194
    assert MODALITY_TABLE[0] == ("1.2.840.10008.5.1.4.1.1.88.71", "SRa")
    assert MODALITY_TABLE[-1] == ("1.2.840.10008.5.1.4.1.1.601.2", "ECm")
    assert modality_prefix(CT, "UNKNOWN") == "CT"
    assert modality_prefix("1.2.840.10008.5.1.4.1.1.88.75", "X") == "SRi"
    assert modality_prefix("1.2.840.10008.5.1.4.1.1.88.70", "X") == "SRi"
    assert modality_prefix(PRIVATE, "UNKNOWN") == "UNKNOWN"
    assert modality_prefix("", "XX") == "XX"
    assert modality_prefix(CT + "\0", "XX") == "XX"  # exact strcmp, no trimming


def test_modality_table_matches_libdcmdata():
    """Every entry (and some misses) against DCMTK's own function via ctypes."""
    fn = _dcmtk_modality_fn()
    if fn is None:
        pytest.skip("libdcmdata.so.17 not loadable")
    probes = [uid for uid, _ in MODALITY_TABLE] + [PRIVATE, "", "1.2.840.10008.5.1.4.1.1", CT + ".0"]
    for uid in probes:
        assert modality_prefix(uid, "FALLBACK") == fn(uid.encode(), b"FALLBACK").decode(), uid


# ==========================================================================
# sanitize and the name modes


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("CT.1.2.3/4", "CT.1.2.3_4"),
        ("CT.1.2x/y", "CT.1.2x_y"),
        ("a\0b", "a_b"),
        ("", "_"),
        (".", "_"),
        ("..", "__"),
        ("...", "___"),
        ("CT..", "CT.."),
        ("CT.1.2.3\\4 é", "CT.1.2.3\\4 é"),
    ],
)
def test_sanitize(raw, safe):
    assert sanitize(raw) == safe


def test_default_name():
    assert default_name(CT, "1.2.826.0.1.1") == "CT.1.2.826.0.1.1"
    assert default_name(CT, "1.2.826.0.1.1", ".dcm") == "CT.1.2.826.0.1.1.dcm"
    assert default_name(PRIVATE, "1.2.826.0.1.8") == "UNKNOWN.1.2.826.0.1.8"
    assert default_name(CT, "1.2.3/4", "x/y") == "CT.1.2.3_4x_y"
    with pytest.raises(NamingError, match="^Invalid SOP Class UID$"):
        default_name("", "")
    with pytest.raises(NamingError, match="^Invalid SOP Instance UID$"):
        default_name(CT, "")
    with pytest.raises(NamingError):
        default_name(None, "1.2")


def test_unique_system_time_short_names():
    assert unique_name(CT, "2.25.1", ".dcm") == "CT.X.2.25.1.dcm"
    assert unique_name("", "2.25.1") == "UNKNOWN.X.2.25.1"
    now = datetime.datetime(2026, 11, 27, 14, 52, 30, 475529)
    assert system_time_name(CT, now, ".dcm") == "20261127145230.475529.CT.dcm"
    assert system_time_name(PRIVATE, now.replace(microsecond=7), "") == "20261127145230.000007.UNKNOWN"
    assert short_unique_name(CT, "6b0999235c8d8e42") == "CT_6b0999235c8d8e42"
    assert short_unique_name(PRIVATE, "6b0999235c8d8e42", "a/b") == "XX_6b0999235c8d8e42a_b"
    assert short_unique_name("", "0" * 16) == "XX_" + "0" * 16


def test_short_name_generator_reference_example():
    """§7.3: creation 0x6b099923, store time 0x6b099924 (bit-exact)."""
    gen = ShortNameGenerator(creation_time=0x6B099923)
    first, second, *_ = gen.candidates(0x6B099924)
    assert short_unique_name(CT, first) == "CT_6b0999235c8d8e42"
    assert short_unique_name(CT, second) == "CT_6b099923de532390"
    assert short_unique_name(PRIVATE, first) == "XX_6b0999235c8d8e42"
    assert len(list(gen.candidates(0x6B099924))) == MAX_TRY
    assert all(re.fullmatch("[0-9a-f]{16}", c) for c in gen.candidates(0xFFFFFFFF, 5))
    assert next(ShortNameGenerator(0).candidates(0)).startswith("00000000")


def test_short_name_generator_creation_time_captured_once():
    before = int(time.time())
    gen = ShortNameGenerator()
    after = int(time.time())
    assert before <= gen.creation_time <= after
    head = next(gen.candidates())[:8]
    assert before <= int(head, 16) <= after


def test_uid_generator():
    gen = UidGenerator("2.25")
    uids = {gen.next_uid() for _ in range(2000)}
    assert len(uids) == 2000
    for uid in uids:
        assert uid.startswith("2.25.") and is_valid_uid(uid) and len(uid) <= 44
    other = UidGenerator("1.2.826.0.1.3680043.10", node_id=7)
    uid = other.next_uid()
    assert uid.startswith("1.2.826.0.1.3680043.10.7.") and is_valid_uid(uid)
    with pytest.raises(ValueError):
        UidGenerator("1.2.826.0.1.3680043.10.1450", node_id=7)  # 30 + 39 digits > 64
    with pytest.raises(ValueError):
        UidGenerator("1.2.03")
    with pytest.raises(ValueError):
        UidGenerator("1." * 15 + "1")  # no room for 39 digits
    assert not is_valid_uid("1.2.") and not is_valid_uid("1.02") and not is_valid_uid("")


def test_uid_generator_unique_across_processes():
    code = (
        "from dcmrecv_cluster.shared.naming import UidGenerator\n"
        "g = UidGenerator('2.25')\n"
        "print('\\n'.join(g.next_uid() for _ in range(200)))\n"
    )
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    a, b = (set(o.split()) for o in outs)
    assert len(a) == len(b) == 200 and not a & b


# ==========================================================================
# series date subdirectory

TODAY = datetime.date(2026, 11, 27)


@pytest.mark.parametrize(
    ("value", "vr", "expected"),
    [
        ("20230415", "DA", "data/2023/04/15"),
        (b"20230415", "DA", "data/2023/04/15"),
        ("2023.04.16", "DA", "data/2023/04/16"),
        ("20230417\\20230418", "DA", "data/2023/04/17"),
        ("20230231", "DA", "data/2023/02/31"),
        ("00000131", "DA", "data/0000/01/31"),
        ("20230415 ", "DA", "data/2023/04/15"),
        ("20230415 \\x", "DA", "data/2023/04/15"),
        ("20231345", "DA", "undef/20261127"),
        ("20230001", "DA", "undef/20261127"),
        ("20230432", "DA", "undef/20261127"),
        ("2023041", "DA", "undef/20261127"),
        ("2023041 ", "DA", "undef/20261127"),
        (" 20230415", "DA", "undef/20261127"),
        (b"20230415\0\0", "DA", "undef/20261127"),
        ("2023-04-15", "DA", "undef/20261127"),
        ("\\20230415", "DA", "undef/20261127"),
        ("", "DA", "undef/20261127"),
        (None, None, "undef/20261127"),
        ("20230415", "LO", "undef/20261127"),
        ("20230415", None, "undef/20261127"),
    ],
)
def test_series_date_subdir(value, vr, expected):
    assert series_date_subdir(value, vr, TODAY) == expected


# ==========================================================================
# group 0002


def _split_part10(blob: bytes) -> tuple[bytes, str, bytes]:
    """(preamble+DICM+group 0002, transfer syntax, dataset bytes)."""
    assert blob[128:132] == b"DICM"
    (glen,) = struct.unpack("<I", blob[140:144])
    end = 144 + glen
    meta = blob[:end]
    pos = 132
    ts = None
    while pos < end:
        group, elem, vr = struct.unpack("<HH2s", meta[pos : pos + 6])
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            (length,) = struct.unpack("<I", meta[pos + 8 : pos + 12])
            start = pos + 12
        else:
            (length,) = struct.unpack("<H", meta[pos + 6 : pos + 8])
            start = pos + 8
        if (group, elem) == (2, 0x10):
            ts = meta[start : start + length].rstrip(b"\0").decode()
        pos = start + length
    return meta, ts, blob[end:]


def test_encode_meta_layout():
    blob = encode_meta(CT, "1.2.826.0.1.1", EXPLICIT_LE, DCMTK_IMPL_UID, "OFFIS_DCMTK_367")
    assert blob[:128] == bytes(128) and blob[128:132] == b"DICM"
    expected_group = (
        b"\x02\x00\x00\x00UL\x04\x00\x9e\x00\x00\x00\x02\x00\x01\x00OB\x00\x00\x02\x00\x00\x00\x00\x01"
        b"\x02\x00\x02\x00UI\x1a\x001.2.840.10008.5.1.4.1.1.2\x00"
        b"\x02\x00\x03\x00UI\x0e\x001.2.826.0.1.1\x00"
        b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00"
        b"\x02\x00\x12\x00UI\x1c\x001.2.276.0.7230010.3.0.3.6.7\x00"
        b"\x02\x00\x13\x00SH\x10\x00OFFIS_DCMTK_367 "
    )
    assert blob[132:] == expected_group  # copied from a dcmrecv file (normal mode)
    bp = encode_meta(CT, "1.2.826.0.1.1", EXPLICIT_LE, DCMTK_IMPL_UID, "OFFIS_DCMBP_367", "ODD   ")
    assert bp.endswith(b"\x02\x00\x16\x00AE\x04\x00ODD ")
    assert struct.unpack("<I", bp[140:144])[0] == len(bp) - 144


def test_our_implementation_identity():
    assert is_valid_uid(IMPLEMENTATION_CLASS_UID) and IMPLEMENTATION_CLASS_UID.startswith("2.25.")
    assert IMPLEMENTATION_CLASS_UID != DCMTK_IMPL_UID
    for name in (IMPLEMENTATION_VERSION_NAME, BIT_PRESERVING_VERSION_NAME):
        assert 1 <= len(name) <= 16 and name.isascii() and "\\" not in name
    assert IMPLEMENTATION_VERSION_NAME != BIT_PRESERVING_VERSION_NAME
    # default arguments give our identity
    blob = encode_meta(CT, "1.2", EXPLICIT_LE)
    assert IMPLEMENTATION_CLASS_UID.encode() in blob and IMPLEMENTATION_VERSION_NAME.encode() in blob


def test_encode_meta_readable_by_pydicom():
    from pydicom import dcmread

    ds = _sample_dataset()
    body = _encode(ds, implicit=False, little=True)
    blob = encode_meta(CT, "1.2.3", EXPLICIT_LE, source_ae_title="STORESCU") + body
    read = dcmread(io.BytesIO(blob))
    assert read.file_meta.MediaStorageSOPInstanceUID == "1.2.3"
    assert read.file_meta.SourceApplicationEntityTitle == "STORESCU"
    assert read.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert read.SeriesDate == "20230415"


# ==========================================================================
# dataset peek


def _sample_dataset(series_date="20230415", sd_vr="DA") -> Dataset:
    ds = Dataset()
    ds.add_new(0x00080005, "CS", "ISO_IR 100")
    item = Dataset()
    item.CodeValue = "en"
    ds.add_new(0x00080006, "SQ", Sequence([item]))  # undefined length SQ before our tags
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = "1.2.3"
    if series_date is not None:
        ds.add_new(0x00080021, sd_vr, series_date)
    ds.Modality = "CT "
    ds.PatientName = "X"
    ds.BitsAllocated = 8
    ds.PixelData = b"\0" * 64
    return ds


def _encode(ds: Dataset, implicit: bool, little: bool, deflate: bool = False) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = little
    fp.is_implicit_VR = implicit
    write_dataset(fp, ds)
    data = fp.getvalue()
    if deflate:
        comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = comp.compress(data) + comp.flush()
    return data


@pytest.mark.parametrize(
    ("ts", "implicit", "little", "deflate"),
    [
        (IMPLICIT_LE, True, True, False),
        (EXPLICIT_LE, False, True, False),
        (EXPLICIT_BE, False, False, False),
        (DEFLATED, False, True, True),
        (JPEG_BASELINE, False, True, False),
    ],
)
def test_read_dataset_facts_encodings(ts, implicit, little, deflate):
    data = _encode(_sample_dataset(), implicit, little, deflate)
    for source in (data, memoryview(data), io.BytesIO(data)):
        facts = read_dataset_facts(source, ts)
        assert facts.sop_class_uid == CT
        assert facts.sop_instance_uid == "1.2.3"
        assert facts.series_date == b"20230415"
        assert facts.series_date_vr == "DA"
        assert facts.modality == "CT"
        assert not facts.is_empty


def test_read_dataset_facts_details():
    empty = read_dataset_facts(b"", IMPLICIT_LE)
    assert empty.is_empty and empty.sop_class_uid is None and empty.series_date is None
    assert read_dataset_facts(b"", DEFLATED).is_empty
    lo = read_dataset_facts(_encode(_sample_dataset(sd_vr="LO"), False, True), EXPLICIT_LE)
    assert (lo.series_date, lo.series_date_vr) == (b"20230415", "LO")
    absent = read_dataset_facts(_encode(_sample_dataset(series_date=None), True, True), IMPLICIT_LE)
    assert absent.series_date is None and absent.series_date_vr is None
    odd = read_dataset_facts(_encode(_sample_dataset(series_date="2023041"), False, True), EXPLICIT_LE)
    assert odd.series_date == b"2023041 "
    # parsing stops past group 0008: garbage afterwards is never read
    head = _encode(_sample_dataset(), False, True)
    cut = head.index(b"\x10\x00\x10\x00")  # (0010,0010) Patient's Name
    facts = read_dataset_facts(head[: cut + 4] + b"\xff" * 7, EXPLICIT_LE)
    assert facts.sop_instance_uid == "1.2.3"
    # UN of undefined length (implicit VR LE content) is skipped
    un = struct.pack("<HH2sHI", 8, 0x0006, b"UN", 0, 0xFFFFFFFF)
    un += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    un += struct.pack("<HHI", 8, 0x0100, 2) + b"ab"
    un += struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    un += struct.pack("<HH2sH", 8, 0x0018, b"UI", 4) + b"1.2\0"
    assert read_dataset_facts(un, EXPLICIT_LE).sop_instance_uid == "1.2"


@pytest.mark.parametrize(
    ("data", "ts"),
    [
        # (A tail too short for an element header, and a non-standard VR, are accepted as
        # dcmrecv accepts them: see DatasetScanner.)
        (struct.pack("<HH2sH", 8, 0x18, b"UI", 10) + b"1.2", EXPLICIT_LE),
        (struct.pack("<HHI", 0xFFFE, 0xE000, 0), IMPLICIT_LE),
        (b"this is not deflate data at all", DEFLATED),
        (struct.pack("<HH2sHI", 8, 0x06, b"SQ", 0, 0xFFFFFFFF) + struct.pack("<HHI", 8, 0x10, 0), EXPLICIT_LE),
    ],
)
def test_read_dataset_facts_errors(data, ts):
    with pytest.raises(DatasetError):
        read_dataset_facts(data, ts)


# ==========================================================================
# differential tests against the real dcmrecv


def _listening(port: int) -> bool:
    """True once an IPv4 LISTEN socket on *port* shows up (no probe connection)."""
    with open("/proc/net/tcp") as fh:
        next(fh)
        for line in fh:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
                return True
    return False


@contextlib.contextmanager
def _dcmrecv(workdir: Path, *opts: str, config: tuple[str, str] = (STORESCP_CFG, "Default")):
    """Run dcmrecv -v in *workdir*/out; yield (port, outdir, logfile, start window)."""
    outdir = workdir / "out"
    outdir.mkdir()
    log = workdir / "dcmrecv.log"
    port = free_port()
    t_before = int(time.time())
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [DCMRECV, "-v", "-xf", *config, "-od", str(outdir), *opts, str(port)],
            stdout=fh, stderr=subprocess.STDOUT, cwd=workdir,
        )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "dcmrecv did not start listening"
            time.sleep(0.01)
        yield port, outdir, log, (t_before, int(time.time()))
    finally:
        proc.kill()
        proc.wait()


def _storescu(port: int, *files: Path, aet: str = "STORESCU", extra: tuple[str, ...] = ()) -> None:
    env = dict(os.environ, TCP_NODELAY="1")
    res = subprocess.run(
        [STORESCU, "-aet", aet, *extra, "127.0.0.1", str(port), *map(str, files)],
        capture_output=True, text=True, env=env, timeout=30,
    )
    assert res.returncode == 0, res.stderr


def _pynetdicom_store(port: int, path: Path, sop_class: str) -> None:
    """Send one explicit-LE file with pynetdicom (storescu refuses private classes)."""
    from pynetdicom import AE

    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(sop_class, EXPLICIT_LE)
    assoc = ae.associate("127.0.0.1", port)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(path)
        assert status.Status == 0x0000
    finally:
        assoc.release()


def _stored(log: Path, outdir: Path) -> list[str]:
    """Paths (relative to outdir) in the order dcmrecv reported storing them."""
    marker = "I: Stored received object to file: "
    return [
        os.path.relpath(line[len(marker):], outdir)
        for line in log.read_text().splitlines()
        if line.startswith(marker)
    ]


def _instance(
    path: Path, inst: str, cls: str = CT, series_date=None, sd_vr: str = "DA", ts: str = EXPLICIT_LE
) -> Path:
    ds = Dataset()
    ds.SOPClassUID = cls
    ds.SOPInstanceUID = inst
    ds.PatientName = "TEST^NAMING"
    ds.Modality = "CT"
    if series_date is not None:
        ds.add_new(0x00080021, sd_vr, series_date)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = cls
    meta.MediaStorageSOPInstanceUID = inst
    meta.TransferSyntaxUID = ts
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path


PRIVATE_CFG = """\
[[TransferSyntaxes]]
[TS]
TransferSyntax1 = OppositeEndianExplicit
TransferSyntax2 = LocalEndianExplicit
TransferSyntax3 = LittleEndianImplicit
[[PresentationContexts]]
[PC]
PresentationContext1 = 1.2.3.4.5.6\\TS
PresentationContext2 = CTImageStorage\\TS
[[Profiles]]
[Test]
PresentationContexts = PC
"""


@needs_dcmtk
def test_dcmrecv_default_names_and_meta(tmp_path):
    """+fd names (incl. '/' sanitizing) and byte-exact group 0002, normal mode."""
    uids = ("1.2.826.0.1.1", "1.2.826.0.1.12", "1.2.3/4")
    files = [_instance(tmp_path / f"{i}.dcm", uid) for i, uid in enumerate(uids)]
    with _dcmrecv(tmp_path, "+fd", "-fe", ".x/y") as (port, outdir, log, _):
        _storescu(port, files[0])
        _storescu(port, files[1], extra=("-xi",))
        _storescu(port, files[2], extra=("-xd",))
        _storescu(port, files[0])
    stored = _stored(log, outdir)
    expected = [default_name(CT, uid, ".x/y") for uid in uids]
    assert expected[2] == "CT.1.2.3_4.x_y"
    assert stored == expected + expected[:1]
    assert sorted(os.listdir(outdir)) == sorted(expected)
    seen_ts = []
    for name, uid in zip(expected, uids, strict=True):
        meta, ts, dataset = _split_part10((outdir / name).read_bytes())
        seen_ts.append(ts)
        assert meta == encode_meta(CT, uid, ts, DCMTK_IMPL_UID, "OFFIS_DCMTK_367")
        facts = read_dataset_facts(dataset, ts)
        assert (facts.sop_class_uid, facts.sop_instance_uid, facts.modality) == (CT, uid, "CT")
    assert seen_ts == [EXPLICIT_LE, IMPLICIT_LE, DEFLATED]


@needs_dcmtk
def test_dcmrecv_unknown_class_and_big_endian(tmp_path):
    """Private class -> UNKNOWN prefix; explicit VR big endian meta and peek."""
    cfg = tmp_path / "private.cfg"
    cfg.write_text(PRIVATE_CFG)
    private = _instance(tmp_path / "p.dcm", "1.2.826.0.1.8", cls=PRIVATE)
    ct = _instance(tmp_path / "c.dcm", "1.2.826.0.1.9", ts=EXPLICIT_BE)
    with _dcmrecv(tmp_path, "+fd", config=(str(cfg), "Test")) as (port, outdir, log, _):
        _pynetdicom_store(port, private, PRIVATE)
        _storescu(port, ct)
    assert _stored(log, outdir) == [default_name(PRIVATE, "1.2.826.0.1.8"), default_name(CT, "1.2.826.0.1.9")]
    assert _stored(log, outdir)[0] == "UNKNOWN.1.2.826.0.1.8"
    for name, cls, uid, want_ts in (
        ("UNKNOWN.1.2.826.0.1.8", PRIVATE, "1.2.826.0.1.8", EXPLICIT_LE),
        ("CT.1.2.826.0.1.9", CT, "1.2.826.0.1.9", EXPLICIT_BE),
    ):
        meta, ts, dataset = _split_part10((outdir / name).read_bytes())
        assert ts == want_ts
        assert meta == encode_meta(cls, uid, ts, DCMTK_IMPL_UID, "OFFIS_DCMTK_367")
        facts = read_dataset_facts(dataset, ts)
        assert (facts.sop_class_uid, facts.sop_instance_uid, facts.modality) == (cls, uid, "CT")


@needs_dcmtk
def test_dcmrecv_bit_preserving_meta(tmp_path):
    files = [_instance(tmp_path / "a.dcm", "1.2.826.0.1.1"), _instance(tmp_path / "b.dcm", "1.2.826.0.1.12")]
    with _dcmrecv(tmp_path, "+B") as (port, outdir, log, _):
        _storescu(port, files[0], aet="ODD")
        _storescu(port, files[1], aet="  A B", extra=("-xi",))
    for name, uid, aet in (("CT.1.2.826.0.1.1", "1.2.826.0.1.1", "ODD"),
                           ("CT.1.2.826.0.1.12", "1.2.826.0.1.12", "  A B")):
        meta, ts, dataset = _split_part10((outdir / name).read_bytes())
        assert meta == encode_meta(CT, uid, ts, DCMTK_IMPL_UID, "OFFIS_DCMBP_367", aet + "   ")
        assert read_dataset_facts(dataset, ts).sop_instance_uid == uid
        assert ts == (IMPLICIT_LE if uid.endswith("12") else EXPLICIT_LE)


@needs_dcmtk
def test_dcmrecv_short_unique_names(tmp_path):
    """+fsu names reproduced bit-exactly, including the collision retries."""
    cfg = tmp_path / "private.cfg"
    cfg.write_text(PRIVATE_CFG)
    ct = _instance(tmp_path / "a.dcm", "1.2.826.0.1.1")
    private = _instance(tmp_path / "p.dcm", "1.2.826.0.1.8", cls=PRIVATE)
    with _dcmrecv(tmp_path, "+fsu", "-fe", ".dcm", config=(str(cfg), "Test")) as (port, outdir, log, started):
        t_send = int(time.time())
        _storescu(port, ct, ct, ct)
        _pynetdicom_store(port, private, PRIVATE)
        _storescu(port, ct)
        t_done = int(time.time())
    stored = _stored(log, outdir)
    assert len(stored) == 5
    creation = int(stored[0].split("_")[1][:8], 16)
    assert started[0] <= creation <= started[1]
    gen = ShortNameGenerator(creation)
    existing: set[str] = set()
    classes = [CT, CT, CT, PRIVATE, CT]
    for name, cls in zip(stored, classes, strict=True):
        matches = []
        for seed in range(t_send, t_done + 1):
            first_free = next(
                n for n in (short_unique_name(cls, c, ".dcm") for c in gen.candidates(seed)) if n not in existing
            )
            matches.append(first_free)
        assert name in matches, (name, matches)
        existing.add(name)
    assert stored[3].startswith("XX_")


@needs_dcmtk
def test_dcmrecv_unique_and_system_time_names(tmp_path):
    f = _instance(tmp_path / "a.dcm", "1.2.826.0.1.1")
    with _dcmrecv(tmp_path, "+fu", "-fe", ".dcm") as (port, outdir, log, _):
        _storescu(port, f, f)
    names = _stored(log, outdir)
    assert len(names) == 2 and names[0] != names[1]
    for name in names:
        m = re.fullmatch(r"CT\.X\.(1\.2\.276\.0\.7230010\.3\.1\.4\.\d+\.\d+\.\d+\.\d+)\.dcm", name)
        assert m, name
        assert unique_name(CT, m.group(1), ".dcm") == name
    ours = unique_name(CT, UidGenerator().next_uid(), ".dcm")
    assert re.fullmatch(r"CT\.X\.2\.25\.\d+\.dcm", ours)

    (tmp_path / "out").rename(tmp_path / "out_fu")
    before = datetime.datetime.now()
    with _dcmrecv(tmp_path, "+fst", "-fe", ".dcm") as (port, outdir, log, _):
        _storescu(port, f)
    after = datetime.datetime.now()
    (name,) = _stored(log, outdir)
    m = re.fullmatch(r"(\d{14}\.\d{6})\.CT\.dcm", name)
    assert m, name
    stamp = datetime.datetime.strptime(m.group(1), "%Y%m%d%H%M%S.%f")
    assert before - datetime.timedelta(seconds=1) <= stamp <= after + datetime.timedelta(seconds=1)
    assert system_time_name(CT, stamp, ".dcm") == name


SERIES_DATES = [
    ("20230415", "DA"),
    ("2023.04.16", "DA"),
    ("20230417\\20230418", "DA"),
    ("20230231", "DA"),
    ("20231345", "DA"),
    ("2023041", "DA"),
    ("", "DA"),
    (None, "DA"),
    ("20230415", "LO"),
    ("00000131", "DA"),
    ("20230001", "DA"),
    ("20230415 \\x", "DA"),
]


@needs_dcmtk
def test_dcmrecv_series_date_subdirs(tmp_path):
    files = [
        _instance(tmp_path / f"s{i}.dcm", f"1.2.826.0.1.7.{i}", series_date=value, sd_vr=vr)
        for i, (value, vr) in enumerate(SERIES_DATES)
    ]
    today_before = datetime.date.today()
    with _dcmrecv(tmp_path, "+ssd") as (port, outdir, log, _):
        _storescu(port, *files)
    today_after = datetime.date.today()
    stored = _stored(log, outdir)
    assert len(stored) == len(SERIES_DATES)
    dirs = {}
    for rel in stored:
        directory, name = rel.rsplit("/", 1)
        dirs[name] = directory
        _, ts, dataset = _split_part10((outdir / rel).read_bytes())
        facts = read_dataset_facts(dataset, ts)
        assert directory in {
            series_date_subdir(facts.series_date, facts.series_date_vr, day) for day in (today_before, today_after)
        }, (rel, facts)
    got = [dirs[default_name(CT, f"1.2.826.0.1.7.{i}")] for i in range(len(SERIES_DATES))]
    undef = f"undef/{today_before:%Y%m%d}"
    assert got == [
        "data/2023/04/15", "data/2023/04/16", "data/2023/04/17", "data/2023/02/31",
        undef, undef, undef, undef, undef, "data/0000/01/31", undef, "data/2023/04/15",
    ] or today_before != today_after
