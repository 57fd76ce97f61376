"""A minimal blocking Storage SCU on a raw socket.

One `Association` per TCP connection: associate, send pre-encoded C-STOREs
(each a single sendall), read the C-STORE-RSP, release or abort. Errors are
raised as `AssociationFailure` with a short key used to count them.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass

from . import pdu
from .dimse import store_response


class AssociationFailure(Exception):
    """Anything that ends an association early; `key` groups them in reports."""

    def __init__(self, key: str, detail: str = ""):
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key


class Timeout(AssociationFailure):
    pass


@dataclass
class Target:
    host: str
    port: int
    called_aet: str = "ANY-SCP"
    calling_aet: str = "LOADTEST"
    ssl_context: ssl.SSLContext | None = None
    source_address: str | None = None
    connect_timeout: float = 30.0
    acse_timeout: float = 120.0
    dimse_timeout: float = 120.0
    max_pdu: int = 16384


class PduReader:
    """Reads whole PDUs off a socket, buffering what arrives ahead."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self, need: int, deadline: float | None, what: str, stop=None) -> None:
        while len(self.buf) < need:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"timeout: {what}")
                self.sock.settimeout(min(left, 0.5) if stop else left)
            try:
                chunk = self.sock.recv(max(65536, need - len(self.buf)))
            except (TimeoutError, BlockingIOError):
                # BlockingIOError: SO_RCVTIMEO expired on a blocking socket
                if deadline is None:
                    raise Timeout(f"timeout: {what}") from None
                if stop is not None and stop():
                    raise AssociationFailure("stopped") from None
                continue
            except ssl.SSLError as exc:
                raise AssociationFailure("connection: TLS error", str(exc)) from exc
            except OSError as exc:
                raise AssociationFailure(f"connection: {type(exc).__name__}", str(exc)) from exc
            if not chunk:
                raise AssociationFailure("connection: closed by peer")
            self.buf += chunk

    def read(self, timeout: float | None, what: str, stop=None) -> tuple[int, bytes]:
        """(PDU type, body) of the next PDU; timeout None: the socket's own timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._fill(6, deadline, what, stop)
        pdu_type, length = pdu.PDU_HEADER.unpack_from(self.buf, 0)
        self._fill(6 + length, deadline, what, stop)
        body = bytes(self.buf[6:6 + length])
        del self.buf[:6 + length]
        return pdu_type, body


def _set_os_timeouts(sock: socket.socket, seconds: float) -> None:
    """Blocking socket with kernel timeouts: no poll() before each send/recv."""
    sock.settimeout(None)
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _open(target: Target) -> socket.socket:
    source = (target.source_address, 0) if target.source_address else None
    try:
        sock = socket.create_connection((target.host, target.port),
                                        timeout=target.connect_timeout,
                                        source_address=source)
    except TimeoutError as exc:
        raise Timeout("timeout: connect") from exc
    except OSError as exc:
        raise AssociationFailure(f"connect: {type(exc).__name__}", str(exc)) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if target.ssl_context is not None:
        try:
            sock = target.ssl_context.wrap_socket(sock, server_hostname=target.host)
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise AssociationFailure("connection: TLS handshake failed", str(exc)) from exc
    return sock


class Association:
    """An accepted association; `contexts` maps context id -> accepted transfer syntax."""

    def __init__(self, target: Target, proposed: list[tuple[int, str, list[str]]],
                 stop=None):
        self.target = target
        self.sock = _open(target)
        self.reader = PduReader(self.sock)
        self.closed = False
        try:
            self.sock.settimeout(target.acse_timeout)
            self.sock.sendall(pdu.encode_associate_rq(
                target.called_aet, target.calling_aet, proposed, target.max_pdu))
            pdu_type, body = self.reader.read(target.acse_timeout, "A-ASSOCIATE-AC", stop)
        except AssociationFailure:
            self._close()
            raise
        except OSError as exc:
            self._close()
            raise AssociationFailure(f"connection: {type(exc).__name__}", str(exc)) from exc
        if pdu_type == pdu.A_ASSOCIATE_RJ:
            self._close()
            raise AssociationFailure(pdu.describe_reject(*pdu.parse_reject(body)))
        if pdu_type == pdu.A_ABORT:
            self._close()
            raise AssociationFailure(pdu.describe_abort(*pdu.parse_abort(body)))
        if pdu_type != pdu.A_ASSOCIATE_AC:
            self.abort()
            raise AssociationFailure(f"protocol: unexpected PDU 0x{pdu_type:02X} instead of AC")
        ac = pdu.parse_associate_ac(body)
        self.peer_max_pdu = ac.max_pdu
        self.contexts = {ctx: ts for ctx, (result, ts) in ac.contexts.items() if result == 0}
        self.refused = {ctx: result for ctx, (result, _ts) in ac.contexts.items() if result != 0}
        # fragment size: the peer's max P-DATA-TF variable field minus the PDV header
        peer = ac.max_pdu if ac.max_pdu else 1 << 22
        self.max_fragment = max(peer - pdu.PDV_HEADER.size, 64)
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock.settimeout(target.dimse_timeout)
        else:
            _set_os_timeouts(self.sock, target.dimse_timeout)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def _peer_pdu_after_error(self) -> str | None:
        """After a failed send: did the peer tell us why (A-ABORT) before closing?"""
        try:
            pdu_type, body = self.reader.read(0.2, "A-ABORT")
        except AssociationFailure:
            return None
        if pdu_type == pdu.A_ABORT:
            return pdu.describe_abort(*pdu.parse_abort(body))
        return None

    def store(self, buf: bytearray, message_id: int) -> int:
        """Send one pre-encoded C-STORE and return the response status."""
        try:
            self.sock.sendall(buf)
        except (TimeoutError, BlockingIOError) as exc:
            self._close()
            raise Timeout("timeout: sending data set") from exc
        except OSError as exc:
            key = self._peer_pdu_after_error() or f"connection: {type(exc).__name__}"
            self._close()
            raise AssociationFailure(key, str(exc)) from exc
        command = bytearray()
        while True:
            try:
                pdu_type, body = self.reader.read(None, "C-STORE-RSP")
            except AssociationFailure:
                self._close()
                raise
            if pdu_type == pdu.P_DATA_TF:
                done = False
                for _ctx, control, fragment in pdu.iter_pdvs(body):
                    if control & 0x01:
                        command += fragment
                        done = done or bool(control & 0x02)
                if done:
                    break
            elif pdu_type == pdu.A_ABORT:
                self._close()
                raise AssociationFailure(pdu.describe_abort(*pdu.parse_abort(body)))
            else:
                self.abort()
                raise AssociationFailure(f"protocol: unexpected PDU 0x{pdu_type:02X}")
        try:
            responded, status = store_response(command)
        except ValueError as exc:
            self.abort()
            raise AssociationFailure("protocol: bad C-STORE-RSP", str(exc)) from exc
        if responded != message_id:
            self.abort()
            raise AssociationFailure("protocol: response to another MessageID")
        return status

    def release(self) -> None:
        """A-RELEASE-RQ, wait for the RP, close. Failures are raised."""
        try:
            self.sock.sendall(pdu.RELEASE_RQ)
            while True:
                pdu_type, body = self.reader.read(self.target.acse_timeout, "A-RELEASE-RP")
                if pdu_type == pdu.A_RELEASE_RP:
                    return
                if pdu_type == pdu.A_ABORT:
                    raise AssociationFailure(pdu.describe_abort(*pdu.parse_abort(body)))
                if pdu_type == pdu.A_RELEASE_RQ:  # release collision: answer it
                    self.sock.sendall(pdu.RELEASE_RP)
                    return
        except OSError as exc:
            raise AssociationFailure(f"connection: {type(exc).__name__}", str(exc)) from exc
        finally:
            self._close()

    def abort(self) -> None:
        try:
            self.sock.sendall(pdu.ABORT)
        except OSError:
            pass
        self._close()
