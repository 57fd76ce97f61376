"""DICOM Upper Layer protocol numbers and the fixed-size PDUs (PS3.8 section 9.3).

One home for what the workers (A-ASSOCIATE-AC/RJ, A-ABORT, A-RELEASE-RP) and the supervisor
(the A-ASSOCIATE-RJ it sends past --max-associations) both put on the wire, so the two cannot
drift apart.  The load driver keeps its own copy: it imports nothing of the server's.
"""

from __future__ import annotations

import struct

# PDU types (PS3.8 table 9-1 and section 9.3.1).
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

PDU_HEADER = struct.Struct(">BxL")  # PDU type, reserved, PDU length (PS3.8 9.3.1)
ITEM_HEADER = struct.Struct(">BxH")  # item type, reserved, item length (PS3.8 9.3.2.1)
PDV_HEADER = struct.Struct(">LBB")  # PDV length, presentation context ID, message control header (PS3.8 9.3.5.1)
PDU_PDV_HEADER = struct.Struct(">BxLLBB")  # both at once: a P-DATA-TF and its first PDV

# Presentation context results of an A-ASSOCIATE-AC (PS3.8 table 9-18; DCMTK T_ASC_P_ResultReason).
ACCEPTANCE = 0
USER_REJECTION = 1
NO_REASON = 2
ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
TRANSFER_SYNTAXES_NOT_SUPPORTED = 4

# A-ASSOCIATE-RJ result, source and reason (PS3.8 section 9.3.4, table 9-21).
REJECTED_PERMANENT = 1
REJECTED_TRANSIENT = 2
RJ_SOURCE_SERVICE_USER = 1
RJ_SOURCE_PROVIDER_ACSE = 2
RJ_SOURCE_PROVIDER_PRESENTATION = 3
RJ_USER_NO_REASON = 1  # source 1
RJ_USER_APPLICATION_CONTEXT_NOT_SUPPORTED = 2  # source 1
RJ_PRESENTATION_TEMPORARY_CONGESTION = 1  # source 3
RJ_PRESENTATION_LOCAL_LIMIT_EXCEEDED = 2  # source 3

# A-ABORT source and provider reasons (PS3.8 section 9.3.8, table 9-26).
ABORT_SOURCE_USER = 0
ABORT_SOURCE_PROVIDER = 2
ABORT_REASON_NOT_SPECIFIED = 0
ABORT_REASON_UNRECOGNIZED_PDU = 1
ABORT_REASON_UNEXPECTED_PDU = 2
ABORT_REASON_INVALID_PARAMETER = 6


def reject_pdu(result: int, source: int, reason: int) -> bytes:
    """An A-ASSOCIATE-RJ PDU (PS3.8 9.3.4): header, one reserved byte, result, source, reason."""
    return PDU_HEADER.pack(A_ASSOCIATE_RJ, 4) + bytes((0, result, source, reason))


def abort_pdu(source: int, reason: int) -> bytes:
    """An A-ABORT PDU (PS3.8 9.3.8): header, two reserved bytes, source, reason."""
    return PDU_HEADER.pack(A_ABORT, 4) + bytes((0, 0, source, reason))


RELEASE_RP = PDU_HEADER.pack(A_RELEASE_RP, 4) + bytes(4)

# What the supervisor answers past --max-associations: transient, presentation related, local limit.
LIMIT_EXCEEDED_RJ = reject_pdu(
    REJECTED_TRANSIENT, RJ_SOURCE_PROVIDER_PRESENTATION, RJ_PRESENTATION_LOCAL_LIMIT_EXCEEDED
)
# ... and below --min-free-space: transient, presentation related, temporary congestion.
CONGESTION_RJ = reject_pdu(REJECTED_TRANSIENT, RJ_SOURCE_PROVIDER_PRESENTATION, RJ_PRESENTATION_TEMPORARY_CONGESTION)
