"""TLS end to end: the real dcmrecv-cluster against DCMTK's echoscu/storescu ``+tls``.

Certificates are generated at test time (tlsutil). Receivers for the peer
authentication modes and the profiles start together once per module; DCMTK's
own dcmrecv is the oracle for the negotiated protocol/ciphersuite, ``+cc``,
``+pb`` and the exit-71 messages.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest

from .support import tlsutil
from .support.instances import make_series
from .support.net import free_port
from .support.rawscu import (
    IMPLICIT_LE,
    RELEASE_RQ,
    VERIFICATION,
    associate_rq,
    echo_command,
    p_data,
    read_pdu,
    response_status,
)
from .support.service import BIN, Receiver, wait_until
from .support.tools import STORESCP_CFG, dcmtk

CLUSTER = str(BIN / "dcmrecv-cluster")
CLIENT = ("+tls", "client.key", "client.pem", "+cf", "ca.pem")
ANONYMOUS = ("+tla", "+cf", "ca.pem")
FOREIGN = ("+tls", "foreign.key", "foreign.pem", "+cf", "ca.pem")
EXPIRED = ("+tls", "expired.key", "expired.pem", "+cf", "ca.pem")
TRUSTS_OTHER_CA = ("+tls", "client.key", "client.pem", "+cf", "ca2.pem")
SUBJECT_LINE = "I: TLS peer certificate subject: /C=DE/O=Test/CN=client"
SERVER = ("+tls", "server.key", "server.pem", "+cf", "ca.pem")

# name -> (receiver options, client options that must work, the receiver's worker count)
RECEIVERS = {
    # -rc (default) and +py (default); trust from a hash directory; +rs/+ws accepted, seed untouched
    "rc": (("-ta", "2", "-xf", STORESCP_CFG, "Default", "+tls", "server.key", "server.pem", "+cd", "cadir",
            "+rs", "seed.bin", "+ws"), CLIENT, 2),
    # -vc with DER key, certificate and CA file
    "vc": (("-vc", "-der", "+tls", "server.der", "server_cert.der", "+cf", "ca.der"), CLIENT, 1),
    # -ic with an encrypted key and +pw
    "ic": (("-ic", "+tls", "server_enc.key", "server.pem", "+pw", tlsutil.PASSWORD, "+cf", "ca.pem"), CLIENT, 1),
    "px": (SERVER + ("+px",), CLIENT + ("+px",), 1),
    "pz": (SERVER + ("+pz", "+dp", "dh2048.pem"), CLIENT + ("+pz",), 1),
    "pa": (SERVER + ("+pa",), CLIENT + ("+pa",), 1),
    "pn": (SERVER + ("+pn",), CLIENT + ("+pn",), 1),
}


# ----------------------------------------------------------------------------- helpers

def echoscu(port: int, *options: str, cwd: Path, debug: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([dcmtk("echoscu"), *(("-d",) if debug else ()), *options, "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def negotiated(client_output: str) -> tuple[str, ...]:
    """Protocol and ciphersuite from DCMTK's client-side ``-d`` connection dump."""
    return tuple(line.split(":", 1)[1].strip() for line in client_output.splitlines()
                 if line.startswith(("D:   Protocol", "D:   Ciphersuite")))


def tls_association(port: int, pki: Path) -> ssl.SSLSocket:
    """A hand-made TLS SCU holding an accepted Verification association open."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
    sock.sendall(associate_rq([(1, VERIFICATION, [IMPLICIT_LE])], calling=b"RAWTLS"))
    kind, _ = read_pdu(sock)
    assert kind == 0x02, f"association not accepted (PDU type {kind:#x})"
    return sock


def c_echo(sock) -> bool:
    sock.sendall(p_data(1, 0x03, echo_command()))
    kind, body = read_pdu(sock)
    return kind == 0x04 and response_status(body) == 0


def release(sock) -> int:
    sock.sendall(RELEASE_RQ)
    return read_pdu(sock)[0]


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def receivers(pki):
    """All receivers of the module, started at once (start-up dominates), ready when a TLS C-ECHO works."""
    started: dict[str, Receiver] = {}
    try:
        for name, (options, _client, workers) in RECEIVERS.items():
            out = pki / f"out-{name}"
            out.mkdir()
            receiver = Receiver(["-v", "--workers", str(workers), "-od", str(out), *options], pki, free_port())
            receiver.output = out
            started[name] = receiver

        def ready(name: str) -> None:
            receiver, client = started[name], RECEIVERS[name][1]

            def answers():
                if receiver.process.poll() is not None:
                    raise AssertionError(f"{name} exited with {receiver.process.returncode}:\n{receiver.log}")
                return echoscu(receiver.port, *client, cwd=pki).returncode == 0
            wait_until(answers, 60, 0.2, f"receiver {name} to answer a TLS C-ECHO")

        with ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(ready, started))
        yield started
    finally:
        for receiver in started.values():
            receiver.stop()


# ----------------------------------------------------------------------------- peer authentication

def test_require_peer_certificate(receivers, pki, tmp_path):
    receiver = receivers["rc"]
    files = make_series(tmp_path / "in", 3)
    result = subprocess.run([dcmtk("storescu"), *CLIENT, "127.0.0.1", str(receiver.port), *map(str, files)],
                            capture_output=True, text=True, timeout=60, cwd=pki)
    assert result.returncode == 0, result.stderr
    for sent in files:
        dataset = pydicom.dcmread(sent)
        assert pydicom.dcmread(receiver.output / f"CT.{dataset.SOPInstanceUID}") == dataset
    wait_until(lambda: receiver.log.count("Stored received object to file") >= 3, 10, what="the store log")
    assert SUBJECT_LINE in receiver.log

    refused = {"anonymous": (ANONYMOUS, "TLS error: peer did not return a certificate"),
               "foreign": (FOREIGN, "TLS error: certificate verify failed"),
               "expired": (EXPIRED, "TLS error: certificate verify failed"),
               "trusts other CA": (TRUSTS_OTHER_CA, "TLS error: tlsv1 alert unknown ca")}
    for what, (client, message) in refused.items():
        assert echoscu(receiver.port, *client, cwd=pki).returncode != 0, what
        wait_until(lambda message=message: f"E: Could not receive association request: {message}" in receiver.log, 10,
                   what=f"the refusal of the {what} client")
    assert "CN=expired" not in receiver.log and "CN=foreign" not in receiver.log
    assert (pki / "seed.bin").read_bytes() == bytes(range(256)) * 4  # +ws: dcmrecv never writes it


@pytest.mark.parametrize("mode", ["vc", "ic"])
def test_verify_or_ignore_peer_certificate(receivers, pki, mode):
    receiver = receivers[mode]
    wait_until(lambda: "Received Association Release Request" in receiver.log, 10, what="the readiness C-ECHO")
    releases, subjects = receiver.log.count("Received Association Release Request"), receiver.log.count(SUBJECT_LINE)
    assert echoscu(receiver.port, *CLIENT, cwd=pki).returncode == 0
    assert echoscu(receiver.port, *ANONYMOUS, cwd=pki).returncode == 0
    foreign = echoscu(receiver.port, *FOREIGN, cwd=pki).returncode
    if mode == "vc":  # presented, so verified: refused
        assert foreign != 0
        wait_until(lambda: "TLS error: certificate verify failed" in receiver.log, 10, what="the refusal")
    else:  # -ic does not even ask for one
        assert foreign == 0
    expected = releases + (2 if mode == "vc" else 3)
    wait_until(lambda: receiver.log.count("Received Association Release Request") == expected, 10,
               what="the associations in the log")
    # -vc logs the subject of the one verified client certificate; -ic never receives one
    assert receiver.log.count(SUBJECT_LINE) - subjects == (1 if mode == "vc" else 0)


# ----------------------------------------------------------------------------- profiles

@pytest.mark.parametrize("profile", ["py", "px", "pz", "pa", "pn"])
def test_profile_negotiates_as_dcmrecv(receivers, pki, profile):
    """Each profile this OpenSSL offers: DCMTK's echoscu agrees with us on what dcmrecv agrees on."""
    receiver = receivers["rc" if profile == "py" else profile]
    client = CLIENT + (f"+{profile}",)
    ours = echoscu(receiver.port, *client, cwd=pki, debug=True)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    port = free_port()
    extra = ("+dp", "dh2048.pem") if profile == "pz" else ()
    reference = subprocess.Popen([dcmtk("dcmrecv"), *SERVER, f"+{profile}", *extra, str(port)],
                                 cwd=pki, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def reference_answers():
        result = echoscu(port, *client, cwd=pki, debug=True)
        return result if result.returncode == 0 else None
    try:
        theirs = wait_until(reference_answers, 20, 0.1, "dcmrecv to answer")
    finally:
        reference.terminate()
        reference.wait(10)
    assert negotiated(ours.stdout + ours.stderr) == negotiated(theirs.stdout + theirs.stderr)
    assert len(negotiated(ours.stdout + ours.stderr)) == 2


def test_profile_mismatch_is_refused(receivers, pki):
    receiver = receivers["rc"]  # +py: no AES128-SHA, which is all +pa offers
    assert echoscu(receiver.port, *CLIENT, "+pa", cwd=pki).returncode != 0
    wait_until(lambda: "E: Could not receive association request: TLS error: no shared cipher" in receiver.log,
               10, what="the refusal")


def test_profile_this_openssl_lacks_is_an_unknown_option(pki):
    """No 3DES in this OpenSSL: dcmrecv has no +pb at all (exit 1), and neither have we."""
    ours = subprocess.run([CLUSTER, "+tls", "server.key", "server.pem", "+pb", "104"],
                          capture_output=True, text=True, timeout=60, cwd=pki)
    theirs = subprocess.run([dcmtk("dcmrecv"), "+tls", "server.key", "server.pem", "+pb", "104"],
                            capture_output=True, text=True, timeout=60, cwd=pki)
    assert (ours.returncode, theirs.returncode) == (1, 1)
    assert "error: Unknown option +pb" in ours.stderr + ours.stdout
    assert "error: Unknown option +pb" in theirs.stderr + theirs.stdout


# ----------------------------------------------------------------------------- hostile and mistaken peers

def _drip(sock: socket.socket, stop: threading.Event) -> None:
    """Start a ClientHello record and send one more byte every 0.3 s: each read succeeds, the whole never does."""
    try:
        sock.sendall(b"\x16\x03\x01\x02\x00")
        while not stop.wait(0.3):
            sock.sendall(b"\x00")
    except OSError:
        pass


def test_silent_and_dripping_clients_block_nobody_and_are_dropped_after_acse_timeout(receivers, pki):
    receiver = receivers["rc"]  # -ta 2
    silent = socket.create_connection(("127.0.0.1", receiver.port))
    dripping = socket.create_connection(("127.0.0.1", receiver.port))
    stop = threading.Event()
    dripper = threading.Thread(target=_drip, args=(dripping, stop), daemon=True)
    dripper.start()
    try:
        opened = time.monotonic()
        assert echoscu(receiver.port, *CLIENT, cwd=pki).returncode == 0
        answered = time.monotonic()
        closed = []
        for sock in (silent, dripping):
            sock.settimeout(20)
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
            closed.append(time.monotonic())
    finally:
        stop.set()
        dripper.join(5)
        silent.close()
        dripping.close()
    assert answered < min(closed), "the C-ECHO waited for the silent client"
    assert all(1.8 <= when - opened < 10 for when in closed), [when - opened for when in closed]
    wait_until(lambda: receiver.log.count("E: Could not receive association request: TLS read operation did not "
                                          "complete (SSL_ERROR_WANT_READ)") >= 2, 10, what="the timeouts in the log")


def test_plain_tcp_client_is_dropped_without_disturbing_others(receivers, pki, tmp_path):
    receiver = receivers["rc"]
    instance = make_series(tmp_path / "in", 1)[0]
    held = tls_association(receiver.port, pki)
    try:
        started = time.monotonic()
        plain = subprocess.run([dcmtk("storescu"), "127.0.0.1", str(receiver.port), str(instance)],
                               capture_output=True, text=True, timeout=60)
        assert plain.returncode != 0
        assert time.monotonic() - started < 10, "the plain client was not dropped at once"
        wait_until(lambda: "E: Could not receive association request: TLS error: wrong version number"
                   in receiver.log, 10, what="the refusal")
        assert c_echo(held), "the association in flight was disturbed"
        assert release(held) == 0x06
    finally:
        held.close()


# ----------------------------------------------------------------------------- start-up, through the real command

def test_list_ciphers_is_dcmrecvs(pki):
    ours = subprocess.run([CLUSTER, "+cc"], capture_output=True, text=True, timeout=60)
    theirs = subprocess.run([dcmtk("dcmrecv"), "+cc"], capture_output=True, text=True, timeout=60)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout
    assert "Supported TLS ciphersuites are:\n  TLS_RSA_WITH_NULL_SHA\n" in ours.stdout


@pytest.mark.parametrize("tls_options, fatal", [
    (("+tls", "server_enc.key", "server.pem", "+pw", "wrong"),
     "F: 000b:0004 Unable to load private TLS key from 'server_enc.key'"),
    (("+tls", "other.key", "server.pem"),
     "F: 000b:0006 Private key 'other.key' and certificate 'server.pem' do not match"),
    (("-der", "+tls", "server.key", "server.pem"),                  # PEM files read as DER
     "F: 000b:0004 Unable to load private TLS key from 'server.key'"),
])
def test_transport_layer_failure_exits_71_as_dcmrecv(pki, tls_options, fatal):
    (pki / "out71").mkdir(exist_ok=True)
    command = ["-od", "out71", *tls_options, str(free_port())]
    ours = subprocess.run([CLUSTER, *command], capture_output=True, text=True, timeout=60, cwd=pki)
    theirs = subprocess.run([dcmtk("dcmrecv"), *command], capture_output=True, text=True, timeout=60, cwd=pki)
    assert ours.returncode == theirs.returncode == 71
    assert ours.stdout + ours.stderr == theirs.stdout + theirs.stderr
    assert fatal in ours.stderr.splitlines()


def test_prompted_password_without_terminal_exits_71_as_dcmrecv(pki):
    """``+ps`` (default) with an encrypted key and no terminal: dcmrecv cannot prompt, exit 71."""
    (pki / "out71").mkdir(exist_ok=True)
    command = ["-od", "out71", "+tls", "server_enc.key", "server.pem", str(free_port())]
    ours = subprocess.run([CLUSTER, *command], capture_output=True, text=True, timeout=60, cwd=pki,
                          stdin=subprocess.DEVNULL, start_new_session=True)
    theirs = subprocess.run([dcmtk("dcmrecv"), *command], capture_output=True, text=True, timeout=60, cwd=pki,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    assert ours.returncode == theirs.returncode == 71
    lines = [line for line in theirs.stdout.splitlines() + theirs.stderr.splitlines() if line[:2] in ("E:", "F:")]
    assert lines == ["E: OpenSSL error 1400006b: processing error",
                     "F: 000b:0004 Unable to load private TLS key from 'server_enc.key'"]
    assert [line for line in (ours.stdout + ours.stderr).splitlines() if line[:2] in ("E:", "F:")] == lines


def test_resolve_password_prompts_once_for_the_workers(pki, monkeypatch):
    from dcmrecv_cluster.shared import tlscontext

    settings = tlscontext.TLSSettings(key_file=str(pki / "server_enc.key"), cert_file=str(pki / "server.pem"))
    monkeypatch.setattr(tlscontext, "_prompt_password", lambda: tlsutil.PASSWORD.encode())
    resolved = tlscontext.resolve_password(settings)
    assert (resolved.password_mode, resolved.password) == ("given", tlsutil.PASSWORD)
    tlscontext.build_server_context(resolved)  # the workers' rebuild needs no terminal
    plain_key = tlscontext.TLSSettings(key_file=str(pki / "server.key"), cert_file=str(pki / "server.pem"))
    assert tlscontext.resolve_password(plain_key) is plain_key
    monkeypatch.setattr(tlscontext, "_prompt_password", lambda: None)  # no terminal
    assert tlscontext.resolve_password(settings) is settings
