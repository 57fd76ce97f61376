"""The fixed-size PDUs of shared/ul.py, read back by pynetdicom's PDU decoders (an independent reader)."""

from __future__ import annotations

from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_RJ, A_RELEASE_RP

from dcmrecv_cluster.shared import ul
from dcmrecv_cluster.supervisor import rejector
from dcmrecv_cluster.workers import acse, pdu


def test_reject_pdu_reads_back() -> None:
    for result, source, reason in ((1, 1, 1), (2, 1, 2), (2, 3, 2), (1, 2, 2)):
        rj = A_ASSOCIATE_RJ()
        rj.decode(ul.reject_pdu(result, source, reason))
        assert (rj.result, rj.source, rj.reason_diagnostic) == (result, source, reason)


def test_limit_exceeded_is_transient_presentation_local_limit() -> None:
    rj = A_ASSOCIATE_RJ()
    rj.decode(rejector.LIMIT_EXCEEDED_RJ)
    assert (rj.result, rj.source, rj.reason_diagnostic) == (2, 3, 2)
    assert rj.reason_str == "Local limit exceeded"


def test_abort_and_release_read_back() -> None:
    abort = A_ABORT_RQ()
    abort.decode(ul.abort_pdu(ul.ABORT_SOURCE_PROVIDER, ul.ABORT_REASON_INVALID_PARAMETER))
    assert (abort.source, abort.reason_diagnostic) == (2, 6)
    release = A_RELEASE_RP()
    release.decode(ul.RELEASE_RP)
    assert release.pdu_length == 4


def test_workers_and_supervisor_share_the_encoders() -> None:
    """One encoder: the worker's names are the shared ones, not copies."""
    assert acse.encode_reject is ul.reject_pdu
    assert pdu.abort_pdu is ul.abort_pdu and pdu.PDU_HEADER is ul.PDU_HEADER and pdu.RELEASE_RP is ul.RELEASE_RP
    assert rejector.LIMIT_EXCEEDED_RJ is ul.LIMIT_EXCEEDED_RJ
