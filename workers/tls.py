"""The TLS handshake of one adopted connection, in the worker that owns it, under the -ta deadline.

Why here: the supervisor only accepts TCP, so a client that never sends a
ClientHello (or drips it byte by byte) blocks nobody but its own thread, and
the deadline bounds the whole handshake, not each read of it. dcmrecv runs
the handshake inside its serial accept loop, bounded only by its 60 s socket
timeout; the messages are dcmrecv's.
"""

from __future__ import annotations

import select
import socket
import ssl
import time

from dcmrecv_cluster.workers import pdu

# What dcmrecv logs when the handshake reads time out (no "TLS error:" prefix there).
TIMEOUT_TEXT = "TLS read operation did not complete (SSL_ERROR_WANT_READ)"

# Keep draining records while at least this much room is left in the caller's buffer.
_DRAIN_MIN_ROOM = 4096


class BatchingSSLSocket(ssl.SSLSocket):
    """An SSLSocket whose ``recv_into`` returns every TLS record already received, not one.

    Why: ``SSL_read`` yields at most one record (16 KiB), so the PDU reader
    would go round its fill loop (timeout set-up, Python calls) once per
    record, and a PDU that straddles two records would reach the file in two
    writes. Draining what is already there costs ~10-15 % less CPU on the
    receive path (measured). After the first, possibly waiting, read the
    socket is non-blocking for the drain and then restored, so the caller's
    deadline semantics are unchanged.
    """

    def recv_into(self, buffer, nbytes=None, flags=0):
        got = super().recv_into(buffer, nbytes, flags)
        if got <= 0:
            return got
        with memoryview(buffer).cast("B") as view:
            want = nbytes or view.nbytes
            if want - got < _DRAIN_MIN_ROOM:
                return got
            timeout = self.gettimeout()
            self.settimeout(0.0)
            try:
                while want - got >= _DRAIN_MIN_ROOM:
                    more = self._sslobj.read(want - got, view[got:want])
                    if more <= 0:
                        break
                    got += more
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            except OSError:
                pass  # reported by the next read, once the bytes in hand are consumed
            finally:
                self.settimeout(timeout)
        return got


def handshake(sock: socket.socket, context: ssl.SSLContext, timeout: float, log) -> ssl.SSLSocket:
    """Wrap ``sock`` and complete the server handshake within ``timeout`` seconds.

    Returns the blocking SSLSocket (its reads are bounded by the PDU reader's
    deadlines). On failure the connection is closed, dcmrecv's
    ``E: Could not receive association request: ...`` line is logged and
    :class:`pdu.PeerClosed` is raised.
    """
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    if context.sslsocket_class is not BatchingSSLSocket:
        context.sslsocket_class = BatchingSSLSocket
    try:
        tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    except (OSError, ValueError) as exc:
        _fail(sock, log, _reason(exc), exc)
    try:
        _drive(tls, deadline)
    except pdu.DeadlineExpired as exc:
        _fail(tls, log, TIMEOUT_TEXT, exc)
    except (OSError, ValueError) as exc:
        _fail(tls, log, f"TLS error: {_reason(exc)}", exc)
    tls.setblocking(True)
    if _wants(log, "D"):
        from dcmrecv_cluster.shared.tlscontext import connection_details_lines

        for line in connection_details_lines(tls):
            log("D", line)
    return tls


def _drive(tls: ssl.SSLSocket, deadline: float) -> None:
    """Non-blocking ``do_handshake`` steps, waiting with poll() (no FD_SETSIZE limit) in between."""
    poller = select.poll()
    fd = tls.fileno()
    while True:
        try:
            tls.do_handshake()
            return
        except ssl.SSLWantReadError:
            events = select.POLLIN
        except ssl.SSLWantWriteError:
            events = select.POLLOUT
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise pdu.DeadlineExpired()
        poller.register(fd, events)
        ready = poller.poll(remaining * 1000.0)
        poller.unregister(fd)
        if not ready:
            raise pdu.DeadlineExpired()


def _reason(exc: BaseException) -> str:
    """OpenSSL's reason string as DCMTK prints it: Python's ``CERTIFICATE_VERIFY_FAILED`` ->
    ``certificate verify failed`` (``ERR_reason_error_string`` is the lower-case form)."""
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _fail(sock: socket.socket, log, text: str, cause: BaseException):
    log("E", f"Could not receive association request: {text}")
    try:
        sock.close()
    except OSError:
        pass
    raise pdu.PeerClosed("TLS handshake failed") from cause


def _wants(log, letter: str) -> bool:
    """Whether ``log`` (a SupervisorLink.log) keeps ``letter`` lines; true for plain callables."""
    owner = getattr(log, "__self__", None)
    enabled = getattr(owner, "enabled", None)
    return enabled(letter) if callable(enabled) else True


def describe_peer(tls: ssl.SSLSocket) -> str | None:
    """The peer certificate subject, one line (``/C=DE/O=Test/CN=client``), for the verbose log."""
    from dcmrecv_cluster.shared.tlscontext import peer_subject

    return peer_subject(tls)
