"""dcmrecv's TLS options -> ssl.SSLContext, checked against DCMTK's own binaries.

Error cases: our TransportLayerError lines/exit code vs ``/usr/bin/dcmrecv +tls ...``.
Handshakes: our context in a thread vs Python's ssl client and ``openssl s_client``,
and the negotiated version/cipher compared with what real dcmrecv negotiates.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dcmrecv_cluster.shared import tlscontext
from dcmrecv_cluster.shared.tlscontext import (
    TLSSettings,
    TransportLayerError,
    build_server_context,
    connection_details_lines,
    key_is_encrypted,
    list_ciphers_text,
    peer_subject,
)

from .support import tlsutil
from .support.net import free_port
from .support.tools import DCMRECV, OPENSSL

NOISE = ("no configuration file specified", "no data dictionary loaded")

pytestmark = [
    pytest.mark.skipif(not os.path.exists(DCMRECV), reason="DCMTK dcmrecv not installed"),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture
def in_pki(pki, monkeypatch):
    """Run with the PKI folder as cwd so relative names appear in messages as in dcmrecv's."""
    monkeypatch.chdir(pki)
    return pki


def base(**kw) -> TLSSettings:
    return dataclasses.replace(TLSSettings("server.key", "server.pem", ca_files=("ca.pem",)), **kw)


def parse_log(stderr: str) -> list[tuple[str, str]]:
    out = []
    for line in stderr.splitlines():
        if len(line) > 2 and line[1:3] == ": " and line[0] in "FEWIDT":
            if not any(n in line for n in NOISE):
                out.append((line[0], line[3:]))
    return out


def wait_listening(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dcmrecv exited {proc.returncode}: {proc.stderr.read()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError("dcmrecv did not start listening")


def run_dcmrecv_failing(cwd: Path, args: list[str]) -> tuple[int, str]:
    proc = subprocess.run([DCMRECV, *args, str(free_port())], cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=20)
    return proc.returncode, proc.stderr


class DcmrecvServer:
    """A real dcmrecv listening with TLS (the oracle for negotiated parameters)."""

    def __init__(self, cwd: Path, args: list[str]):
        for attempt in range(3):
            self.port = free_port()
            self.proc = subprocess.Popen([DCMRECV, "-od", str(cwd), *args, str(self.port)], cwd=cwd,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
            try:
                wait_listening(self.port, self.proc, time.monotonic() + 10)
                return
            except AssertionError:
                # The free port was taken before dcmrecv bound it (exit 64): another port, twice.
                if self.proc.returncode != 64 or attempt == 2:
                    raise

    def stop(self) -> str:
        self.proc.terminate()
        _out, err = self.proc.communicate(timeout=10)
        return err


# ----------------------------------------------------------------------------- error cases vs dcmrecv

ERROR_CASES = {
    "missing key": (["+tls", "nokey.pem", "server.pem"], {"key_file": "nokey.pem"}),
    "missing cert": (["+tls", "server.key", "nocert.pem"], {"cert_file": "nocert.pem"}),
    "mismatched key/cert": (["+tls", "other.key", "server.pem"], {"key_file": "other.key"}),
    "wrong password": (["+tls", "server_enc.key", "server.pem", "+pw", "wrong"],
                       {"key_file": "server_enc.key", "password_mode": "given", "password": "wrong"}),
    "encrypted key with -pw": (["+tls", "server_enc.key", "server.pem", "-pw"],
                               {"key_file": "server_enc.key", "password_mode": "null"}),
    "encrypted key, +ps, no terminal": (["+tls", "server_enc.key", "server.pem"],
                                        {"key_file": "server_enc.key", "password_mode": "prompt"}),
    "DER key with -pem": (["+tls", "server.der", "server.pem"], {"key_file": "server.der"}),
    "PEM key with -der": (["+tls", "server.key", "server_cert.der", "-der"],
                          {"cert_file": "server_cert.der", "key_format": "der"}),
    "DER cert with -pem": (["+tls", "server.key", "server_cert.der"], {"cert_file": "server_cert.der"}),
    "unknown +cs": (["+tls", "server.key", "server.pem", "+cs", "TLS_NO_SUCH_SUITE"],
                    {"ciphers": ("TLS_NO_SUCH_SUITE",)}),
    "unsupported +cs (3DES)": (["+tls", "server.key", "server.pem", "+cs", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
                               {"ciphers": ("TLS_RSA_WITH_3DES_EDE_CBC_SHA",)}),
    "NULL +cs under +py": (["+tls", "server.key", "server.pem", "+cs", "TLS_RSA_WITH_AES_128_CBC_SHA",
                            "+cs", "TLS_RSA_WITH_NULL_SHA"],
                           {"ciphers": ("TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_NULL_SHA")}),
    "missing +cf then missing key": (["+tls", "nokey.pem", "server.pem", "+cf", "n1.pem", "+cf", "ca.pem"],
                                     {"key_file": "nokey.pem", "ca_files": ("n1.pem", "ca.pem")}),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_matches_dcmrecv(in_pki, case):
    args, fields = ERROR_CASES[case]
    rc, stderr = run_dcmrecv_failing(in_pki, args)
    assert rc == 71, stderr
    expected = parse_log(stderr)
    with pytest.raises(TransportLayerError) as info:
        build_server_context(dataclasses.replace(TLSSettings("server.key", "server.pem"), **fields))
    assert info.value.exit_code == 71
    assert info.value.log_lines == expected
    assert str(info.value) == expected[-1][1]


def test_cipher_with_extended_profile_is_commandline_error(in_pki):
    rc, stderr = run_dcmrecv_failing(in_pki, ["+tls", "server.key", "server.pem", "+pz",
                                              "+cs", "TLS_RSA_WITH_AES_128_CBC_SHA"])
    assert rc == 1
    with pytest.raises(TransportLayerError) as info:
        build_server_context(base(profile="bcp195-ex", ciphers=("TLS_RSA_WITH_AES_128_CBC_SHA",)))
    assert info.value.exit_code == 1
    assert f"error: {info.value}" in stderr.splitlines()


def test_warnings_match_dcmrecv(in_pki):
    """Unreadable +cf/+crl/+dp/+rs are warnings (and queue leftovers), not errors."""
    (in_pki / "dh1024.pem").write_text(_DH1024)
    args = ["+tls", "server.key", "server.pem", "+rs", "noseed", "+cf", "a.pem", "+cf", "ca.pem",
            "+cf", "server.key", "+crl", "nocrl.pem", "+dp", "dh1024.pem",
            "+cs", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "+cs", "TLS_RSA_WITH_AES_256_CBC_SHA"]
    server = DcmrecvServer(in_pki, args)
    expected = parse_log(server.stop())
    ctx, lines = build_server_context(TLSSettings(
        "server.key", "server.pem", seed="noseed", ca_files=("a.pem", "ca.pem", "server.key"),
        crl_files=("nocrl.pem",), dhparam="dh1024.pem",
        ciphers=("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA")))
    assert lines == expected
    assert isinstance(ctx, ssl.SSLContext)


def test_small_dh_rejected_by_extended_profile(in_pki):
    (in_pki / "dh1024.pem").write_text(_DH1024)
    server = DcmrecvServer(in_pki, ["+tls", "server.key", "server.pem", "+pz", "+dp", "dh1024.pem"])
    expected = parse_log(server.stop())
    _ctx, lines = build_server_context(base(profile="bcp195-ex", dhparam="dh1024.pem", ca_files=()))
    assert lines == expected
    assert lines[-1] == ("W", "unable to load temporary DH parameter file 'dh1024.pem', ignoring")


def test_list_ciphers_matches_dcmrecv():
    out = subprocess.run([DCMRECV, "+cc"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0
    assert list_ciphers_text() == out.stdout


def test_unavailable_profiles():
    assert tlscontext.profile_available("bcp195-nd")
    names = list_ciphers_text()
    assert tlscontext.profile_available("basic") == ("TLS_RSA_WITH_3DES_EDE_CBC_SHA" in names)
    assert tlscontext.profile_available("null") == ("TLS_RSA_WITH_NULL_SHA" in names)


# ----------------------------------------------------------------------------- settings / keys

def test_settings_pickle_and_fresh_process_build(in_pki):
    """Workers are spawned: the pickled settings alone must rebuild the same context."""
    settings = base(key_file="server_enc.key", password_mode="given", password=tlsutil.PASSWORD)
    assert pickle.loads(pickle.dumps(settings)) == settings
    code = ("import pickle, sys\n"
            "from dcmrecv_cluster.shared.tlscontext import build_server_context\n"
            "ctx, _ = build_server_context(pickle.load(sys.stdin.buffer))\n"
            "print(' '.join(c['name'] for c in ctx.get_ciphers()))\n")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(settings), cwd=in_pki,
                         capture_output=True, timeout=30, check=True)
    names = out.stdout.decode().split()
    assert names == ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
                     "DHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                     "DHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"]


def test_key_is_encrypted(in_pki):
    assert key_is_encrypted(base(key_file="server_enc.key"))
    assert not key_is_encrypted(base())
    assert not key_is_encrypted(base(key_file="server.der", key_format="der"))
    assert not key_is_encrypted(base(key_file="missing.key"))


def test_der_key_and_cert_temp_files_removed(in_pki, monkeypatch):
    made = []
    real = tlscontext.tempfile.mkdtemp

    def spy(*a, **kw):
        made.append(real(*a, **kw))
        assert os.stat(made[-1]).st_mode & 0o077 == 0
        return made[-1]

    monkeypatch.setattr(tlscontext.tempfile, "mkdtemp", spy)
    ctx, lines = build_server_context(base(key_file="server.der", cert_file="server_cert.der",
                                           key_format="der", ca_files=("ca.der",)))
    assert lines == []
    assert made and not any(os.path.exists(p) for p in made)
    result = handshake(ctx, client_context(in_pki))
    assert result["server_error"] is None
    assert result["subject"] == "/C=DE/O=Test/CN=client"


# ----------------------------------------------------------------------------- live handshakes

def client_context(pki: Path, cert: str | None = "client", *, max_version=None, min_version=None,
                   ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    if ciphers:
        ctx.set_ciphers(ciphers)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def serve_once(ctx: ssl.SSLContext):
    """Accept one connection, handshake, record what was negotiated; returns (port, thread, result)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    result: dict = {"server_error": None}

    def run():
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls:
                try:
                    tls.do_handshake()
                except (ssl.SSLError, OSError) as exc:
                    result["server_error"] = exc
                    return
                result["version"] = tls.version()
                result["cipher"] = tls.cipher()[0]
                result["subject"] = peer_subject(tls)
                result["details"] = connection_details_lines(tls)
                tls.sendall(b"ok")
                try:
                    tls.recv(1)
                except (ssl.SSLError, OSError):
                    pass
        finally:
            listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread, result


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> dict:
    port, thread, result = serve_once(server_ctx)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw) as tls:
                result["client_version"] = tls.version()
                result["client_cipher"] = tls.cipher()[0]
                tls.recv(2)  # in TLS 1.3 the server's verdict on our certificate arrives here
    except (ssl.SSLError, OSError) as exc:
        result["client_error"] = exc
    thread.join(10)
    assert not thread.is_alive()
    return result


TLS10, TLS11, TLS12, TLS13 = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1,
                              ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
LEGACY = "DEFAULT:@SECLEVEL=0"


@pytest.mark.parametrize("profile,client_kw,version,cipher", [
    ("bcp195-nd", {}, "TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    ("bcp195-nd", {"max_version": TLS12}, "TLSv1.2", "DHE-RSA-AES256-GCM-SHA384"),
    ("bcp195-ex", {}, "TLSv1.2", "DHE-RSA-AES256-GCM-SHA384"),
    ("bcp195", {"max_version": TLS12}, "TLSv1.2", "DHE-RSA-AES256-GCM-SHA384"),
    ("bcp195", {"min_version": TLS10, "max_version": TLS10, "ciphers": LEGACY}, "TLSv1", "AES128-SHA"),
    ("aes", {"ciphers": "AES128-SHA:@SECLEVEL=0"}, "TLSv1.2", "AES128-SHA"),
    ("null", {"ciphers": "NULL-SHA:@SECLEVEL=0"}, "TLSv1.2", "NULL-SHA"),
])
def test_profile_negotiation(in_pki, profile, client_kw, version, cipher):
    ctx, _ = build_server_context(base(profile=profile))
    result = handshake(ctx, client_context(in_pki, **client_kw))
    assert result["server_error"] is None, result
    assert (result["version"], result["cipher"]) == (version, cipher)
    assert result["subject"] == "/C=DE/O=Test/CN=client"


@pytest.mark.parametrize("profile,client_kw", [
    ("bcp195-nd", {"min_version": TLS11, "max_version": TLS11, "ciphers": LEGACY}),
    ("bcp195-ex", {"min_version": TLS13}),
    # A client offering only modern suites shares none with the AES profile. Named, not the client's
    # default list: Debian's Python offers AES128-SHA by default, a pyenv-built one does not.
    ("aes", {"max_version": TLS12, "ciphers": "ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384"}),
])
def test_profile_refusals(in_pki, profile, client_kw):
    ctx, _ = build_server_context(base(profile=profile))
    result = handshake(ctx, client_context(in_pki, **client_kw))
    assert result["server_error"] is not None


@pytest.mark.parametrize("peer_cert,client_cert,ok,reason", [
    ("require", None, False, "PEER_DID_NOT_RETURN_A_CERTIFICATE"),
    ("require", "foreign", False, "CERTIFICATE_VERIFY_FAILED"),
    ("require", "expired", False, "CERTIFICATE_VERIFY_FAILED"),
    ("verify", None, True, None),
    ("verify", "foreign", False, "CERTIFICATE_VERIFY_FAILED"),
    ("ignore", "foreign", True, None),
])
def test_peer_certificate_modes(in_pki, peer_cert, client_cert, ok, reason):
    ctx, _ = build_server_context(base(peer_cert=peer_cert))
    result = handshake(ctx, client_context(in_pki, client_cert))
    if ok:
        assert result["server_error"] is None, result
        expected = None if peer_cert == "ignore" or client_cert is None else "/C=DE/O=Other/CN=foreign"
        assert result["subject"] == expected
        if expected is None:
            assert result["details"][-2] == ("Peer did not provide a certificate or certificate "
                                             "verification is disabled.")
    else:
        assert isinstance(result["server_error"], ssl.SSLError)
        assert result["server_error"].reason == reason


@pytest.mark.parametrize("crl,mode,ok", [
    ("revoked_client.crl", None, False),
    ("empty.crl", None, True),
    ("revoked_client.crl", "all", False),
])
def test_crl(in_pki, crl, mode, ok):
    ctx, lines = build_server_context(base(crl_files=(crl,), crl_mode=mode))
    assert lines == []
    result = handshake(ctx, client_context(in_pki))
    assert (result["server_error"] is None) == ok, result


def test_certificate_chain_file(in_pki):
    ctx, _ = build_server_context(base(cert_file="server_chain.pem"))
    result = handshake(ctx, client_context(in_pki))
    assert result["server_error"] is None


def _s_client(port: int, pki: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-brief", "-CAfile", "ca.pem",
         "-cert", "client.pem", "-key", "client.key", *extra],
        cwd=pki, input="", capture_output=True, text=True, timeout=20)
    info = {}
    for line in proc.stderr.splitlines():
        key, _, value = line.partition(":")
        if key in ("Protocol version", "Ciphersuite"):
            info[key] = value.strip()
    return info


S_CLIENT_CASES = [
    ("bcp195-nd", "+py", ()),
    ("bcp195-nd", "+py", ("-tls1_2",)),
    ("bcp195-ex", "+pz", ()),
    ("bcp195", "+px", ("-tls1", "-cipher", LEGACY)),
    ("bcp195", "+px", ("-tls1_2",)),
    ("aes", "+pa", ("-tls1_2", "-cipher", "AES128-SHA")),
]


@pytest.mark.parametrize("profile,option,extra", S_CLIENT_CASES)
def test_s_client_same_as_dcmrecv(in_pki, profile, option, extra):
    """``openssl s_client -brief`` negotiates the same version and suite with us as with dcmrecv."""
    server = DcmrecvServer(in_pki, ["-d", "+tls", "server.key", "server.pem", "+cf", "ca.pem", option])
    try:
        theirs = _s_client(server.port, in_pki, *extra)
    finally:
        log = server.stop()
    ctx, _ = build_server_context(base(profile=profile))
    port, thread, result = serve_once(ctx)
    ours = _s_client(port, in_pki, *extra)
    thread.join(10)
    assert theirs and "Ciphersuite" in theirs, theirs
    assert ours == theirs
    assert result["server_error"] is None
    dump = [text for level, text in parse_log(log) if level == "D"]
    start = dump.index(result["details"][0])
    assert dump[start:start + len(result["details"])] == result["details"]


def test_peer_subject_without_tls():
    assert peer_subject(object()) is None


# `openssl dhparam 1024` output (only used to trigger the short-DH warning)
_DH1024 = """-----BEGIN DH PARAMETERS-----
MIGHAoGBALA9EjoTaz0BhFz9RRcZiTtCis7cjKRrao+WHhIt4a23dF4l+ROx61Fp
0wLOtphfDBuFs4wlrPamkKtRQ7mfoVyAg7O1MQD9qKwuvzI54F+8rlmzRA7pR8B3
q7WImJRcpltVcFwJ3sO5QTu37+s2bH1gp/dHOzs4skrEUNEf5huHAgEC
-----END DH PARAMETERS-----
"""
