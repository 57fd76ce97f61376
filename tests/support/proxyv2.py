"""PROXY protocol v2 headers as HAProxy sends them, for the parser tests and the node tests."""

from __future__ import annotations

import ipaddress
import struct

from dcmrecv_cluster.supervisor.proxyproto import crc32c

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def pack(command: int = 1, family: int = 0x11, src=("192.0.2.7", 40001), dst=("198.51.100.1", 11112),
         tlvs: list[tuple[int, bytes]] = (), length: int | None = None, crc: bool = False) -> bytes:
    """An encoder written from the spec, independent of the parser under test."""
    address = b""
    if family in (0x11, 0x21):
        address = (ipaddress.ip_address(src[0]).packed + ipaddress.ip_address(dst[0]).packed
                   + struct.pack(">HH", src[1], dst[1]))
    body = address + b"".join(struct.pack(">BH", t, len(v)) + v for t, v in tlvs)
    if crc:
        body += struct.pack(">BH", 0x03, 4) + bytes(4)
    header = SIG + bytes((0x20 | command, family)) + struct.pack(">H", len(body) if length is None else length) + body
    if crc:
        header = header[:-4] + struct.pack(">I", crc32c(header))
    return header
