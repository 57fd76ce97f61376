"""A hand-made SCU for cases no real client produces: stalls, garbage, hostile identifiers."""

from __future__ import annotations

import socket
import struct

APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"


def item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BxH", kind, len(value)) + value


def associate_rq(contexts: list[tuple[int, str, list[str]]], called: bytes = b"ANY-SCP",
                 calling: bytes = b"RAWSCU", max_pdu: int = 16384) -> bytes:
    parts = [item(0x10, APPLICATION_CONTEXT)]
    for cid, abstract, syntaxes in contexts:
        parts.append(item(0x20, bytes((cid, 0, 0, 0)) + item(0x30, abstract.encode())
                          + b"".join(item(0x40, ts.encode()) for ts in syntaxes)))
    parts.append(item(0x50, item(0x51, struct.pack(">L", max_pdu)) + item(0x52, b"1.2.3.4")))
    body = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32) + b"".join(parts)
    return struct.pack(">BxL", 1, len(body)) + body


def _receive(sock: socket.socket, count: int) -> bytes:
    """Up to ``count`` bytes, fewer only if the peer closed (a loop: TLS sockets take no MSG_WAITALL)."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    """One PDU (type, body); (0, b"") when the peer closed the connection."""
    header = _receive(sock, 6)
    if len(header) < 6:
        return 0, b""
    length = struct.unpack(">L", header[2:6])[0]
    return header[0], _receive(sock, length)


def context_results(accept_body: bytes) -> list[int]:
    """The result of each presentation context of an A-ASSOCIATE-AC body (0: acceptance)."""
    offset, results = 68, []
    while offset + 4 <= len(accept_body):
        kind, length = struct.unpack_from(">BxH", accept_body, offset)
        if kind == 0x21:
            results.append(accept_body[offset + 6])
        offset += 4 + length
    return results


def associate(port: int, abstract: str, ts: str = EXPLICIT_LE, timeout: float = 30) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(associate_rq([(1, abstract, [ts])]))
    kind, body = read_pdu(sock)
    assert kind == 0x02, f"association not accepted: {kind} {body!r}"
    return sock


def p_data(context: int, control: int, payload: bytes) -> bytes:
    return struct.pack(">BxLLBB", 4, len(payload) + 6, len(payload) + 2, context, control) + payload


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0, element, len(value)) + value


def _ui(value: str) -> bytes:
    raw = value.encode()
    return raw + b"\0" * (len(raw) % 2)


def store_command(sop_class: str, sop_instance: str, message_id: int = 7) -> bytes:
    body = (_element(0x0002, _ui(sop_class)) + _element(0x0100, struct.pack("<H", 1))
            + _element(0x0110, struct.pack("<H", message_id)) + _element(0x0700, struct.pack("<H", 0))
            + _element(0x0800, struct.pack("<H", 0)) + _element(0x1000, _ui(sop_instance)))
    return _element(0x0000, struct.pack("<L", len(body))) + body


def echo_command(message_id: int = 7) -> bytes:
    """A C-ECHO-RQ command set (no dataset)."""
    body = (_element(0x0002, _ui(VERIFICATION)) + _element(0x0100, struct.pack("<H", 0x0030))
            + _element(0x0110, struct.pack("<H", message_id)) + _element(0x0800, struct.pack("<H", 0x0101)))
    return _element(0x0000, struct.pack("<L", len(body))) + body


def dataset_bytes(part10: bytes) -> bytes:
    """The dataset of a Part-10 file: what follows preamble, DICM and group 0002."""
    return part10[132 + 12 + struct.unpack("<L", part10[140:144])[0]:]


def response_status(body: bytes) -> int:
    """The (0000,0900) Status of a one-PDV C-STORE/C-ECHO response PDU body."""
    command = body[6:]
    offset = 0
    while offset + 8 <= len(command):
        group, element, length = struct.unpack_from("<HHL", command, offset)
        if (group, element) == (0, 0x0900):
            return struct.unpack_from("<H", command, offset + 8)[0]
        offset += 8 + length
    raise AssertionError("no status in response")


def store(sock: socket.socket, sop_class: str, sop_instance: str, dataset: bytes, max_pdv: int = 16000) -> int:
    sock.sendall(p_data(1, 0x03, store_command(sop_class, sop_instance)))
    for offset in range(0, max(len(dataset), 1), max_pdv):
        chunk = dataset[offset:offset + max_pdv]
        last = offset + max_pdv >= len(dataset)
        sock.sendall(p_data(1, 0x02 if last else 0x00, chunk))
    kind, body = read_pdu(sock)
    assert kind == 0x04, f"no P-DATA response: {kind}"
    return response_status(body)


RELEASE_RQ = bytes((5, 0, 0, 0, 0, 4, 0, 0, 0, 0))
ABORT = bytes((7, 0, 0, 0, 0, 4, 0, 0, 0, 0))


def release(sock: socket.socket) -> None:
    sock.sendall(RELEASE_RQ)
    kind, _ = read_pdu(sock)
    assert kind == 0x06
    sock.close()
