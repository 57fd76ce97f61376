"""The bundled load driver against real DCMTK receivers, plus its wire encoding."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys

import pydicom
import pytest

from dcmrecv_cluster.loadtest import dimse, pdu
from dcmrecv_cluster.loadtest.payload import InstanceSpec, PreparedInstance
from dcmrecv_cluster.loadtest.servers import ServerSpec, start
from dcmrecv_cluster.loadtest.uids import ROOT, UID_LENGTH, UidFactory, new_run_id

from .support.tools import DCMRECV, STORESCP

LOADTEST_DIR = pathlib.Path(__file__).resolve().parent.parent / "loadtest"

needs_dcmtk = pytest.mark.skipif(not (os.access(STORESCP, os.X_OK) and os.access(DCMRECV, os.X_OK)),
                                 reason="DCMTK storescp/dcmrecv not installed")


def drive(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the driver the way a user does, in its own process."""
    return subprocess.run([sys.executable, "-m", "dcmrecv_cluster.loadtest.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def storescp(tmp_path):
    """A single-process DCMTK storescp (no -xf: the common storage classes) on a free port."""
    server = start(ServerSpec("storescp", f"TCP_NODELAY=1 {STORESCP} -od {{outdir}} {{port}}"),
                   str(tmp_path), workers=1)
    yield server
    server.stop()


# -- against real DCMTK ------------------------------------------------------------------------
@needs_dcmtk
def test_stores_synthetic_instances(storescp, tmp_path):
    report = tmp_path / "run.json"
    proc = drive("127.0.0.1", str(storescp.port), "--preset", "mr", "-n", "12", "-a", "3",
                 "-j", "2", "--per-association", "2", "--json", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "12 acknowledged (12 success" in proc.stdout

    summary = json.loads(report.read_text())
    assert summary["instances"] == {"acknowledged": 12, "success": 12, "warning": 0,
                                    "failed": 0, "not_sent": 0}
    assert summary["exit_code"] == 0 and summary["success"] is True
    assert summary["associations"]["accepted"] == 6  # 3 slots x 4 instances, 2 per association
    assert summary["latency_ms"]["count"] == 12
    assert summary["association_setup_ms"]["count"] == 6
    assert sum(row["instances"] for row in summary["series"]) == 12
    assert summary["mb"] == pytest.approx(12 * summary["settings"]["load"]["instance_bytes"] / 1e6)
    assert summary["failures"] == {"dimse_status": {}, "instance": {}, "association": {}}
    assert summary["driver_cpu"]["per_instance_ms"] > 0

    files = sorted(pathlib.Path(storescp.outdir).iterdir())
    assert len(files) == 12
    uids = set()
    for path in files:
        ds = pydicom.dcmread(path)
        assert path.name == f"MR.{ds.SOPInstanceUID}"
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert (ds.Rows, ds.Columns, len(ds.PixelData)) == (256, 256, 256 * 256 * 2)
        uids.add(str(ds.SOPInstanceUID))
    # slot s runs in process s % 2; each slot counts its instances from 1
    run_id = next(iter(uids))[len(ROOT):len(ROOT) + 12]
    expected = {f"{ROOT}{run_id}.1{s % 2:03d}{s:04d}.{10 ** 15 + i}"
                for s in range(3) for i in range(1, 5)}
    assert uids == expected


@needs_dcmtk
def test_sends_a_directory_as_stored(storescp, tmp_path):
    first = drive("127.0.0.1", str(storescp.port), "--preset", "ct", "-n", "4", "-q")
    assert first.returncode == 0, first.stderr
    sent = tmp_path / "sent"
    shutil.copytree(storescp.outdir, sent)
    (sent / "not-dicom.txt").write_text("hello")
    second = start(ServerSpec("storescp", f"TCP_NODELAY=1 {STORESCP} -od {{outdir}} {{port}}"),
                   str(tmp_path), workers=1)
    try:
        proc = drive("127.0.0.1", str(second.port), "--dir", str(sent), "-a", "2")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "4 acknowledged" in proc.stdout
        assert "skipping" in proc.stderr and "not-dicom.txt" in proc.stderr
        received = sorted(p.name for p in pathlib.Path(second.outdir).iterdir())
        originals = sorted(p.name for p in sent.iterdir() if p.name.startswith("CT."))
        assert received == originals
        for name in received:  # byte-identical data sets: sent as stored
            assert (pathlib.Path(second.outdir) / name).read_bytes() == (sent / name).read_bytes()
    finally:
        second.stop()


@needs_dcmtk
def test_rejected_association_fails_the_run(tmp_path):
    """dcmrecv without -xf supports only Verification: A-ASSOCIATE-RJ (1, 1, 1)."""
    server = start(ServerSpec("dcmrecv", f"{DCMRECV} -od {{outdir}} {{port}}"), str(tmp_path),
                   workers=1)
    try:
        report = tmp_path / "run.json"
        proc = drive("127.0.0.1", str(server.port), "-n", "5", "--json", str(report))
    finally:
        server.stop()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = json.loads(report.read_text())
    assert summary["instances"]["not_sent"] == 5
    assert summary["instances"]["acknowledged"] == 0
    assert summary["failures"]["association"] == {
        "rejected result=1 source=1 reason=1 "
        "(rejected-permanent, service-user, no-reason-given)": 1}
    assert "rejected result=1" in proc.stdout


@needs_dcmtk
def test_failure_status_is_counted(storescp):
    """storescp answers 0xA700 when it cannot write the file."""
    os.rmdir(storescp.outdir)
    proc = drive("127.0.0.1", str(storescp.port), "-n", "3")
    assert proc.returncode == 1
    assert "DIMSE status: 0xA700 (Failure: out of resources): 3" in proc.stdout
    assert "0 acknowledged" in proc.stdout


@needs_dcmtk
def test_duration_mode_stops_by_itself(storescp, tmp_path):
    report = tmp_path / "run.json"
    proc = drive("127.0.0.1", str(storescp.port), "-t", "1", "-a", "2", "-j", "1", "--rate", "40",
                 "--json", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(report.read_text())
    # 40/s for 1 s: the rate limit holds (one second of slack for scheduling)
    assert 20 <= summary["instances"]["acknowledged"] <= 45
    assert summary["instances"]["not_sent"] == 0


@pytest.mark.skipif(os.environ.get("BENCH_SMOKE") == "0", reason="BENCH_SMOKE=0")
@needs_dcmtk
def test_bench_quick_smoke_with_the_driver(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "dcmrecv_cluster.loadtest.bench", "--quick", "--sender", "driver",
                           "--filesystem", "workdir", "--servers", "storescp", "--loads", "mr", "--json", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert set(result["table"]) == {"mr16", "mr1"}
    for load in ("mr16", "mr1"):
        cell = result["table"][load]["storescp"]
        assert cell["instances_per_s"]["median"] > 0
        assert cell["server_cpu_ms_per_instance"]["median"] > 0
        assert cell["peak_rss_total_mib"] > 0
        assert cell["p50_ms"]["median"] > 0
    assert "mr16" in proc.stdout and "storescp" in proc.stdout


@pytest.mark.skipif(os.environ.get("BENCH_SMOKE") == "0", reason="BENCH_SMOKE=0")
@needs_dcmtk
def test_bench_quick_smoke_with_storescu_on_a_journaled_ext4(tmp_path):
    """The default bench: DCMTK senders, every file on disk counted, the project's ratio, the filesystem named."""
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "dcmrecv_cluster.loadtest.bench", "--quick", "--workers", "1",
                           "--servers", "storescp+nodelay,dcmrecv-cluster", "--loads", "mr16",
                           "--workdir", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    row = result["table"]["mr16"]
    for server in ("storescp+nodelay", "dcmrecv-cluster"):
        assert row[server]["instances_per_s"]["median"] > 0
        assert [c["acknowledged"] for c in result["cells"] if c["server"] == server] == [16 * 25]
    assert row["dcmrecv-cluster"]["best_dcmtk"] == "storescp+nodelay"
    assert row["dcmrecv-cluster"]["ratio_to_best_dcmtk"] > 0
    # the like-for-like durable figure: DCMTK's run counted until its data are on disk
    assert row["dcmrecv-cluster"]["on_disk_ratio_to_best_dcmtk"] > 0
    for server in ("storescp+nodelay", "dcmrecv-cluster"):
        assert 0 < row[server]["on_disk_instances_per_s"]["median"] <= row[server]["instances_per_s"]["median"]
        assert row[server]["machine_cpu_ms_per_instance"]["median"] > 0
    expected = "ext4 (journaled)" if os.geteuid() == 0 else ""
    assert expected in result["settings"]["filesystem"]
    assert f"output on {result['settings']['filesystem']}" in proc.stdout
    assert not os.path.exists(tmp_path / "work" / "bench-ext4.img")


# -- wire encoding -------------------------------------------------------------------------------
def _reassemble(buf: bytes) -> tuple[bytes, bytes]:
    """Command and data set bytes back out of consecutive P-DATA-TF PDUs."""
    command, dataset, offset = b"", b"", 0
    while offset < len(buf):
        pdu_type, length = pdu.PDU_HEADER.unpack_from(buf, offset)
        assert pdu_type == pdu.P_DATA_TF and length <= 64 + 6
        for _ctx, control, fragment in pdu.iter_pdvs(buf[offset + 6:offset + 6 + length]):
            if control & 1:
                command += fragment
            else:
                dataset += fragment
        offset += 6 + length
    return command, dataset


def test_stamp_patches_across_fragment_boundaries():
    factory = UidFactory(new_run_id(), 1, 2)
    marker = factory.next().decode()
    dataset = b"\x08\x00\x18\x00" + struct.pack("<I", len(marker)) + marker.encode() + bytes(300)
    spec = InstanceSpec("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2", marker, len(dataset),
                        dataset=dataset, uid_offset=8)
    prep = PreparedInstance(spec, 5, max_fragment=64)  # fragments split UID and MessageID
    for message_id in (1, 300, 65535):
        uid = factory.next()
        prep.stamp(message_id, uid)
        command, data = _reassemble(bytes(prep.buf))
        responded = dimse.parse_command(command)
        assert struct.unpack("<H", responded[0x0110])[0] == message_id
        assert responded[0x1000] == uid
        assert responded[0x0100] == b"\x01\x00"
        assert struct.unpack("<I", responded[0x0000])[0] == len(command) - 12
        assert data == dataset.replace(marker.encode(), uid)


def test_uids_are_fixed_length_and_valid():
    factory = UidFactory(new_run_id(), 999, 9999)
    for _ in range(3):
        uid = factory.next().decode()
        assert len(uid) == UID_LENGTH
        assert all(part == "0" or not part.startswith("0") for part in uid.split("."))


def test_associate_rq_and_ac_round_trip():
    rq = pdu.encode_associate_rq("CALLED", "CALLING", [(1, "1.2.3", ["1.2.840.10008.1.2"])],
                                 16384)
    pdu_type, length = pdu.PDU_HEADER.unpack_from(rq, 0)
    assert pdu_type == 1 and length == len(rq) - 6
    assert rq[10:26] == b"CALLED".ljust(16) and rq[26:42] == b"CALLING".ljust(16)
    # an AC as a peer would write it: echoed header, one accepted and one refused context
    items = (pdu._item(0x10, pdu.APPLICATION_CONTEXT.encode())
             + pdu._item(0x21, bytes([1, 0, 0, 0]) + pdu._item(0x40, b"1.2.840.10008.1.2\x00"))
             + pdu._item(0x21, bytes([3, 0, 3, 0]))
             + pdu._item(0x50, pdu._item(0x51, struct.pack(">I", 32768))))
    ac = pdu.parse_associate_ac(rq[6:74] + items)
    assert ac.max_pdu == 32768
    assert ac.contexts == {1: (0, "1.2.840.10008.1.2"), 3: (3, "")}


def test_store_response_parsing():
    def el(element, value):
        return struct.pack("<HHI", 0, element, len(value)) + value
    body = (el(0x0002, b"1.2.3\x00") + el(0x0100, b"\x01\x80") + el(0x0120, b"\x07\x00")
            + el(0x0800, b"\x01\x01") + el(0x0900, b"\x00\xa7"))
    assert dimse.store_response(el(0x0000, struct.pack("<I", len(body))) + body) == (7, 0xA700)
    assert dimse.describe_status(0xA700).startswith("0xA700 (Failure")


def test_loadtest_imports_nothing_of_ours():
    for path in LOADTEST_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith("dcmrecv_cluster") or \
                    name.startswith("dcmrecv_cluster.loadtest"), f"{path.name} imports {name}"
