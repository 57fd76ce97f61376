"""The receiver core end to end: real dcmrecv-cluster, real DCMTK senders, over loopback."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest

from .support.instances import CT_IMAGE, MR_IMAGE, make_instance, make_series
from .support.net import free_port
from .support.rawscu import associate, dataset_bytes, p_data, store_command
from .support.service import (
    BIN,
    VANISHED,
    alive,
    descendants_of,
    echo,
    hidden_files,
    stored_files,
    storescu,
    wait_until,
)
from .support.tools import STORESCP_CFG, dcmtk

CLUSTER = ("--workers", "2", "-xf", STORESCP_CFG, "Default")


def test_echo_and_concurrent_stores(receiver_factory, tmp_path):
    receiver = receiver_factory("-v", *CLUSTER)
    assert echo(receiver.port) == 0
    batches = [make_series(tmp_path / f"in{i}", 5, sop_class=MR_IMAGE if i % 2 else CT_IMAGE,
                           modality="MR" if i % 2 else "CT") for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda files: storescu(receiver.port, files), batches))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    stored = stored_files(receiver.output)
    assert len(stored) == 20
    for files in batches:
        for sent_path in files:
            sent = pydicom.dcmread(sent_path)
            prefix = "MR" if sent.SOPClassUID == MR_IMAGE else "CT"
            received = pydicom.dcmread(receiver.output / f"{prefix}.{sent.SOPInstanceUID}")
            assert received.file_meta.MediaStorageSOPInstanceUID == sent.SOPInstanceUID
            assert received == sent
    assert hidden_files(receiver.output) == []
    wait_until(lambda: receiver.log.count("I: Stored received object to file:") == 20, 10,
               what="the 20 store lines in the log")


def test_without_config_only_verification_is_accepted(receiver_factory, tmp_path):
    receiver = receiver_factory("-v", "--workers", "1")
    assert echo(receiver.port) == 0
    result = storescu(receiver.port, [make_instance(tmp_path / "ct.dcm")])
    assert result.returncode != 0
    assert "Association Rejected" in result.stderr
    assert "Rejected Permanent" in result.stderr
    wait_until(lambda: "Refusing Association (no acceptable presentation contexts)" in receiver.log,
               10, what="the refusal in the log")
    assert stored_files(receiver.output) == []


def _worker_owning(receiver, client: socket.socket) -> int:
    """The worker pid holding the server side of ``client``'s connection (via /proc/net/tcp inodes)."""
    client_port = client.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == receiver.port and remote_port == client_port:
            inode = fields[9]
    assert inode, "server side of the connection not found"
    for pid in receiver.workers():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except VANISHED:
            continue            # a worker that exited since the listing holds nothing
        for fd in fds:
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError("no worker holds the connection")


def test_sigkill_of_a_worker_mid_transfer(receiver_factory, tmp_path):
    receiver = receiver_factory("-v", *CLUSTER)
    instance = make_instance(tmp_path / "big.dcm", rows=512, columns=512, frames=8)
    dataset = pydicom.dcmread(instance)
    body = dataset_bytes(instance.read_bytes())
    client = associate(receiver.port, CT_IMAGE)
    client.sendall(p_data(1, 0x03, store_command(CT_IMAGE, dataset.SOPInstanceUID)))
    client.sendall(p_data(1, 0x00, body[:16000]))
    wait_until(lambda: hidden_files(receiver.output), 10, what="the temp file of the transfer")
    victim = _worker_owning(receiver, client)
    before = set(receiver.workers())
    os.kill(victim, signal.SIGKILL)
    # The peer of the killed worker loses its association; nothing is shown as stored.
    wait_until(lambda: victim not in receiver.workers(), 10, what="the killed worker to be reaped")
    wait_until(lambda: len(receiver.workers()) == 2 and set(receiver.workers()) != before, 30,
               what="a replacement worker")
    client.close()
    assert echo(receiver.port) == 0
    wait_until(lambda: not hidden_files(receiver.output), 10, what="the dead worker's temp file to go")
    assert stored_files(receiver.output) == []
    wait_until(lambda: f"(pid {victim}) killed by signal 9 (SIGKILL)" in receiver.log, 10, what="the death in the log")
    # And the service still stores.
    assert storescu(receiver.port, [instance]).returncode == 0
    assert len(stored_files(receiver.output)) == 1


def test_sigterm_drains_in_flight_association_and_exits_0(receiver_factory, tmp_path):
    receiver = receiver_factory("-v", *CLUSTER)
    instance = make_instance(tmp_path / "ct.dcm", rows=256, columns=256)
    dataset = pydicom.dcmread(instance)
    body = dataset_bytes(instance.read_bytes())
    client = associate(receiver.port, CT_IMAGE)
    client.sendall(p_data(1, 0x03, store_command(CT_IMAGE, dataset.SOPInstanceUID)))
    client.sendall(p_data(1, 0x00, body[:1000]))
    processes = [receiver.process.pid, *descendants_of(receiver.process.pid)]
    receiver.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "received SIGTERM" in receiver.log, 10, what="the stop to begin")
    # New connections are no longer accepted, the association in flight completes.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", receiver.port), timeout=5).recv(1)
    rest = body[1000:]
    for offset in range(0, len(rest), 16000):
        client.sendall(p_data(1, 0x02 if offset + 16000 >= len(rest) else 0x00, rest[offset:offset + 16000]))
    header = client.recv(6, socket.MSG_WAITALL)
    response = client.recv(struct.unpack(">L", header[2:6])[0], socket.MSG_WAITALL)
    assert header[0] == 0x04 and struct.pack("<HHLH", 0, 0x0900, 2, 0) in response
    client.sendall(bytes((5, 0, 0, 0, 0, 4, 0, 0, 0, 0)))
    assert client.recv(10, socket.MSG_WAITALL)[0] == 0x06
    client.close()
    assert receiver.process.wait(60) == 0
    # Workers are reaped before the supervisor exits; multiprocess's resource tracker follows it.
    wait_until(lambda: not [pid for pid in processes if alive(pid)], 10, what="every process to exit")
    assert len(stored_files(receiver.output)) == 1


def _dcmrecv_and_ours(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    theirs = subprocess.run([dcmtk("dcmrecv"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    ours = subprocess.run([str(BIN / "dcmrecv-cluster"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return theirs, ours


@pytest.mark.parametrize("case", ["missing-dir", "bad-config", "unknown-profile", "syntax", "port-busy", "no-args"])
def test_exit_codes_match_dcmrecv(case, tmp_path):
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen(1)
    port = str(busy.getsockname()[1])
    bad_cfg = tmp_path / "bad.cfg"
    bad_cfg.write_text("[[TransferSyntaxes]]\n")
    args = {
        "missing-dir": ["-od", str(tmp_path / "nope"), str(free_port())],
        "bad-config": ["-xf", str(bad_cfg), "Default", str(free_port())],
        "unknown-profile": ["-xf", STORESCP_CFG, "NoSuch", str(free_port())],
        "syntax": ["--max-pdu", "1", str(free_port())],
        "port-busy": [port],
        "no-args": [],
    }[case]
    try:
        theirs, ours = _dcmrecv_and_ours(args, tmp_path)
    finally:
        busy.close()
    assert ours.returncode == theirs.returncode, (theirs.stderr, ours.stderr)
    theirs_f = [line for line in theirs.stderr.splitlines() if line.startswith(("F:", "error:"))]
    ours_f = [line for line in ours.stderr.splitlines() if line.startswith(("F:", "error:"))]
    assert ours_f == theirs_f
