"""Time-bounded fuzzing of the input path: PDU framing, A-ASSOCIATE-RQ items, DIMSE command sets.

Decoders must either decode or raise their own error, never anything else;
and the live service, fed mutated PDUs, must keep serving (checked after each case).
"""

from __future__ import annotations

import re
import socket
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcmrecv_cluster.workers import acse, dimse

from .support.instances import CT_IMAGE
from .support.rawscu import VERIFICATION, associate_rq, p_data, store_command
from .support.service import echo

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


#: What the service logs when a connection crashed its code or a worker: neither may follow any input.
BROKEN = re.compile(r"internal error|worker \d+ \(pid \d+\) (killed by signal|exited with code)")


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    """Read until the service closes (or resets) the connection; False if it is still open after ``within`` s."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True     # reset: an abort without A-ABORT is a close too
    return False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4), st.integers(0, 2))
def test_live_service_survives_mutated_pdus(live_receiver, flips, stage):
    """Mutations at three stages: the request, the command after a good request, the data after both.

    Whatever the service answers, it must end the connection once we stop sending, and then still be
    running, answer a C-ECHO with success and have logged no internal error and no worker death.
    """
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
        except OSError:
            pass        # the service may abort or close at any point: that is an acceptable answer
        # -ta 3 / -td 3: an association left waiting ends well within the limit.
        assert _closed_by_peer(sock, within=30), "the service kept the connection open after our end of input"
    assert live_receiver.process.poll() is None, live_receiver.log
    assert echo(live_receiver.port) == 0, "the service no longer answers C-ECHO with success"
    assert not BROKEN.search(live_receiver.log), live_receiver.log
