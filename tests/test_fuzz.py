"""Time-bounded fuzzing of the input path: PDU framing, A-ASSOCIATE-RQ items, DIMSE command sets.

Decoders must either decode or raise their own error, never anything else;
and the live service, fed mutated PDUs, must keep serving (checked last).
"""

from __future__ import annotations

import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from instances import CT_IMAGE
from rawscu import VERIFICATION, associate_rq, p_data, store_command
from service import echo

from dcmrecv_cluster.workers import acse, dimse

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID_RQ = associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"]), (3, CT_IMAGE, ["1.2.840.10008.1.2.1"])])[6:]


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    mutable = bytearray(data)
    for position, value in flips:
        mutable[position % len(mutable)] = value
    return bytes(mutable[:cut] if cut is not None else mutable)


@FAST
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
       st.none() | st.integers(0, len(VALID_RQ)))
def test_associate_request_decoder_decodes_or_refuses(flips, cut):
    try:
        request = acse.decode_request(_mutate(VALID_RQ, flips, cut))
    except acse.MalformedRequest:
        return
    assert isinstance(request.contexts, list)


@FAST
@given(st.binary(max_size=600))
def test_associate_request_decoder_on_random_bytes(data):
    try:
        acse.decode_request(data)
    except acse.MalformedRequest:
        pass


VALID_COMMAND = store_command(CT_IMAGE, "1.2.3.4")


@FAST
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.none() | st.integers(0, len(VALID_COMMAND)))
def test_command_decoder_decodes_or_refuses(flips, cut):
    try:
        dimse.decode_command(_mutate(VALID_COMMAND, flips, cut))
    except dimse.CommandError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4), st.integers(0, 2))
def test_live_service_survives_mutated_pdus(live_receiver, flips, stage):
    """Mutations at three stages: the request, the command after a good request, the data after both."""
    request = associate_rq([(1, CT_IMAGE, ["1.2.840.10008.1.2.1"])])
    command = p_data(1, 0x03, store_command(CT_IMAGE, "1.2.3.4"))
    data = p_data(1, 0x02, bytes(64))
    parts = [request, command, data]
    parts[stage] = _mutate(parts[stage], flips, None)
    with socket.create_connection(("127.0.0.1", live_receiver.port), timeout=10) as sock:
        try:
            for part in parts:
                sock.sendall(part)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(10)
            while sock.recv(65536):
                pass
        except OSError:
            pass        # the service may abort or close at any point: that is an acceptable answer


def test_live_service_still_serves_after_fuzzing(live_receiver):
    test_live_service_survives_mutated_pdus(live_receiver)
    assert echo(live_receiver.port) == 0
    assert "internal error" not in live_receiver.log
