"""The strict PROXY v2 reader: valid, fragmented, truncated, oversized, malformed and untrusted
headers, and headers captured from the real HAProxy (IPv4, IPv6, LOCAL checks, TLVs)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from dcmrecv_cluster.supervisor import proxyproto
from dcmrecv_cluster.supervisor.proxyproto import (
    FIXED,
    LOCAL,
    PROXY,
    Gate,
    HeaderReader,
    ProxyError,
    body_length,
    crc32c,
    parse,
    parse_trust,
    trusted,
)

from .support.net import free_port
from .support.proxyv2 import SIG, pack
from .support.tools import HAPROXY

ASSOCIATE_RQ_FIRST_BYTES = b"\x01\x00\x00\x00\x00\xb0"


class _Log:
    def __init__(self):
        self.lines = []

    def warn(self, text):
        self.lines.append(text)


class _Poller:
    def __init__(self):
        self.fds = set()

    def register(self, fd, _flags):
        self.fds.add(fd)

    def unregister(self, fd):
        self.fds.discard(fd)


# ---- pure parsing -------------------------------------------------------------------


def test_ipv4_and_ipv6_proxy_headers():
    h = parse(pack())
    assert (h.command, h.family, h.source, h.destination, h.tlvs, h.local) == (
        PROXY, 0x11, ("192.0.2.7", 40001), ("198.51.100.1", 11112), (), False)
    h6 = parse(pack(family=0x21, src=("2001:db8::7", 5), dst=("2001:db8::1", 104)))
    assert (h6.source, h6.destination, h6.length) == (("2001:db8::7", 5), ("2001:db8::1", 104), 16 + 36)


def test_local_uses_no_address_and_skips_its_length():
    assert parse(pack(command=0, family=0x00)).local
    # LOCAL must skip `len` bytes whatever they hold (the spec: never assume 0 for LOCAL)
    h = parse(pack(command=0, family=0x11, tlvs=[(0x04, b"pad")]))
    assert (h.local, h.source, h.tlvs) == (True, None, ((0x04, b"pad"),))
    assert parse(pack(command=0, family=0x31, length=5) + b"xxxxx").local   # unknown family: skipped whole


def test_tlvs_and_crc32c():
    h = parse(pack(tlvs=[(0x05, b"id-42"), (0x04, b"")], crc=True))
    assert h.tlvs[:2] == ((0x05, b"id-42"), (0x04, b""))
    good = bytearray(pack(tlvs=[(0x05, b"id-42")], crc=True))
    good[-1] ^= 1
    with pytest.raises(ProxyError, match="CRC32C mismatch"):
        parse(bytes(good))
    assert crc32c(b"123456789") == 0xE3069283   # the CRC-32C check value


@pytest.mark.parametrize("raw, message", [
    (b"PROXY TCP4 192.0.2.7 198.51.100.1 40001 11112\r\n", "PROXY v1 header"),
    (ASSOCIATE_RQ_FIRST_BYTES + bytes(10), "no PROXY v2 signature"),          # a client without a balancer
    (SIG + b"\x11\x11\x00\x0c" + bytes(12), "version 1"),
    (SIG + b"\x22\x11\x00\x0c" + bytes(12), "command 2"),
    (SIG + b"\x21\x00\x00\x00", "not TCP over IPv4/IPv6"),                      # PROXY + UNSPEC
    (SIG + b"\x21\x12\x00\x0c" + bytes(12), "not TCP"),                          # UDP
    (SIG + b"\x21\x11\x00\x08" + bytes(8), "too short"),
    (SIG + b"\x21\x21\x00\x0c" + bytes(12), "too short"),
])
def test_malformed_headers_are_refused(raw, message):
    with pytest.raises(ProxyError, match=message):
        parse(raw)


def test_length_mismatch_truncation_and_tlv_overrun():
    full = pack(tlvs=[(0x05, b"abc")])
    with pytest.raises(ProxyError, match="length field"):
        parse(full[:-1])
    with pytest.raises(ProxyError, match="truncated"):
        body_length(full[:10])
    with pytest.raises(ProxyError, match="runs past"):
        parse(SIG + b"\x21\x11\x00\x0f" + bytes(12) + b"\x05\x00\x09")   # TLV claims 9 bytes, has 0
    with pytest.raises(ProxyError, match="TLV header truncated"):
        parse(SIG + b"\x21\x11\x00\x0e" + bytes(12) + b"\x05\x00")   # 2 bytes of a 3-byte TLV header


def test_oversized_header_is_refused_from_its_fixed_part():
    with pytest.raises(ProxyError, match="exceeds the cap"):
        body_length(pack(length=2000)[:FIXED])
    assert body_length(pack(tlvs=[(0x05, b"x" * 200)])[:FIXED]) == 12 + 203
    with pytest.raises(ProxyError, match="exceeds the cap of 64"):
        body_length(pack(tlvs=[(0x05, b"x" * 60)])[:FIXED], max_header=64)


def test_trust_list_and_options():
    nets = parse_trust("127.0.0.1/32, 10.0.0.0/8,::1")
    assert trusted("10.1.2.3", nets) and trusted("::1", nets) and not trusted("127.0.0.2", nets)
    assert not trusted("not-an-address", nets)
    for bad in ("10.0.0.1/8", "", "10.0.0.0/8,,", "example.org"):
        with pytest.raises(ValueError):
            parse_trust(bad)

    class Options:
        proxy_protocol, proxy_trust = None, None

    o = Options()
    assert proxyproto.option_problem(o) is None
    o.proxy_trust = "127.0.0.1"
    assert "only allowed with --proxy-protocol" in proxyproto.option_problem(o)
    o.proxy_protocol = "v1"
    assert "only v2" in proxyproto.option_problem(o)
    o.proxy_protocol, o.proxy_trust = "v2", None
    assert "only allowed with --proxy-trust" in proxyproto.option_problem(o)
    o.proxy_trust = "10.0.0.1/8"
    assert "host bits" in proxyproto.option_problem(o)
    o.proxy_trust = "127.0.0.0/8"
    assert proxyproto.option_problem(o) is None


# ---- reading from sockets -----------------------------------------------------------------


def _pair():
    a, b = socket.socketpair()
    b.setblocking(False)
    return a, b


def test_one_byte_writes_and_the_next_byte_stays_in_the_socket():
    client, server = _pair()
    reader = HeaderReader(server, time.monotonic() + 5)
    data = pack(tlvs=[(0x05, b"u" * 20)]) + ASSOCIATE_RQ_FIRST_BYTES
    header = None
    for i in range(len(data) - len(ASSOCIATE_RQ_FIRST_BYTES)):
        assert header is None
        client.send(data[i:i + 1])
        header = reader.step()
    assert header is not None and header.source == ("192.0.2.7", 40001)
    client.send(ASSOCIATE_RQ_FIRST_BYTES)
    assert server.recv(100) == ASSOCIATE_RQ_FIRST_BYTES       # nothing past the header was read
    client.close(), server.close()


def test_truncated_header_then_close_is_an_error_and_silence_expires():
    client, server = _pair()
    reader = HeaderReader(server, time.monotonic() + 5)
    client.send(pack()[:20])
    assert reader.step() is None
    assert not reader.expired(time.monotonic())
    assert reader.expired(time.monotonic() + 6)
    client.close()
    with pytest.raises(ProxyError, match="closed before"):
        reader.step()
    server.close()


def test_oversized_header_leaves_its_body_unread():
    client, server = _pair()
    client.send(pack(length=5000) + b"z" * 100)
    with pytest.raises(ProxyError, match="exceeds the cap"):
        HeaderReader(server, time.monotonic() + 5).step()
    assert len(server.recv(1000)) == 12 + 100      # only the 16 fixed bytes were consumed
    client.close(), server.close()


def _accepted(listener, source: str = "127.0.0.1"):
    client = socket.socket()
    client.bind((source, 0))
    client.connect(listener.getsockname())
    conn, peer = listener.accept()
    return client, conn, peer


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def test_gate_hands_over_the_client_address_and_local_probes(listener):
    log, poller = _Log(), _Poller()
    gate = Gate("127.0.0.0/8", 3, log)
    gate.attach(poller)
    c1, conn1, peer1 = _accepted(listener)
    c2, conn2, peer2 = _accepted(listener, "127.0.0.3")
    gate.admit(conn1, peer1)
    gate.admit(conn2, peer2)
    assert poller.fds == {conn1.fileno(), conn2.fileno()}
    c1.sendall(pack(src=("203.0.113.9", 4444)) + ASSOCIATE_RQ_FIRST_BYTES)
    c2.sendall(pack(command=0, family=0))
    time.sleep(0.05)
    done = gate.service({conn1.fileno(): 1, conn2.fileno(): 1})
    got = {peer: header.command for _, peer, header in done}
    assert got == {("203.0.113.9", 4444): PROXY, peer2: LOCAL}
    assert poller.fds == set() and gate.pending == {}
    for conn, _, _ in done:
        assert conn.getblocking()                      # as accept() gave it, for the worker
    assert conn1.recv(6) == ASSOCIATE_RQ_FIRST_BYTES
    for s in (c1, c2, conn1, conn2):
        s.close()


def test_gate_closes_untrusted_peers_unread(listener):
    log = _Log()
    gate = Gate("10.0.0.0/8", 3, log)
    client, conn, peer = _accepted(listener)
    client.sendall(pack())
    gate.admit(conn, peer)
    assert gate.pending == {} and gate.refused == 1 and conn.fileno() == -1
    assert "not in --proxy-trust" in log.lines[0]
    client.settimeout(2)
    try:
        assert client.recv(10) == b""
    except ConnectionResetError:
        pass                                           # closed with our header unread: a reset
    client.close()


def test_gate_closes_bad_and_late_headers(listener):
    log = _Log()
    gate = Gate("127.0.0.1/32", 3, log)
    bad_client, bad, bad_peer = _accepted(listener)
    late_client, late, late_peer = _accepted(listener)
    gate.admit(bad, bad_peer)
    gate.admit(late, late_peer)
    bad_client.sendall(ASSOCIATE_RQ_FIRST_BYTES + bytes(10))    # no header: never guessed
    late_client.sendall(pack()[:5])
    time.sleep(0.05)
    assert gate.service({bad.fileno(): 1, late.fileno(): 1}) == []
    assert list(gate.pending) == [late.fileno()]
    gate.pending[late.fileno()][2].deadline = time.monotonic() - 1
    assert gate.service({}) == [] and gate.pending == {}
    assert gate.refused == 2
    assert any("no PROXY v2 signature" in line for line in log.lines)
    assert any("within 3 s" in line for line in log.lines)
    bad_client.close(), late_client.close()


def test_gate_caps_pending_headers(listener):
    gate = Gate("127.0.0.1/32", 3, _Log(), max_pending=1)
    c1, conn1, p1 = _accepted(listener)
    c2, conn2, p2 = _accepted(listener)
    gate.admit(conn1, p1)
    gate.admit(conn2, p2)
    assert len(gate.pending) == 1 and gate.refused == 1
    gate.close_all()
    assert gate.pending == {}
    c1.close(), c2.close()


# ---- headers from the real HAProxy --------------------------------------------------------


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK),
                    reason="HAProxy not installed (make test installs the haproxy package)")
def test_headers_captured_from_haproxy(tmp_path):
    """HAProxy 2.6 in front of a stub: client connections over IPv4 and IPv6 carry PROXY with
    the client's address (and unique-id + crc32c TLVs), its health checks carry LOCAL."""
    stub = socket.socket()
    stub.bind(("127.0.0.1", 0))
    stub.listen(16)
    stub.settimeout(10)
    front4, front6 = free_port("127.0.0.1"), free_port("::1", family=socket.AF_INET6)
    cfg = tmp_path / "h.cfg"
    cfg.write_text(f"""
global
    log stdout format raw local0 info
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout check 1s
frontend f
    bind 127.0.0.1:{front4}
    bind [::1]:{front6}
    unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt
    default_backend b
backend b
    server s 127.0.0.1:{stub.getsockname()[1]} send-proxy-v2 proxy-v2-options unique-id,crc32c check inter 200ms
""")
    proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        seen: dict[str, proxyproto.ProxyHeader] = {}
        clients = []
        deadline = time.monotonic() + 15
        while len(seen) < 3 and time.monotonic() < deadline:
            if "client4" not in seen and not clients:
                clients.append(_connect_when_up(("127.0.0.1", front4), socket.AF_INET, "127.0.0.1"))
                clients.append(_connect_when_up(("::1", front6), socket.AF_INET6, "::1"))
                for client in clients:
                    client.sendall(ASSOCIATE_RQ_FIRST_BYTES)
            conn, _ = stub.accept()
            conn.setblocking(False)
            reader, header = HeaderReader(conn, time.monotonic() + 3), None
            while header is None:
                assert not reader.expired(time.monotonic()), "HAProxy sent no complete header"
                header = reader.step()
                time.sleep(0.005)
            conn.setblocking(True)
            conn.settimeout(2)
            if header.local:
                seen["local"] = header
            else:
                assert conn.recv(6, socket.MSG_WAITALL) == ASSOCIATE_RQ_FIRST_BYTES
                seen["client6" if header.family == proxyproto.TCP6 else "client4"] = header
            conn.close()
        assert set(seen) == {"local", "client4", "client6"}, seen
        ports = {c.family: c.getsockname()[1] for c in clients}
        assert seen["client4"].source == ("127.0.0.1", ports[socket.AF_INET])
        assert seen["client4"].destination == ("127.0.0.1", front4)
        assert seen["client6"].source == ("::1", ports[socket.AF_INET6])
        kinds = [kind for kind, _ in seen["client4"].tlvs]
        assert 0x05 in kinds and 0x03 in kinds         # unique-id, and a CRC32C we verified
        assert seen["local"].source is None
        for client in clients:
            client.close()
    finally:
        proc.terminate()
        proc.wait(10)
        stub.close()


def _connect_when_up(address, family, source):
    deadline = time.monotonic() + 10
    while True:
        try:
            return socket.create_connection(address, timeout=2, source_address=(source, 0))
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
