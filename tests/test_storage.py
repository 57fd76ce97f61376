"""What lands on disk, against DCMTK's dcmrecv: same tree, names, meta header and dataset.

Every configuration is started twice, once as ``/usr/bin/dcmrecv`` and once as
dcmrecv-cluster, each in its own working directory with ``-od out`` and the
same association profile (a file of our own that also lists a private SOP
class). Both get the same instances (DCMTK's storescu for standard classes in
four transfer syntaxes, pynetdicom for the private class, a raw SCU of this
file for what no toolkit sends: empty, undecodable and mismatching datasets),
then the two trees are compared: relative paths (receiver-generated parts by
pattern), group 0002 (our implementation UID and version name excepted) and
dataset elements (normal mode) or the bytes after the meta header (``+B``).
The servers of all configurations start together once per module: start-up
dominates the cost of this file.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from dcmrecv_cluster.shared.part10 import (
    BIT_PRESERVING_VERSION_NAME,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
)

from .support import rawscu
from .support.instances import CT_IMAGE, MR_IMAGE, SC_IMAGE, encode, make_instance, small_dataset
from .support.net import free_port
from .support.service import BIN, Receiver, hidden_files, stored_files, wait_until
from .support.tools import DCMRECV, dcmtk

pytestmark = [
    pytest.mark.skipif(not os.access(DCMRECV, os.X_OK), reason="DCMTK dcmrecv not installed"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

PRIVATE = "1.2.3.4.5.6.7"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
DCMTK_IMPL_UID = "1.2.276.0.7230010.3.0.3.6.7"

PROFILE = r"""
[[TransferSyntaxes]]
[Any]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = OppositeEndianExplicit
TransferSyntax3 = LittleEndianImplicit
TransferSyntax4 = DeflatedLittleEndianExplicit

[[PresentationContexts]]
[Storage]
PresentationContext1 = VerificationSOPClass\Any
PresentationContext2 = CTImageStorage\Any
PresentationContext3 = MRImageStorage\Any
PresentationContext4 = SecondaryCaptureImageStorage\Any
PresentationContext5 = 1.2.3.4.5.6.7\Any

[[Profiles]]
[Test]
PresentationContexts = Storage
"""

#: Every name mode, each subdirectory mode, -fe, +B, --ignore: start-up is what costs,
#: so name and folder modes share configurations.
CONFIGS = {
    "fd": [],
    "fd-ssd": ["+ssd"],
    "fu-ssd": ["+fu", "+ssd", "-fe", ".dcm"],
    "fsu": ["+fsu", "-fe", ".dcm"],
    "fst-ssd": ["+fst", "+ssd"],
    "bp": ["+B"],
    "ignore": ["--ignore"],
}
TWO_WORKERS = "fd-ssd"   # the configuration used for the same-instance race


# --------------------------------------------------------------------------
# a raw SCU: sends whatever dataset bytes a test wants


class RawSCU:
    """Associates with one context and sends C-STOREs of arbitrary bytes, fragment by fragment."""

    def __init__(self, port: int, abstract: str = CT_IMAGE, transfer: str = EXPLICIT_LE,
                 calling: str = "RAWSCU", max_pdu: int = 16384) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock.sendall(rawscu.associate_rq([(1, abstract, [transfer])], calling=calling.encode(),
                                              max_pdu=max_pdu))
        kind, body = rawscu.read_pdu(self.sock)
        assert kind == 2, f"association not accepted (PDU type {kind})"
        results = rawscu.context_results(body)
        assert results == [0], f"presentation context not accepted: {results}"
        self.fragment = max_pdu - 12

    def pdv(self, control: int, payload: bytes) -> None:
        self.sock.sendall(rawscu.p_data(1, control, payload))

    def command(self, sop_class: str, sop_instance: str, message_id: int = 1) -> None:
        self.pdv(0x03, rawscu.store_command(sop_class, sop_instance, message_id))

    def data(self, data: bytes, last: bool = True) -> None:
        view = memoryview(data)
        if not view:
            self.pdv(0x02 if last else 0x00, b"")
        while view:
            part, view = view[: self.fragment], view[self.fragment:]
            self.pdv(0x02 if last and not view else 0x00, bytes(part))

    def status(self) -> int | str:
        """The C-STORE-RSP status, or 'aborted' / 'closed' when no response came."""
        try:
            kind, body = rawscu.read_pdu(self.sock)
        except OSError:
            return "closed"
        if kind != 4:
            return {0: "closed", 7: "aborted"}.get(kind, f"pdu {kind}")
        try:
            return rawscu.response_status(body)
        except AssertionError:
            return "no status"

    def store(self, sop_class: str, sop_instance: str, data: bytes) -> int | str:
        self.command(sop_class, sop_instance)
        self.data(data)
        return self.status()

    def release(self) -> None:
        try:
            self.sock.sendall(rawscu.RELEASE_RQ)
            rawscu.read_pdu(self.sock)
        except OSError:
            pass
        self.sock.close()

    def abort(self) -> None:
        self.sock.sendall(rawscu.ABORT)
        self.sock.close()


# --------------------------------------------------------------------------
# the receivers, all started once


class Pair:
    """The same configuration as dcmrecv ('ref') and as dcmrecv-cluster ('ours')."""

    def __init__(self, name: str, base: Path, profile: Path, args: list[str]) -> None:
        self.name, self.args = name, args
        self.dirs = {side: base / name / side for side in ("ref", "ours")}
        common = ["-od", "out", "-xf", str(profile), "Test", *args]
        self.servers = {}
        for side, directory in self.dirs.items():
            (directory / "out").mkdir(parents=True)
            if side == "ref":
                self.servers[side] = Receiver(common, directory, free_port(), command=[DCMRECV])
            else:
                workers = "2" if name == TWO_WORKERS else "1"
                self.servers[side] = Receiver(["--workers", workers, "-v", *common],
                                              directory, free_port(), command=[str(BIN / "dcmrecv-cluster")])

    def out(self, side: str) -> Path:
        return self.dirs[side] / "out"

    def port(self, side: str) -> int:
        return self.servers[side].port


def _inputs(directory: Path) -> dict[str, Path]:
    directory.mkdir()
    made = {}

    def instance(key, **kwargs):
        made[key] = make_instance(directory / f"{key}.dcm", **kwargs)

    instance("good", series_date="20230415", instance_uid="1.2.826.0.1.100.1")
    instance("old_format", sop_class=MR_IMAGE, modality="MR", series_date="2023.04.16",
             instance_uid="1.2.826.0.1.100.2", transfer_syntax=IMPLICIT_LE)
    instance("multi_value", sop_class=SC_IMAGE, modality="OT", series_date="20230417\\20230418",
             instance_uid="1.2.826.0.1.100.3", transfer_syntax=EXPLICIT_BE)
    instance("feb31", series_date="20230231", instance_uid="1.2.826.0.1.100.4", transfer_syntax=DEFLATED)
    instance("bad_month", series_date="20231345", instance_uid="1.2.826.0.1.100.5")
    instance("seven_digits", series_date="2023041", instance_uid="1.2.826.0.1.100.6")
    instance("absent", series_date=None, instance_uid="1.2.826.0.1.100.7")
    instance("empty_date", series_date="", instance_uid="1.2.826.0.1.100.8")
    instance("slash_uid", series_date="20230419", instance_uid="1.2.826.0.1.100/9")
    lo = pydicom.dcmread(make_instance(directory / "lo_vr.dcm", instance_uid="1.2.826.0.1.100.10"))
    del lo[0x00080021]
    lo.add_new(0x00080021, "LO", "20230420")
    lo.save_as(directory / "lo_vr.dcm")
    made["lo_vr"] = directory / "lo_vr.dcm"
    return made


def _send_standard(port: int, files: dict[str, Path]) -> None:
    """The same four storescu runs for every receiver (one file twice: a duplicate)."""
    explicit = [files[k] for k in ("good", "good", "bad_month", "seven_digits", "absent", "empty_date",
                                   "slash_uid", "lo_vr")]
    runs = [([], explicit), (["-xi"], [files["old_format"]]), ([], [files["multi_value"]]),
            (["-xd"], [files["feb31"]])]
    for extra, paths in runs:
        result = subprocess.run([dcmtk("storescu"), *extra, "127.0.0.1", str(port), *map(str, paths)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr


def _send_private(port: int) -> int:
    from pynetdicom import AE

    ds = small_dataset(PRIVATE, "1.2.826.0.1.100.11", "20230421")
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = EXPLICIT_LE
    ae = AE(ae_title="PYNETSCU")
    ae.add_requested_context(PRIVATE, EXPLICIT_LE)
    assoc = ae.associate("127.0.0.1", port, ae_title="ANY-SCP")
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds).Status
    finally:
        assoc.release()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("storage")
    profile = base / "test.cfg"
    profile.write_text(PROFILE)
    files = _inputs(base / "in")
    pairs = {}
    try:
        for name, args in CONFIGS.items():
            pairs[name] = Pair(name, base, profile, args)
        servers = [server for pair in pairs.values() for server in pair.servers.values()]
        with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda server: server.wait_ready(90), servers))

        def send(target):
            pair, side = target
            _send_standard(pair.port(side), files)
            assert _send_private(pair.port(side)) == 0
        targets = [(pair, side) for pair in pairs.values() for side in ("ref", "ours")]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(send, targets))
        yield {"base": base, "pairs": pairs, "files": files}
    finally:
        servers = [server for pair in pairs.values() for server in pair.servers.values()]
        for server in servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in servers:
            server.stop()


# --------------------------------------------------------------------------
# comparing trees


def _normalise(relative: str) -> str:
    """Blank out what each receiver generates on its own: new UIDs, random hex, time stamps."""
    directory, _, name = relative.rpartition("/")
    name = re.sub(r"^\d{14}\.\d{6}\.", "<time>.", name)
    name = re.sub(r"\.X\.\d+(?:\.\d+)*", ".X.<uid>", name)
    name = re.sub(r"_[0-9a-f]{16}", "_<hex>", name)
    return f"{directory}/{name}" if directory else name


def _split(path: Path) -> tuple[Dataset, bytes]:
    blob = path.read_bytes()
    assert blob[128:132] == b"DICM"
    (group_length,) = struct.unpack_from("<I", blob, 140)
    end = 144 + group_length
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    return meta, blob[end:]


def _canonical(ds: Dataset):
    out = []
    for elem in ds:
        if elem.tag.element == 0:
            continue   # group lengths: dcmrecv recalculates them, we keep what was sent
        if elem.VR == "SQ":
            out.append((int(elem.tag), "SQ", tuple(_canonical(item) for item in elem.value)))
        else:
            out.append((int(elem.tag), str(elem.VR), repr(elem.value)))
    return tuple(out)


def _describe(out: Path, bit_preserving: bool) -> list[tuple]:
    """One comparable record per stored file, sorted."""
    records = []
    for path in stored_files(out):
        meta, rest = _split(path)
        tags = tuple(int(e.tag) for e in meta)
        ts = str(meta.TransferSyntaxUID)
        instance = str(meta.MediaStorageSOPInstanceUID)
        if bit_preserving:
            content = hashlib.sha256(rest).hexdigest()
        else:
            ds = pydicom.dcmread(path, force=True)
            content = hashlib.sha256(repr(_canonical(ds)).encode()).hexdigest()
        records.append((_normalise(path.relative_to(out).as_posix()), tags, str(meta.MediaStorageSOPClassUID),
                        instance, ts, str(meta.get("SourceApplicationEntityTitle", "")).strip(), content,
                        oct(path.stat().st_mode & 0o777)))
    return sorted(records)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_tree_names_meta_and_content_as_dcmrecv(world, name):
    pair = world["pairs"][name]
    bit_preserving = "+B" in pair.args
    ref = _describe(pair.out("ref"), bit_preserving)
    ours = _describe(pair.out("ours"), bit_preserving)
    assert ours == ref
    assert hidden_files(pair.out("ours")) == []
    if name == "ignore":
        assert ref == []
        return
    # 9 explicit + 3 other standard + 1 private; the duplicate is one file unless names are unique
    unique_names = "+fu" in pair.args or "+fsu" in pair.args or "+fst" in pair.args
    assert len(ref) == (12 if unique_names else 11)
    for path in stored_files(pair.out("ours")):
        meta, _ = _split(path)
        assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        version = BIT_PRESERVING_VERSION_NAME if bit_preserving else IMPLEMENTATION_VERSION_NAME
        assert meta.ImplementationVersionName == version
    for path in stored_files(pair.out("ref")):
        assert _split(path)[0].ImplementationClassUID == DCMTK_IMPL_UID   # the oracle really ran


def test_series_date_tree_is_dcmrecvs(world):
    """Spelled out once, so a failure says which folder went wrong."""
    pair = world["pairs"]["fd-ssd"]
    ours = sorted({p.parent.relative_to(pair.out("ours")).as_posix() for p in stored_files(pair.out("ours"))})
    ref = sorted({p.parent.relative_to(pair.out("ref")).as_posix() for p in stored_files(pair.out("ref"))})
    assert ours == ref
    assert {"data/2023/04/15", "data/2023/04/16", "data/2023/04/17", "data/2023/02/31", "data/2023/04/19",
            "data/2023/04/21"} <= set(ours)
    assert any(d.startswith("undef/") for d in ours)
    assert not any(d.startswith("data/2023/04/20") for d in ours)   # (0008,0021) with VR LO is no date


def test_duplicate_overwritten_with_dcmrecvs_warning(world):
    pair = world["pairs"]["fd"]
    warning = "W: file already exists, overwriting: out/CT.1.2.826.0.1.100.1"
    assert warning in pair.servers["ref"].log
    wait_until(lambda: warning in pair.servers["ours"].log, 10, what="the overwrite warning")
    assert (pair.out("ours") / "CT.1.2.826.0.1.100_9").exists()   # '/' in a UID becomes '_'


def test_bit_preserving_with_series_date_subdir_refused():
    for command in ([DCMRECV], [str(BIN / "dcmrecv-cluster")]):
        result = subprocess.run([*command, "+B", "+ssd", "11112"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 1
        assert "error: --bit-preserving not allowed with --series-date-subdir" in result.stdout + result.stderr


# --------------------------------------------------------------------------
# datasets no toolkit sends


def _both(world, name, action):
    pair = world["pairs"][name]
    return {side: action(pair.port(side)) for side in ("ref", "ours")}


def test_empty_dataset_answers_like_dcmrecv(world):
    def empty(port):
        scu = RawSCU(port)
        status = scu.store(CT_IMAGE, "1.2.826.0.1.200.1", b"")
        scu.release()
        return status
    assert _both(world, "fd", empty) == {"ref": 0xC000, "ours": 0xC000}
    assert _both(world, "ignore", empty) == {"ref": 0, "ours": 0}   # --ignore does not look
    assert _both(world, "bp", empty) == {"ref": 0, "ours": 0}       # +B stores what came
    pair = world["pairs"]["fd"]
    for side in ("ref", "ours"):
        assert not (pair.out(side) / "CT.1.2.826.0.1.200.1").exists()
        assert (world["pairs"]["bp"].out(side) / "CT.1.2.826.0.1.200.1").stat().st_size > 132


UNDECODABLE = {   # dcmrecv aborts without a response (verified)
    "value past the end": b"\x10\x00\x10\x00PN\x40\x00ab",
    "not an item in a sequence": b"\x08\x00\x15\x11SQ\x00\x00\x08\x00\x00\x00\x08\x00\x16\x00UI\x00\x00",
    "item tag at top level": b"\xfe\xff\x00\xe0\x00\x00\x00\x00",
}
TOLERATED = {    # dcmrecv stores these (verified)
    "half an element header": b"\x10\x00\x10\x00PN",
    "sequence never closed": b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff",
}


@pytest.mark.parametrize("tail", list(UNDECODABLE) + list(TOLERATED))
def test_undecodable_dataset_is_refused_like_dcmrecv(world, tail):
    """dcmrecv's parser decides: refused ones get no response and leave nothing."""
    uid = f"1.2.826.0.1.200.{2 + list(UNDECODABLE | TOLERATED).index(tail)}"
    series_date = "20290303" if tail in TOLERATED else "20300303"
    data = encode(small_dataset(sop_instance=uid, series_date=series_date)) + (UNDECODABLE | TOLERATED)[tail]

    def send(port):
        scu = RawSCU(port)
        status = scu.store(CT_IMAGE, uid, data)
        scu.sock.close()
        return status
    for name in ("fd-ssd", "ignore"):
        answers = _both(world, name, send)
        pair = world["pairs"][name]
        if tail in TOLERATED:
            assert answers == {"ref": 0, "ours": 0}
            continue
        assert answers["ref"] == "aborted"
        assert answers["ours"] in ("aborted", "closed")
        assert not [p for p in stored_files(pair.out("ours")) if uid in p.name]
        wait_until(lambda pair=pair: hidden_files(pair.out("ours")) == [], 10, what="no temp file")
        assert not (pair.out("ours") / "data" / "2030").exists()


def test_meta_uids_come_from_the_dataset_like_dcmrecv(world):
    """Name from the command, (0002,0002)/(0002,0003) from the dataset, DCMTK's fallbacks when absent."""
    cases = {
        "1.2.826.0.1.200.3": small_dataset(MR_IMAGE, "1.2.826.0.1.200.33"),
        "1.2.826.0.1.200.4": small_dataset(None, None),
    }

    def send(port):
        scu = RawSCU(port)
        statuses = [scu.store(CT_IMAGE, uid, encode(ds)) for uid, ds in cases.items()]
        scu.release()
        return statuses
    assert _both(world, "fd", send) == {"ref": [0, 0], "ours": [0, 0]}
    pair = world["pairs"]["fd"]
    metas = {side: {uid: _split(pair.out(side) / f"CT.{uid}")[0] for uid in cases} for side in ("ref", "ours")}
    for side in ("ref", "ours"):
        assert metas[side]["1.2.826.0.1.200.3"].MediaStorageSOPClassUID == MR_IMAGE
        assert metas[side]["1.2.826.0.1.200.3"].MediaStorageSOPInstanceUID == "1.2.826.0.1.200.33"
        assert metas[side]["1.2.826.0.1.200.4"].MediaStorageSOPClassUID == "1.2.276.0.7230010.3.1.0.1"
    assert metas["ref"]["1.2.826.0.1.200.4"].MediaStorageSOPInstanceUID.startswith("1.2.276.0.7230010.3.1.4.")
    assert metas["ours"]["1.2.826.0.1.200.4"].MediaStorageSOPInstanceUID.startswith("2.25.")


def test_nothing_written_outside_the_output_directory(world):
    evil = "../../../../escaped"
    ds = small_dataset(sop_instance=evil, series_date="../../x")

    def send(port):
        scu = RawSCU(port)
        status = scu.store(CT_IMAGE, evil, encode(ds))
        scu.release()
        return status
    for name in ("fd-ssd", "fsu"):
        assert _both(world, name, send) == {"ref": 0, "ours": 0}
        pair = world["pairs"][name]
        ours = sorted(_normalise(p.relative_to(pair.out("ours")).as_posix()) for p in stored_files(pair.out("ours")))
        ref = sorted(_normalise(p.relative_to(pair.out("ref")).as_posix()) for p in stored_files(pair.out("ref")))
        assert ours == ref
    assert not list(world["base"].rglob("escaped*"))
    names = [p.name for p in stored_files(world["pairs"]["fd-ssd"].out("ours")) if "escaped" in p.name]
    assert names and all(n.startswith("CT.") and n.endswith("_escaped") for n in names)


# --------------------------------------------------------------------------
# failures and races (ours only: dcmrecv is serial and does not promise these)


def _log_has(receiver: Receiver, text: str, count: int = 1) -> bool:
    return receiver.log.count(text) >= count


def test_aborted_association_leaves_nothing(world):
    pair = world["pairs"]["fd-ssd"]
    receiver = pair.servers["ours"]
    before = receiver.log.count("Received Association Abort Request")
    data = encode(small_dataset(sop_instance="1.2.826.0.1.300.1", series_date="20310101", pixels=200_000))
    scu = RawSCU(pair.port("ours"))
    scu.command(CT_IMAGE, "1.2.826.0.1.300.1")
    scu.data(data[: len(data) // 2], last=False)   # group 0008 is in: the temp file exists by now
    scu.abort()
    wait_until(lambda: _log_has(receiver, "Received Association Abort Request", before + 1), 20,
               what="the abort to be processed")
    assert not (pair.out("ours") / "data" / "2031").exists()
    assert hidden_files(pair.out("ours")) == []
    assert not [p for p in stored_files(pair.out("ours")) if "300.1" in p.name]


def test_same_instance_on_two_workers_at_once_last_one_wins(world):
    pair = world["pairs"][TWO_WORKERS]
    receiver = pair.servers["ours"]
    assert len(receiver.workers()) == 2
    uid = "1.2.826.0.1.300.2"
    versions = []
    for name in ("First^Copy", "Second^Copy"):
        ds = small_dataset(sop_instance=uid, pixels=100_000)
        ds.PatientName = name
        versions.append(encode(ds))
    scus = [RawSCU(pair.port("ours")) for _ in versions]
    for scu, data in zip(scus, versions, strict=True):
        scu.command(CT_IMAGE, uid)
        scu.data(data[:-1000], last=False)
    barrier = threading.Barrier(2)
    statuses = [None, None]

    def finish(index):
        barrier.wait()
        scus[index].data(versions[index][-1000:], last=True)
        statuses[index] = scus[index].status()
        scus[index].release()
    threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [0, 0]
    matching = [p for p in stored_files(pair.out("ours")) if uid in p.name]
    assert [p.name for p in matching] == [f"CT.{uid}"]
    assert _split(matching[0])[1] in versions   # whole, and one of the two
    assert hidden_files(pair.out("ours")) == []


def _store_status(port: int, uid: str, series_date: str, pixels: int) -> int | str:
    scu = RawSCU(port)
    status = scu.store(CT_IMAGE, uid, encode(small_dataset(sop_instance=uid, series_date=series_date, pixels=pixels)))
    scu.release()
    return status


def test_directory_that_cannot_be_made_answers_a700_and_leaves_nothing(world):
    """A file where +ssd needs a folder (root ignores permissions, this it cannot ignore)."""
    pair = world["pairs"]["fd-ssd"]
    for side in ("ref", "ours"):
        (pair.out(side) / "data" / "2024").mkdir(parents=True, exist_ok=True)
        (pair.out(side) / "data" / "2024" / "02").write_text("not a folder")
    answers = _both(world, "fd-ssd", lambda port: _store_status(port, "1.2.826.0.1.300.3", "20240202", 64))
    assert answers == {"ref": 0xA700, "ours": 0xA700}
    message = ("E: cannot create directory for received object: out/data/2024/02/02: "
               "Cannot create directory: File exists")
    assert message in pair.servers["ref"].log
    wait_until(lambda: message in pair.servers["ours"].log, 10, what="dcmrecv's error line")
    assert hidden_files(pair.out("ours")) == []
    assert not [p for p in stored_files(pair.out("ours")) if "300.3" in p.name]


def test_disk_full_answers_a700_and_leaves_nothing(world):
    pair = world["pairs"]["fd-ssd"]
    mount_point = pair.out("ours") / "data" / "2024" / "01" / "01"
    mount_point.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                             capture_output=True).returncode == 0
    if not mounted:
        shutil.rmtree(pair.out("ours") / "data" / "2024" / "01")
        pytest.skip("cannot mount a small tmpfs here (not root?)")
    try:
        status = _store_status(pair.port("ours"), "1.2.826.0.1.300.4", "20240101", 1_000_000)
        assert status == 0xA700
        assert os.listdir(mount_point) == []
        # Worker log lines reach the supervisor's log asynchronously: poll, don't assume.
        wait_until(lambda: "No space left on device" in pair.servers["ours"].log, 10, what="the disk-full error line")
        # the same folder still takes what fits
        assert _store_status(pair.port("ours"), "1.2.826.0.1.300.5", "20240101", 1000) == 0
        assert os.listdir(mount_point) == ["CT.1.2.826.0.1.300.5"]
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


# --------------------------------------------------------------------------
# the writer in-process: a group 0008 too long to hold in memory


def test_long_group_0008_spills_to_disk_then_lands_in_its_folder(tmp_path):
    from dcmrecv_cluster.workers import storage
    from dcmrecv_cluster.workers.dimse import Command

    settings = storage.StorageSettings(str(tmp_path), "series-date", "default", "", "normal", fsync=False)
    request = Command(1, 1, True, CT_IMAGE, "1.2.826.0.1.400.1")
    lines = []
    writer = storage.InstanceWriter(settings, request, EXPLICIT_LE, "SCU", storage.Namer(None, None),
                                    lambda level, text: lines.append((level, text)))
    ds = small_dataset(sop_instance="1.2.826.0.1.400.1", series_date="20220202")
    ds.add_new(0x00080001, "UN", bytes(storage.SPILL_LIMIT + 4096))   # before (0008,0016)
    data = encode(ds)
    cut = storage.SPILL_LIMIT + 2048
    for offset in range(0, cut, 16372):
        writer.write(memoryview(data)[offset:min(offset + 16372, cut)])
    assert writer.pending_size == 0 and writer.spill_fd is not None   # parked on disk, not in memory
    assert writer.fd is None
    writer.write(memoryview(data)[cut:])
    assert writer.spill_fd is None and os.path.dirname(writer.temp_path).endswith("data/2022/02/02")
    outcome = writer.finish()
    assert outcome.status == 0
    stored = tmp_path / "data/2022/02/02/CT.1.2.826.0.1.400.1"
    assert outcome.path == str(stored)
    assert _split(stored)[1] == data
    assert hidden_files(tmp_path) == []
