"""PROXY protocol v2, receiver side: a strict parser and a non-blocking header reader.

Behind HAProxy (`send-proxy-v2`) every connection starts with a binary header
that names the client. The spec (haproxy doc/proxy-protocol.txt) is followed
to the letter: the header is required when configured (no guessing whether one
is there), accepted only from trusted peers, read with exact lengths so the
DICOM or TLS bytes behind it stay in the socket, capped and under a deadline.
v1 (text) is not accepted. The supervisor reads the header before the
hand-off; workers never see it.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from dataclasses import dataclass

from dcmrecv_cluster.shared import access

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
FIXED = 16                      # signature, ver/cmd, fam/proto, length
MAX_HEADER = 1024               # HAProxy's headers fit in 536 bytes; TLVs (unique-id ≤ 128) fit here
MIN_DEADLINE = 3.0              # the spec: at least 3 s, to cover a TCP retransmit
MAX_PENDING = 512               # headers being read at once; beyond, new connections are closed

LOCAL, PROXY = "LOCAL", "PROXY"
UNSPEC, TCP4, TCP6 = 0x00, 0x11, 0x21
_ADDRESS_BYTES = {UNSPEC: 0, TCP4: 12, TCP6: 36}
TLV_CRC32C = 0x03


class ProxyError(ValueError):
    """The connection did not start with a valid PROXY v2 header: close it unread."""


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed header. For LOCAL (the balancer's own health checks) source/destination are None."""

    command: str
    family: int
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()
    length: int = FIXED

    @property
    def local(self) -> bool:
        return self.command == LOCAL


def body_length(fixed: bytes, max_header: int = MAX_HEADER) -> int:
    """Check the 16 fixed bytes; return how many bytes follow (exactly those must be read)."""
    if len(fixed) != FIXED:
        raise ProxyError("PROXY v2 header truncated")
    if fixed[:12] != SIGNATURE:
        what = "PROXY v1 header" if fixed[:6] == b"PROXY " else "no PROXY v2 signature"
        raise ProxyError(f"{what} (PROXY protocol v2 required)")
    version, command = fixed[12] >> 4, fixed[12] & 0x0F
    if version != 2:
        raise ProxyError(f"PROXY header version {version} (2 required)")
    if command not in (0, 1):
        raise ProxyError(f"PROXY v2 command {command} unknown")
    length = struct.unpack_from(">H", fixed, 14)[0]
    if FIXED + length > max_header:
        raise ProxyError(f"PROXY v2 header of {FIXED + length} bytes exceeds the cap of {max_header}")
    family = fixed[13]
    if command == 1:
        if family not in (TCP4, TCP6):
            raise ProxyError(f"PROXY v2 family/transport 0x{family:02x} not TCP over IPv4/IPv6")
        if length < _ADDRESS_BYTES[family]:
            raise ProxyError(f"PROXY v2 address block of {length} bytes too short for 0x{family:02x}")
    return length


def parse(header: bytes, max_header: int = MAX_HEADER) -> ProxyHeader:
    """Parse one complete header (exactly 16 + len bytes)."""
    length = body_length(header[:FIXED], max_header)
    if len(header) != FIXED + length:
        raise ProxyError(f"PROXY v2 header is {len(header)} bytes, its length field says {FIXED + length}")
    command = PROXY if header[12] & 0x0F else LOCAL
    family = header[13]
    body = header[FIXED:]
    if family not in _ADDRESS_BYTES:
        # LOCAL with a family we do not know: the spec says skip len bytes, use the real endpoints.
        return ProxyHeader(command, family, length=len(header))
    used = _ADDRESS_BYTES[family]
    if len(body) < used:
        raise ProxyError(f"PROXY v2 address block of {len(body)} bytes too short for 0x{family:02x}")
    tlvs = _tlvs(body[used:])
    _check_crc(header, tlvs, FIXED + used)
    if command == LOCAL:
        return ProxyHeader(LOCAL, family, tlvs=tlvs, length=len(header))
    source, destination = _addresses(family, body)
    return ProxyHeader(PROXY, family, source, destination, tlvs, len(header))


def _addresses(family: int, body: bytes) -> tuple[tuple[str, int], tuple[str, int]]:
    size = 4 if family == TCP4 else 16
    src = ipaddress.ip_address(body[:size])
    dst = ipaddress.ip_address(body[size:2 * size])
    sport, dport = struct.unpack_from(">HH", body, 2 * size)
    return (str(src), sport), (str(dst), dport)


def _tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """Type-length-value items that exactly fill the rest of the header."""
    found, offset = [], 0
    while offset < len(data):
        if offset + 3 > len(data):
            raise ProxyError("PROXY v2 TLV header truncated")
        kind, size = data[offset], struct.unpack_from(">H", data, offset + 1)[0]
        if offset + 3 + size > len(data):
            raise ProxyError(f"PROXY v2 TLV 0x{kind:02x} runs past the header")
        found.append((kind, bytes(data[offset + 3:offset + 3 + size])))
        offset += 3 + size
    return tuple(found)


def _check_crc(header: bytes, tlvs, start: int) -> None:
    """A CRC32C TLV, when sent, must match (checksum over the header with its own value zeroed)."""
    if not any(kind == TLV_CRC32C for kind, _ in tlvs):
        return
    offset, zeroed, sent = start, bytearray(header), None
    for kind, value in tlvs:
        if kind == TLV_CRC32C:
            if sent is not None or len(value) != 4:
                raise ProxyError("PROXY v2 CRC32C TLV malformed")
            sent = struct.unpack(">I", value)[0]
            zeroed[offset + 3:offset + 7] = bytes(4)
        offset += 3 + len(value)
    if crc32c(bytes(zeroed)) != sent:
        raise ProxyError("PROXY v2 CRC32C mismatch")


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as the PROXY v2 CRC32C TLV uses it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---- trust list -------------------------------------------------------------------


def parse_trust(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The balancers allowed to send PROXY headers; a CIDR with host bits set is refused."""
    return access.parse_networks(text, "--proxy-trust", strict=True)


trusted = access.address_in


def option_problem(options) -> str | None:
    """The command-line error for the PROXY options, or None (checked once at start-up)."""
    mode = getattr(options, "proxy_protocol", None)
    trust = getattr(options, "proxy_trust", None)
    if mode is None:
        return "--proxy-trust only allowed with --proxy-protocol" if trust is not None else None
    if mode != "v2":
        return f"Invalid value for option --proxy-protocol ({mode}); only v2 is supported"
    if trust is None:
        return "--proxy-protocol only allowed with --proxy-trust"
    try:
        parse_trust(trust)
    except ValueError as exc:
        return str(exc)
    return None


# ---- reading from a non-blocking socket ------------------------------------------------


class HeaderReader:
    """Reads one header from a non-blocking socket, never a byte past it.

    Call `step()` whenever the socket is readable: it returns the ProxyHeader
    once complete, None while more is needed, and raises ProxyError on a bad
    header, end of stream or an error. `deadline` is a time.monotonic() value.
    """

    def __init__(self, sock: socket.socket, deadline: float, max_header: int = MAX_HEADER) -> None:
        self.sock = sock
        self.deadline = deadline
        self.max_header = max_header
        self.buffer = bytearray()
        self.wanted = FIXED

    def step(self) -> ProxyHeader | None:
        while len(self.buffer) < self.wanted:
            try:
                chunk = self.sock.recv(self.wanted - len(self.buffer))
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                raise ProxyError(f"connection failed while reading the PROXY header: {exc.strerror or exc}") from None
            if not chunk:
                raise ProxyError("connection closed before a complete PROXY v2 header")
            self.buffer += chunk
            if self.wanted == FIXED and len(self.buffer) == FIXED:
                self.wanted = FIXED + body_length(bytes(self.buffer), self.max_header)
        return parse(bytes(self.buffer), self.max_header)

    def expired(self, now: float) -> bool:
        return now > self.deadline


class Gate:
    """The supervisor's front door with --proxy-protocol v2: trust check, then headers read
    concurrently from the event loop (fds registered in the arbiter's poller).

    `admit(conn, peer)` takes an accepted connection; `service(events)` returns the
    connections whose header is complete as (conn, peer, header), where peer is the
    client's address for PROXY and the socket peer for LOCAL. Everything else is closed.
    """

    def __init__(self, trust: str, deadline_seconds: float, log, max_header: int = MAX_HEADER,
                 max_pending: int = MAX_PENDING) -> None:
        self.networks = parse_trust(trust)
        self.seconds = max(MIN_DEADLINE, float(deadline_seconds))
        self.log = log
        self.max_header = max_header
        self.max_pending = max_pending
        self.pending: dict[int, tuple[socket.socket, tuple, HeaderReader]] = {}
        self.poller = None
        self.refused = 0          # untrusted, malformed, late: counted for metrics

    def attach(self, poller) -> None:
        self.poller = poller

    def admit(self, conn: socket.socket, peer) -> None:
        if not trusted(peer[0], self.networks):
            self.log.warn(f"closing connection from {peer[0]}: not in --proxy-trust")
            self._drop(conn)
            return
        if len(self.pending) >= self.max_pending:
            self.log.warn(f"closing connection from {peer[0]}: {self.max_pending} PROXY headers pending")
            self._drop(conn)
            return
        conn.setblocking(False)
        reader = HeaderReader(conn, time.monotonic() + self.seconds, self.max_header)
        self.pending[conn.fileno()] = (conn, peer, reader)
        if self.poller is not None:
            self.poller.register(conn.fileno(), 1)

    def service(self, events) -> list[tuple[socket.socket, tuple, ProxyHeader]]:
        done, now = [], time.monotonic()
        for fd, (conn, peer, reader) in list(self.pending.items()):
            if fd in events:
                try:
                    header = reader.step()
                except ProxyError as exc:
                    self.log.warn(f"closing connection from {peer[0]}: {exc}")
                    self._forget(fd, close=True)
                    continue
                if header is not None:
                    self._forget(fd, close=False)
                    conn.setblocking(True)     # as accept() gives it: the worker expects that
                    done.append((conn, header.source if header.command == PROXY else peer, header))
                    continue
            if reader.expired(now):
                self.log.warn(f"closing connection from {peer[0]}: no complete PROXY v2 header "
                              f"within {self.seconds:.0f} s")
                self._forget(fd, close=True)
        return done

    def _forget(self, fd: int, close: bool) -> None:
        conn, _, _ = self.pending.pop(fd)
        if self.poller is not None:
            self.poller.unregister(fd)
        if close:
            self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self.refused += 1
        conn.close()

    def close_all(self) -> None:
        for fd in list(self.pending):
            self._forget(fd, close=True)
