"""Faults, hostile input and load against the real service over loopback (issue: reliability)."""

from __future__ import annotations

import random
import select
import signal
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest

from .support.instances import CT_IMAGE, make_instance, make_series
from .support.rawscu import (
    VERIFICATION,
    associate,
    associate_rq,
    dataset_bytes,
    p_data,
    read_pdu,
    release,
    store,
    store_command,
)
from .support.service import echo, hidden_files, stored_files, storescu, wait_until
from .support.tools import STORESCP_CFG

CLUSTER = ("--workers", "2", "-xf", STORESCP_CFG, "Default")


def _ends_with_abort_or_close(sock: socket.socket, within: float) -> str:
    """Read until the service aborts or closes; what it did, or fail if it keeps the connection."""
    sock.settimeout(within)
    try:
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return "abort" if data[:1] == b"\x07" else ("reject" if data[:1] == b"\x03" else "close")
            data += chunk
            if data[:1] in (b"\x07", b"\x03") and len(data) >= 10:
                return "abort" if data[:1] == b"\x07" else "reject"
    except ConnectionResetError:
        return "close"
    except TimeoutError:
        raise AssertionError(f"connection still open after {within} s") from None


GARBAGE = {
    "random-bytes": bytes(random.Random(7).getrandbits(8) for _ in range(4096)),
    "http-request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "tls-client-hello": bytes.fromhex("16030100c8010000c40303") + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00",
    "truncated-associate-rq": associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])])[:40],
    "length-0xffffffff": b"\x01\x00\xff\xff\xff\xff" + bytes(64),
    "unknown-pdu-type": b"\x09\x00\x00\x00\x00\x04abcd",
    "p-data-first": p_data(1, 0x03, b"\x00" * 20),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_gets_an_abort_or_a_close(receiver_factory, name):
    receiver = receiver_factory("-ta", "3", *CLUSTER)
    with socket.create_connection(("127.0.0.1", receiver.port)) as sock:
        sock.sendall(GARBAGE[name])
        if name == "truncated-associate-rq":
            sock.shutdown(socket.SHUT_WR)
        outcome = _ends_with_abort_or_close(sock, within=10)
    assert outcome in ("abort", "close")
    assert echo(receiver.port) == 0, "the service stopped serving others"


def test_p_data_longer_than_the_negotiated_maximum_is_aborted_unread(receiver_factory):
    receiver = receiver_factory(*CLUSTER)
    sock = associate(receiver.port, CT_IMAGE)
    sock.sendall(p_data(1, 0x03, store_command(CT_IMAGE, "1.2.3")))
    sock.sendall(struct.pack(">BxL", 4, 0xFFFFFFF0) + struct.pack(">LBB", 0xFFFFFFEC, 1, 0) + bytes(1000))
    assert _ends_with_abort_or_close(sock, within=10) == "abort"
    assert stored_files(receiver.output) == [] and hidden_files(receiver.output) == []


HOSTILE_UIDS = ["1.2.3/4", "../../../../tmp/evil", "/etc/passwd", "1." * 99 + "1", "..", "."]


def test_hostile_identifiers_never_leave_the_output_directory(receiver_factory, tmp_path):
    receiver = receiver_factory("+ssd", *CLUSTER)
    source = make_instance(tmp_path / "ct.dcm", series_date="../../..")
    sock = associate(receiver.port, CT_IMAGE)
    statuses = {}
    for uid in HOSTILE_UIDS + [""]:
        statuses[uid] = store(sock, CT_IMAGE, uid, dataset_bytes(source.read_bytes()))
    release(sock)
    output = receiver.output.resolve()
    for path in output.parent.rglob("*"):
        if path.is_file() and not path.name.startswith("receiver-") and path.suffix not in (".dcm", ".log"):
            assert path.resolve().is_relative_to(output), f"{path} written outside the output directory"
    assert not Path("/tmp/evil").exists()
    stored = stored_files(receiver.output)
    # dcmrecv's answers: '/' becomes '_', names stay below <od>/undef/<today>/ (an invalid Series Date);
    # an empty SOP Instance UID cannot be named: 0xC000.
    assert statuses[""] == 0xC000
    for uid in HOSTILE_UIDS:
        assert statuses[uid] == 0x0000, (uid, hex(statuses[uid]))
    assert {p.parent.parent.name for p in stored} == {"undef"}
    names = {p.name for p in stored}
    assert "CT.1.2.3_4" in names and "CT..._.._.._.._tmp_evil" in names and "CT._etc_passwd" in names
    assert hidden_files(receiver.output) == []


def test_acse_timeout_bounds_the_whole_request_not_each_read(receiver_factory):
    receiver = receiver_factory("-ta", "2", *CLUSTER)
    request = associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])])
    sock = socket.create_connection(("127.0.0.1", receiver.port))
    started = time.monotonic()
    closed = threading.Event()

    def trickle():
        try:
            for byte in request:
                sock.send(bytes((byte,)))
                if closed.wait(0.3):
                    return
        except OSError:
            return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    sock.settimeout(10)
    try:
        while sock.recv(4096):
            pass
    except (TimeoutError, ConnectionResetError):
        pass
    closed.set()
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 5, f"trickling peer held for {elapsed:.1f} s with -ta 2"
    wait_until(lambda: "Could not receive association request: DUL network read timeout" in receiver.log, 10,
               what="the timeout in the log")


def test_dimse_timeout_aborts_an_idle_association(receiver_factory):
    receiver = receiver_factory("-td", "2", *CLUSTER)
    sock = associate(receiver.port, CT_IMAGE)
    started = time.monotonic()
    assert _ends_with_abort_or_close(sock, within=10) == "abort"
    assert 1.5 < time.monotonic() - started < 6


def test_fifty_silent_peers_do_not_delay_a_store(receiver_factory, tmp_path):
    receiver = receiver_factory("-ta", "3", *CLUSTER)
    silent = [socket.create_connection(("127.0.0.1", receiver.port)) for _ in range(50)]
    for sock in silent[::2]:
        sock.send(b"\x01\x00")          # half of them start a PDU header and stall
    instance = make_instance(tmp_path / "ct.dcm")
    started = time.monotonic()
    result = storescu(receiver.port, [instance])
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 1.0, f"store took {elapsed:.2f} s behind 50 silent connections"

    def all_closed():
        for sock in silent:
            sock.settimeout(0.05)
            try:
                if sock.recv(1) == b"":
                    continue
            except TimeoutError:
                return False
            except OSError:
                continue
        return True

    wait_until(all_closed, 15, 0.2, "the silent peers to be closed")
    for sock in silent:
        sock.close()


def test_past_max_associations_the_supervisor_rejects_promptly(receiver_factory, tmp_path):
    receiver = receiver_factory("--max-associations", "2", *CLUSTER)
    held = [associate(receiver.port, CT_IMAGE) for _ in range(2)]
    sock = socket.create_connection(("127.0.0.1", receiver.port), timeout=10)
    started = time.monotonic()
    sock.sendall(associate_rq([(1, CT_IMAGE, ["1.2.840.10008.1.2.1"])]))
    kind, body = read_pdu(sock)
    assert kind == 0x03 and body[1:4] == bytes((2, 3, 2)), (kind, body)   # transient, provider, local limit
    assert time.monotonic() - started < 1.0
    sock.close()
    for held_sock in held:
        release(held_sock)
    wait_until(lambda: echo(receiver.port) == 0, 10, what="admission again once associations ended")


def test_at_max_associations_a_sender_that_released_is_admitted_again_at_once(receiver_factory):
    """Back-to-back associations (one per study, as modalities send) at the limit are never refused:
    the worker's word that the last one ended may still be queued when the next one arrives."""
    receiver = receiver_factory("--max-associations", "1", *CLUSTER)
    for _ in range(40):
        release(associate(receiver.port, CT_IMAGE))
    assert "--max-associations 1 reached" not in receiver.log


def test_load_32_associations_every_acknowledged_instance_on_disk_once(receiver_factory, tmp_path):
    receiver = receiver_factory(*CLUSTER)
    batches = [make_series(tmp_path / f"in{i}", 20, rows=32, columns=32) for i in range(32)]
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda files: storescu(receiver.port, files), batches))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode][:2]
    stored = stored_files(receiver.output)
    assert len(stored) == 640
    by_uid = {p.name.split(".", 1)[1]: p for p in stored}
    for files in batches:
        for sent_path in files:
            sent = sent_path.read_bytes()
            uid = pydicom.dcmread(sent_path, stop_before_pixels=True).SOPInstanceUID
            assert dataset_bytes(by_uid[uid].read_bytes()) == dataset_bytes(sent)
    assert hidden_files(receiver.output) == []


def test_sighup_reloads_the_profile_without_dropping_associations(receiver_factory, tmp_path):
    config = tmp_path / "profile.cfg"
    def write_profile(with_ct: bool):
        contexts = "PresentationContext1 = VerificationSOPClass\\Uncompressed\n"
        if with_ct:
            contexts += "PresentationContext2 = CTImageStorage\\Uncompressed\n"
        config.write_text("[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = LocalEndianExplicit\n"
                          "TransferSyntax2 = LittleEndianImplicit\n[[PresentationContexts]]\n[P]\n"
                          + contexts + "[[Profiles]]\n[Default]\nPresentationContexts = P\n")
    write_profile(with_ct=True)
    receiver = receiver_factory("-v", "--workers", "2", "-xf", str(config), "Default")
    instance = make_instance(tmp_path / "ct.dcm")
    in_flight = associate(receiver.port, CT_IMAGE)
    write_profile(with_ct=False)
    receiver.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: reloaded" in receiver.log, 10, what="the reload")
    # The association that was open before the reload goes on with the old profile...
    assert store(in_flight, CT_IMAGE, "1.2.3.4", dataset_bytes(instance.read_bytes())) == 0
    release(in_flight)
    # ...new ones get the new profile, on the same port.
    wait_until(lambda: "Association Rejected" in storescu(receiver.port, [instance]).stderr, 20,
               what="new associations to use the re-read profile")
    assert echo(receiver.port) == 0


def test_at_max_associations_a_held_connection_gets_the_place_that_frees(receiver_factory):
    """Not refused at once: a connection at the limit waits (supervisor/limitwait.py) and is
    admitted when the association holding the place releases within the grace."""
    receiver = receiver_factory("--max-associations", "1", *CLUSTER)
    holder = associate(receiver.port, CT_IMAGE)
    waiting = socket.create_connection(("127.0.0.1", receiver.port), timeout=10)
    waiting.sendall(associate_rq([(1, CT_IMAGE, ["1.2.840.10008.1.2.1"])]))
    assert select.select([waiting], [], [], 0.05)[0] == [], "answered at once: not held"
    release(holder)
    kind, _ = read_pdu(waiting)
    assert kind == 0x02
    release(waiting)
