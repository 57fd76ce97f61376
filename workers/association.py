"""One association, from the A-ASSOCIATE-RQ to the release, as a generator the worker's reactor drives.

The code reads top to bottom like blocking code: ``yield from`` marks every
place that waits for the peer (always with a deadline), ``yield Commit`` hands
a finished store to the group commit (sync, rename), and ``yield Offload``
runs what may block for long in a thread (the TLS handshake, a host lookup).
The P-DATA path streams each PDV straight into the instance's
temp file. Negotiation follows the loaded profile with dcmrecv's rules;
everything a peer can get wrong ends in an A-ABORT or a close, never in a
hang or an unbounded read.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

from dcmrecv_cluster.workers import access, acse, dimse, pcdump, pdu, tls
from dcmrecv_cluster.workers.link import SupervisorLink
from dcmrecv_cluster.workers.storage import InstanceWriter, Namer, NamingFailure, StorageSettings, UndecodableDataset

MAX_REQUEST_PDU = 1 << 20      # an A-ASSOCIATE-RQ larger than this is hostile
MAX_COMMAND_SET = 1 << 16      # command sets are a few hundred bytes
IDLE_TIMEOUT = 60              # dcmrecv's socket timeout when -td is not given
PDU_LENGTH_SLACK = 16          # tolerance for senders that count PDV headers differently


@dataclass
class AssociationSettings:
    """What every association of this worker shares, built once."""

    negotiator: Any         # workers.negotiation.Negotiator
    max_pdu: int
    acse_timeout: float
    dimse_timeout: float | None
    host_lookup: bool
    verbose_pc: bool
    implementation_class_uid: str
    implementation_version_name: str
    storage: StorageSettings
    tls_context: Any = None
    odd_pdu_warning: str | None = None   # dcmrecv warns at every association wait
    access: Any = None                   # shared.access.AccessPolicy: --calling-aets, --require-called-aet


class AbortAssociation(Exception):
    def __init__(self, source: int, reason: int, message: str = "", level: str = "E") -> None:
        super().__init__(message)
        self.source, self.reason, self.level = source, reason, level


class Association:
    def __init__(self, sock: socket.socket, peer: tuple[str, int], settings: AssociationSettings,
                 link: SupervisorLink, namer: Namer) -> None:
        self.sock = sock
        self.peer = peer
        self.settings = settings
        self.link = link
        self.namer = namer
        self.reader: pdu.SocketReader | None = None
        self.accepted: dict[int, str] = {}
        self.calling_ae_title = ""
        self.called_ae_title = ""
        self.command = bytearray()
        self.command_context = 0
        self.writer: InstanceWriter | None = None
        self.pending: dimse.Command | None = None
        self.pending_context = 0
        self.command_time = 0.0
        self.info = link.enabled("I")     # per-instance lines are not even formatted below that level
        # Called once the association is over but before the peer hears so (A-RELEASE-RP), so
        # that a sender that connects again at once is counted as gone (--max-associations).
        self.on_over = None

    # ---- lifecycle ----------------------------------------------------------
    def run(self):
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.settings.tls_context is not None:
                yield from self._handshake()
            self.reader = pdu.SocketReader(self.sock)
            self.reader.before_wait = self._flush_instance
            if (yield from self._associate()):
                yield from self._serve()
        except (pdu.PeerClosed, pdu.DeadlineExpired, OSError) as exc:
            self.link.log("D", f"connection to {self.peer[0]} ended: {exc or type(exc).__name__}")
        finally:
            self._discard_instance()
            try:
                self.sock.close()
            except OSError:
                pass

    def _handshake(self):
        plain = self.sock
        plain.setblocking(True)
        self.sock = yield pdu.Offload(
            lambda: tls.handshake(plain, self.settings.tls_context, self.settings.acse_timeout, self.link.log))
        self.sock.setblocking(False)
        if self.link.enabled("I"):
            subject = tls.describe_peer(self.sock)
            if subject:
                self.link.log("I", f"TLS peer certificate subject: {subject}")

    def _flush_instance(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def _discard_instance(self) -> None:
        if self.writer is not None:
            self.writer.discard()
            self.writer = None

    def _send(self, data: bytes):
        yield from pdu.send_all(self.sock, data, time.monotonic() + IDLE_TIMEOUT)

    def _abort(self, source: int, reason: int):
        try:
            yield from self._send(pdu.abort_pdu(source, reason))
        except (OSError, pdu.PeerClosed, pdu.DeadlineExpired):
            pass

    # ---- association establishment -----------------------------------------
    def _associate(self):
        deadline = time.monotonic() + self.settings.acse_timeout
        if self.settings.odd_pdu_warning:
            self.link.log("W", self.settings.odd_pdu_warning)
        try:
            pdu_type, length = pdu.PDU_HEADER.unpack((yield from self.reader.read_exact(6, deadline)))
            if pdu_type != pdu.A_ASSOCIATE_RQ:
                self.link.log("E", f"Could not receive association request: unexpected PDU type 0x{pdu_type:02x}")
                yield from self._abort(pdu.SOURCE_PROVIDER,
                                       pdu.REASON_UNEXPECTED_PDU if pdu_type <= 7 else pdu.REASON_UNRECOGNIZED_PDU)
                return False
            if length > MAX_REQUEST_PDU:
                self.link.log("E", f"Could not receive association request: PDU length {length} exceeds the limit")
                yield from self._abort(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER)
                return False
            body = yield from self._read_body(length, deadline)
        except pdu.DeadlineExpired:
            self.link.log("E", "Could not receive association request: DUL network read timeout")
            return False
        except pdu.PeerClosed:
            self.link.log("E", "Could not receive association request: DUL network closed")
            return False
        try:
            request = acse.decode_request(body)
        except acse.MalformedRequest as exc:
            self.link.log("E", f"Could not receive association request: {exc}")
            yield from self._abort(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER)
            return False
        self.calling_ae_title = request.calling_ae_title
        self.called_ae_title = request.called_ae_title
        settings = self.settings
        for level, text in request.warnings:
            self.link.log(level, text)
        host = yield from self._host()
        self.link.log("I", f"Association Received {host}: {request.calling_ae_title} -> {request.called_ae_title}")
        if settings.verbose_pc:
            self.link.log("I", pcdump.describe_request(request, settings))
        if settings.access is not None and (yield from access.refuse(self, request)):
            return False
        if request.application_context != acse.APPLICATION_CONTEXT:
            self.link.log("I", "Refusing Association (bad application context)")
            yield from self._send(acse.encode_reject(2, 1, 2))
            self.link.rejected("application-context", self.peer[0])
            return False
        answer = settings.negotiator.answer(request)
        for level, text in answer.log_lines:
            self.link.log(level, text)
        self.accepted = answer.accepted
        if not self.accepted:
            self.link.log("I", "No Acceptable Presentation Contexts")
            if settings.verbose_pc:
                self.link.log("I", pcdump.describe_answer(request, answer, settings, accepted=False))
            self.link.log("I", "Refusing Association (no acceptable presentation contexts)")
            yield from self._send(acse.encode_reject(1, 1, 1))
            self.link.rejected("no-acceptable-context", self.peer[0])
            return False
        yield from self._send(acse.encode_accept(
            request, answer.results, settings.max_pdu,
            settings.implementation_class_uid, settings.implementation_version_name,
            roles=answer.roles, extended_negotiation=answer.extended_negotiation,
        ))
        self.link.log("I", f"Association Acknowledged (Max Send PDV: {acse.max_send_pdv(request.max_pdu_length)})")
        if settings.verbose_pc:
            self.link.log("I", pcdump.describe_answer(request, answer, settings, accepted=True))
        return True

    def _read_body(self, length: int, deadline: float):
        parts = []
        while length:
            chunk = yield from self.reader.take(length, deadline)
            parts.append(bytes(chunk))
            length -= len(chunk)
        return b"".join(parts)

    def _host(self):
        """dcmrecv's calling presentation address: the first label of the reverse lookup (off with -dhl)."""
        address = self.peer[0]
        if not self.settings.host_lookup:
            return address
        return (yield pdu.Offload(lambda: _first_label_of(address)))

    # ---- established association ---------------------------------------------
    def _serve(self):
        while True:
            deadline = None
            timeout = self.settings.dimse_timeout or IDLE_TIMEOUT
            deadline = time.monotonic() + timeout
            try:
                if self.writer is not None:
                    self._stream_now()
                header = self.reader.try_unpack(pdu.PDU_HEADER)
                if header is None:
                    header = pdu.PDU_HEADER.unpack((yield from self.reader.read_exact(6, deadline)))
                pdu_type, length = header
                if pdu_type == pdu.P_DATA_TF:
                    if length > self.settings.max_pdu + PDU_LENGTH_SLACK:
                        raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER,
                                               f"P-DATA-TF of {length} bytes exceeds the negotiated maximum "
                                               f"{self.settings.max_pdu}, aborting association")
                    remaining = self._middle_fragments_now(length)
                    if remaining:
                        yield from self._receive_p_data(remaining, timeout)
                elif pdu_type == pdu.A_RELEASE_RQ:
                    yield from self.reader.discard(length, deadline)
                    self.link.log("I", "Received Association Release Request")
                    self._discard_instance()
                    if self.on_over is not None:
                        self.on_over()
                    yield from self._send(pdu.RELEASE_RP)
                    return
                elif pdu_type == pdu.A_ABORT:
                    self.link.log("I", "Received Association Abort Request")
                    return
                else:
                    raise AbortAssociation(pdu.SOURCE_PROVIDER,
                                           pdu.REASON_UNEXPECTED_PDU if pdu_type <= 7 else pdu.REASON_UNRECOGNIZED_PDU,
                                           f"unexpected PDU type 0x{pdu_type:02x}, aborting association")
            except AbortAssociation as exc:
                if str(exc):
                    self.link.log(exc.level, str(exc))
                self._discard_instance()      # nothing of an aborted association stays behind
                yield from self._abort(exc.source, exc.reason)
                return
            except pdu.DeadlineExpired:
                if self.settings.dimse_timeout:
                    self.link.log("D", "DIMSE Error, detail (if available): 0006:0207 DIMSE No data available "
                                       "(timeout in non-blocking mode)")
                    yield from self._abort(pdu.SOURCE_USER, 0)
                else:
                    self.link.log("I", "Received Association Abort Request")
                return
            except pdu.PeerClosed:
                self.link.log("I", "Received Association Abort Request")
                return

    def _stream_now(self) -> None:
        """Whole P-DATA-TFs already received, each one PDV that is a middle fragment of the data set.

        What a sender streaming a large data set sends, PDU after PDU: taken in one loop and
        handed to the writer at once. Stops, leaving it unread, at the first PDU that is
        anything else, not all here, or not valid; _serve then handles and checks it.
        """
        reader, writer = self.reader, self.writer
        buffer, view = reader.buffer, reader.view
        start, end = reader.start, reader.end
        context, limit = self.pending_context, self.settings.max_pdu + PDU_LENGTH_SLACK
        unpack = pdu.PDU_PDV_HEADER.unpack_from
        views, count = [], 0
        while end - start >= 12:
            pdu_type, length, pdv_length, context_id, control = unpack(buffer, start)
            if (pdu_type != pdu.P_DATA_TF or length > limit or pdv_length + 4 != length or control
                    or context_id != context or pdv_length <= 2 or pdv_length & 1 or end - start < 6 + length):
                break
            views.append(view[start + 12 : start + 6 + length])
            count += pdv_length - 2
            start += 6 + length
        if views:
            reader.start = start
            writer.write_views(views, count)

    def _middle_fragments_now(self, length: int) -> int:
        """Write the PDVs of this P-DATA-TF that are whole middle fragments of the data set, already received.

        The common case, a large data set streaming in, without a generator per PDU. Stops at
        the first PDV that is anything else (or not all here) and leaves it, unread, to
        _receive_p_data, which checks and handles everything; returns the bytes left in the PDU.
        """
        writer, reader = self.writer, self.reader
        if writer is None:
            return length
        context = self.pending_context
        while length >= 6:
            header = reader.peek(pdu.PDV_HEADER)
            if header is None:
                break
            pdv_length, context_id, control = header
            payload = pdv_length - 2
            if (control or context_id != context or pdv_length <= 2 or pdv_length + 4 > length or payload % 2
                    or reader.available < 6 + payload):
                break
            reader.start += 6
            writer.write(reader.take_now(payload))
            length -= pdv_length + 4
        return length

    def _receive_p_data(self, length: int, timeout: float):
        reader = self.reader
        remaining = length
        while remaining > 0:
            remaining = self._middle_fragments_now(remaining)
            if remaining == 0:
                break
            if remaining < 6:
                raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER, "invalid PDV in P-DATA-TF")
            header = reader.try_unpack(pdu.PDV_HEADER)
            if header is None:
                header = pdu.PDV_HEADER.unpack((yield from reader.read_exact(6, time.monotonic() + timeout)))
            pdv_length, context_id, control = header
            if pdv_length < 2 or pdv_length + 4 > remaining:
                raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER,
                                       "invalid PDV length in P-DATA-TF")
            remaining -= pdv_length + 4
            if context_id not in self.accepted:
                raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER,
                                       f"DIMSE: presentation context {context_id} was not accepted, aborting")
            payload = pdv_length - 2
            deadline = time.monotonic() + timeout
            if control & 0x01:
                yield from self._command_fragment(context_id, control, payload, deadline)
            else:
                yield from self._dataset_fragment(context_id, control, payload, timeout)

    def _command_fragment(self, context_id: int, control: int, payload: int, deadline: float):
        if self.writer is not None:
            raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER,
                                   "DIMSE: command received while a data set was expected, aborting")
        if len(self.command) + payload > MAX_COMMAND_SET:
            raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER,
                                   "DIMSE: command set too large, aborting")
        if not self.command:
            self.command_context = context_id
        if payload:
            self.command += yield from self.reader.read_exact(payload, deadline)
        if control & 0x02:
            data, self.command = bytes(self.command), bytearray()
            yield from self._handle_command(data)

    def _handle_command(self, data: bytes):
        try:
            command = dimse.decode_command(data)
        except dimse.CommandError as exc:
            raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER,
                                   f"DIMSE: {exc}, aborting") from exc
        context_id = self.command_context
        if command.command_field == dimse.C_ECHO_RQ:
            self.link.log("I", f"Received C-ECHO Request (MsgID {command.message_id})")
            self.link.log("I", "Sending C-ECHO Response (Success)")
            yield from self._send(pdu.p_data_pdu(context_id, 0x03, dimse.echo_response(command)))
            return
        if command.command_field != dimse.C_STORE_RQ:
            raise AbortAssociation(pdu.SOURCE_USER, 0,
                                   f"cannot handle this kind of DIMSE command (0x{command.command_field:04x}), "
                                   "we are a Storage SCP only")
        if not command.has_dataset:
            raise AbortAssociation(pdu.SOURCE_USER, 0, "Received C-STORE request but no dataset announced, aborting")
        if self.info:
            self.link.log("I", f"Received C-STORE Request (MsgID {command.message_id})")
        try:
            self.writer = InstanceWriter(self.settings.storage, command, self.accepted[context_id],
                                         self.calling_ae_title, self.namer, self.link.log)
        except NamingFailure as exc:
            raise AbortAssociation(pdu.SOURCE_USER, 0) from exc
        self.pending = command
        self.pending_context = context_id
        self.command_time = time.monotonic()

    def _dataset_fragment(self, context_id: int, control: int, payload: int, timeout: float):
        writer = self.writer
        if writer is None:
            raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_UNEXPECTED_PDU,
                                   "DIMSE: data set without a command, aborting")
        if context_id != self.pending_context:
            raise AbortAssociation(pdu.SOURCE_PROVIDER, pdu.REASON_INVALID_PARAMETER,
                                   "DIMSE: Presentation Contexts of Command and Data Set differ")
        if payload % 2:
            # dcmrecv: "DIMSE: Odd Fragment Length", no response, A-ABORT (verified)
            raise AbortAssociation(pdu.SOURCE_USER, 0, f"Unable to receive dataset on presentation context "
                                   f"{context_id}: DIMSE: Odd Fragment Length: {payload}")
        reader = self.reader
        while payload:
            chunk = reader.take_now(payload)
            if chunk is None:
                chunk = yield from reader.take(payload, time.monotonic() + timeout)
            writer.write(chunk)
            payload -= len(chunk)
        if control & 0x02:
            self.writer = None
            try:
                outcome = writer.complete()
                if outcome is None:
                    outcome = yield pdu.Commit(writer)
            except UndecodableDataset as exc:
                # dcmrecv's parser fails: no C-STORE-RSP, the association is aborted (verified)
                raise AbortAssociation(pdu.SOURCE_USER, 0, "Unable to receive C-STORE dataset on presentation "
                                                           f"context {context_id}") from exc
            except BaseException:
                writer.discard()
                raise
            if self.info:
                self.link.log("I", f"Sending C-STORE Response ({dimse.status_text(outcome.status)})")
            yield from self._send(pdu.p_data_pdu(context_id, 0x03, dimse.store_response(self.pending, outcome.status)))
            if self.link.reports:
                self._report(outcome, context_id, writer)
            self.pending = None

    def _report(self, outcome, context_id: int, writer: InstanceWriter) -> None:
        """One record per C-STORE, after its response: what metrics and the event stream are made of."""
        request = self.pending
        self.link.store_event(
            status=outcome.status, path=outcome.path, bytes=outcome.size,
            sop_class_uid=request.affected_sop_class_uid, sop_instance_uid=request.affected_sop_instance_uid,
            calling_ae_title=self.calling_ae_title, called_ae_title=self.called_ae_title, peer=self.peer[0],
            transfer_syntax=self.accepted[context_id],
            latency=time.monotonic() - self.command_time, time=time.time(), **writer.event_facts())


def _first_label_of(address: str) -> str:
    try:
        return socket.gethostbyaddr(address)[0].split(".")[0]
    except OSError:
        return address
