"""A data set streamed PDU after PDU, many of them in one receive: the worker's fast path.

The worker takes whole P-DATA-TFs that are middle fragments of a data set in one loop
(workers/association.py _stream_now) and leaves anything else to the checked path. These
send a large instance's PDUs in one write, so that a receive holds many of them, and
check that the file is the data set byte for byte, and that a bad PDU in the middle of
the stream is caught there as it is elsewhere: an A-ABORT, nothing stored, nothing left.
"""

from __future__ import annotations

import pytest

from .support.instances import CT_IMAGE, make_instance
from .support.rawscu import associate, dataset_bytes, p_data, read_pdu, release, response_status, store_command
from .support.service import echo, hidden_files, stored_files
from .support.tools import STORESCP_CFG

CLUSTER = ("--workers", "1", "-xf", STORESCP_CFG, "Default")
UID = "1.2.826.0.1.3680043.2.1143.777.1"
FRAGMENT = 16372          # what DCMTK's storescu puts in each PDU at dcmrecv's default -pdu 16384


def _pdus(dataset: bytes, spoil=None) -> list[bytes]:
    """The data set as P-DATA-TFs of one PDV each; ``spoil(index, pdu)`` may replace one."""
    pieces = [dataset[offset:offset + FRAGMENT] for offset in range(0, len(dataset), FRAGMENT)]
    pdus = [p_data(1, 0x02 if n == len(pieces) - 1 else 0x00, piece) for n, piece in enumerate(pieces)]
    if spoil is not None:
        middle = len(pdus) // 2
        pdus[middle] = spoil(pdus[middle])
    return pdus


@pytest.fixture()
def large_dataset(tmp_path) -> bytes:
    source = make_instance(tmp_path / "big.dcm", rows=512, columns=512, instance_uid=UID)   # ~512 KiB
    return dataset_bytes(source.read_bytes())


def test_a_streamed_data_set_is_stored_byte_for_byte(receiver_factory, large_dataset):
    receiver = receiver_factory(*CLUSTER)
    sock = associate(receiver.port, CT_IMAGE)
    for _ in range(3):      # the next store starts right behind the previous response
        sock.sendall(p_data(1, 0x03, store_command(CT_IMAGE, UID)) + b"".join(_pdus(large_dataset)))
        kind, body = read_pdu(sock)
        assert kind == 0x04 and response_status(body) == 0x0000
    release(sock)
    (stored,) = stored_files(receiver.output)
    assert dataset_bytes(stored.read_bytes()) == large_dataset


def _odd_length(pdu: bytes) -> bytes:
    return p_data(1, 0x00, pdu[12:-1])


def _other_context(pdu: bytes) -> bytes:
    return p_data(3, 0x00, pdu[12:])


def _too_long(pdu: bytes) -> bytes:
    return p_data(1, 0x00, pdu[12:] * 2)


def _command_in_the_data(pdu: bytes) -> bytes:
    return p_data(1, 0x01, pdu[12:])


@pytest.mark.parametrize("spoil", [_odd_length, _other_context, _too_long, _command_in_the_data],
                         ids=["odd-length", "unaccepted-context", "longer-than-max-pdu", "command-flag"])
def test_a_bad_pdu_in_the_middle_of_a_stream_aborts_and_leaves_nothing(receiver_factory, large_dataset, spoil):
    receiver = receiver_factory(*CLUSTER)
    sock = associate(receiver.port, CT_IMAGE)
    sock.sendall(p_data(1, 0x03, store_command(CT_IMAGE, UID)) + b"".join(_pdus(large_dataset, spoil)))
    sock.settimeout(10)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    sock.close()
    assert received[:1] == b"\x07", f"no A-ABORT: {received[:16]!r}"
    assert stored_files(receiver.output) == [] and hidden_files(receiver.output) == []
    assert echo(receiver.port) == 0
