"""A node that protects itself (issue 16): floods of silent connections, the lobby's bounds.

Everything runs against the real service on loopback; floods are bounded in count and time.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from pynetdicom import AE

from dcmrecv_cluster.supervisor.lobby import bytes_wanted

from .support.instances import CT_IMAGE, make_instance, make_series
from .support.metrics import scrape, status_page
from .support.net import free_port
from .support.rawscu import associate, associate_rq, dataset_bytes, read_pdu, release, store
from .support.service import BIN, echo, storescu, wait_until
from .support.tools import HAPROXY

CLUSTER = ("--workers", "2", "--bind", "127.0.0.1")
VERIFICATION = "1.2.840.10008.1.1"
FLOOD_SECONDS = 3.0


@pytest.fixture(autouse=True, scope="module")
def enough_descriptors():
    """The flooding side needs more descriptors than the flood."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048 <= hard or (soft < 2048 and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def pynetdicom_echo(port: int, source: str = "127.0.0.1", calling: str = "ECHOSCU", called: str = "ANY-SCP"):
    """(established, rejection) of one C-ECHO association from `source`; rejection is
    (result, source, reason) of an A-ASSOCIATE-RJ, else None."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(VERIFICATION)
    ae.acse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title=called, bind_address=(source, 0))
    try:
        if assoc.is_established:
            status = assoc.send_c_echo()
            assoc.release()
            return bool(status and status.Status == 0), None
        if assoc.is_rejected:
            rj = assoc.acceptor.primitive
            return False, (rj.result, rj.result_source, rj.diagnostic)
        return False, None
    finally:
        ae.shutdown()


def silent_flood(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """`count` connections that never send a byte (non-blocking connects: no waiting on a full backlog)."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.bind((source, 0))
        sock.connect_ex(("127.0.0.1", port))
        socks.append(sock)
    return socks


def log_lines(receiver) -> list[str]:
    return [line for line in receiver.log.splitlines() if line]


def test_first_pdu_length_is_read_from_its_header():
    rq = associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])])
    assert bytes_wanted(rq[:3], tls=False) == 6
    assert bytes_wanted(rq[:6], tls=False) == len(rq)
    assert bytes_wanted(b"\x04\x00\x00\x00\x00\x10", tls=False) == 6          # not a request: hand over now
    assert bytes_wanted(b"\x01\x00\xff\xff\xff\xff", tls=False) == 6          # absurd length: the worker aborts
    assert bytes_wanted(b"\x01\x00\x00\x10\x00\x00", tls=False) == 16384      # capped
    assert bytes_wanted(b"\x16\x03\x01\x02\x00", tls=True) == 5 + 512         # a TLS ClientHello record
    assert bytes_wanted(b"GET / ", tls=True) == 6


def test_three_hundred_silent_connections_from_one_address_lock_nobody_out(receiver_factory, tmp_path):
    """Before: they filled --max-associations until -ta expired and everyone got RJ 'local limit'."""
    receiver = receiver_factory("--max-associations", "8", *CLUSTER)
    flood = silent_flood(receiver.port, 300)
    try:
        started = time.monotonic()
        established, rejection = pynetdicom_echo(receiver.port, source="127.0.0.2")
        assert established, rejection
        assert echo(receiver.port) == 0            # DCMTK, from the flooding address itself
        assert time.monotonic() - started < FLOOD_SECONDS
    finally:
        for sock in flood:
            sock.close()
    wait_until(lambda: "--max-pending-per-host 64 reached" in receiver.log, 10, what="the eviction in the log")
    assert len(log_lines(receiver)) < 20, receiver.log


def assert_answers_soon_after_the_flood(receiver) -> None:
    started = time.monotonic()
    wait_until(lambda: echo(receiver.port) == 0, 10, 0.1, "a C-ECHO once the flood ended")
    assert time.monotonic() - started < 5


def prlimit(nofile: int) -> list[str]:
    return ["prlimit", f"--nofile={nofile}", "--", str(BIN / "dcmrecv-cluster")]


def test_with_128_descriptors_a_flood_costs_few_log_lines_and_others_get_in(receiver_factory):
    receiver = receiver_factory(*CLUSTER, command=prlimit(128))
    flood = silent_flood(receiver.port, 600)
    try:
        established, rejection = pynetdicom_echo(receiver.port, source="127.0.0.3")
        assert established, rejection
        time.sleep(FLOOD_SECONDS)    # the flood goes on: nothing to poll for, its length is the test
    finally:
        for sock in flood:
            sock.close()
    assert_answers_soon_after_the_flood(receiver)
    assert len(log_lines(receiver)) < 100, receiver.log


def test_max_pending_is_held_below_the_descriptor_limit(receiver_factory):
    """Before: with 128 descriptors accept() failed with EMFILE in a loop (~99,000 error lines in
    3 s). The supervisor must never reach its limit at all (libzmq aborts the process when its own
    accept() gets EMFILE), so a --max-pending the limit cannot hold is lowered, and said so."""
    receiver = receiver_factory("--max-pending", "1000", "--max-pending-per-host", "1000", *CLUSTER,
                                command=prlimit(128))
    assert "--max-pending 1000 lowered to 32: not enough file descriptors" in receiver.log
    flood = silent_flood(receiver.port, 600)
    try:
        wait_until(lambda: "32 reached" in receiver.log, 10, what="the lobby to be full")
        established, rejection = pynetdicom_echo(receiver.port, source="127.0.0.4")
        assert established, rejection
        time.sleep(FLOOD_SECONDS)    # the flood goes on: its length is the test
    finally:
        for sock in flood:
            sock.close()
    assert_answers_soon_after_the_flood(receiver)
    assert receiver.process.poll() is None
    assert "Too many open files" not in receiver.log
    assert len(log_lines(receiver)) < 100, receiver.log


# ---- who may associate: --calling-aets, --require-called-aet ----------------------------------

def test_only_listed_calling_ae_titles_are_accepted(receiver_factory):
    metrics_port = free_port()
    receiver = receiver_factory("--calling-aets", "GOODSCU, ECHOSCU", "--metrics-port", str(metrics_port),
                                *CLUSTER)   # wait_ready's echoscu calls as ECHOSCU
    assert pynetdicom_echo(receiver.port, calling="GOODSCU") == (True, None)
    assert pynetdicom_echo(receiver.port, calling="BADSCU") == (False, (1, 1, 3))
    assert echo(receiver.port, "-aet", "GOODSCU") == 0
    assert echo(receiver.port, "-aet", "goodscu") != 0            # AE titles are case-sensitive
    for _ in range(12):                                            # a sender retrying in a loop
        assert pynetdicom_echo(receiver.port, calling="LOOPSCU")[1] == (1, 1, 3)
    # 13 refusals, 3 lines: the rest are summed up when the 10 s window closes
    wait_until(lambda: receiver.log.count("not in --calling-aets") == 3, 10, what="the refusals in the log")
    assert "W: Refusing Association from 127.0.0.1 (BADSCU -> ANY-SCP): calling AE title 'BADSCU' not in " \
           "--calling-aets" in receiver.log
    wait_until(lambda: scrape(metrics_port).get(
        ("dcmrecv_cluster_associations_rejected_total", (("reason", "calling-aet"),))) == 14, 10, 0.2,
        "the 14 refusals counted")


def test_calling_ae_titles_from_a_file_pinned_to_addresses(receiver_factory, tmp_path):
    listed = tmp_path / "senders.txt"
    listed.write_text("# modality     address\nCT1  127.0.0.5\nCT1 127.0.0.6/32\nPACS\t127.0.0.0/8\n\nECHOSCU\n")
    receiver = receiver_factory("--calling-aets", f"@{listed}", *CLUSTER)
    assert pynetdicom_echo(receiver.port, "127.0.0.5", calling="CT1") == (True, None)
    assert pynetdicom_echo(receiver.port, "127.0.0.6", calling="CT1") == (True, None)
    assert pynetdicom_echo(receiver.port, "127.0.0.7", calling="CT1") == (False, (1, 1, 3))
    assert pynetdicom_echo(receiver.port, "127.0.0.7", calling="PACS") == (True, None)
    assert pynetdicom_echo(receiver.port, "127.0.0.7", calling="MR1") == (False, (1, 1, 3))
    wait_until(lambda: "calling AE title 'CT1' not allowed from 127.0.0.7" in receiver.log, 10,
               what="the refusal in the log")


def test_required_called_ae_title(receiver_factory):
    receiver = receiver_factory("-aet", "STORE1", "--require-called-aet", *CLUSTER, ready=False)
    wait_until(lambda: echo(receiver.port, "-aec", "STORE1") == 0, 60, 0.2, "the receiver to answer")
    assert pynetdicom_echo(receiver.port, called="STORE1") == (True, None)
    assert pynetdicom_echo(receiver.port, called="ANY-SCP") == (False, (1, 1, 7))
    assert pynetdicom_echo(receiver.port, called="store1") == (False, (1, 1, 7))
    wait_until(lambda: "(ECHOSCU -> ANY-SCP): called AE title 'ANY-SCP' is not 'STORE1'" in receiver.log, 10,
               what="the refusal in the log")


def test_without_access_options_any_calling_and_called_ae_title_is_accepted(receiver_factory):
    receiver = receiver_factory("-aet", "STORE1", *CLUSTER)
    assert pynetdicom_echo(receiver.port, calling="WHOEVER", called="ANYTHING") == (True, None)
    assert echo(receiver.port, "-aet", "X", "-aec", "Y") == 0
    assert "Refusing" not in receiver.log


@pytest.mark.parametrize("argv, message", [
    (["--calling-aets", "A,,B", "104"], "invalid --calling-aets entry ''"),
    (["--calling-aets", "ABCDEFGHIJKLMNOPQ", "104"], "1 to 16 characters"),
    (["--calling-aets", "@/nonexistent/list", "104"], "cannot read --calling-aets file '/nonexistent/list'"),
    (["-uca", "--require-called-aet", "104"], "--require-called-aet not allowed with --use-called-aetitle"),
])
def test_access_option_errors_exit_1(argv, message, tmp_path):
    done = subprocess.run([str(BIN / "dcmrecv-cluster"), *argv], capture_output=True, text=True, timeout=30,
                          cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_calling_aets_file_is_not_a_command_file():
    from dcmrecv_cluster.shared.cmdline import parse_command_line
    assert parse_command_line(["--calling-aets", "@list.txt", "104"]).calling_aets == "@list.txt"


# ---- --max-associations-per-aet, --peer-hosts ----------------------------------------------------

def raw_association(port: int, calling: bytes) -> tuple[socket.socket, int, bytes]:
    """(socket, PDU type, body) after sending an A-ASSOCIATE-RQ for Verification as `calling`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])], calling=calling))
    kind, body = read_pdu(sock)
    return sock, kind, body


def test_per_calling_ae_limit_is_node_wide_and_spares_other_senders(receiver_factory):
    receiver = receiver_factory("--max-associations-per-aet", "2", *CLUSTER)    # two workers
    held = []
    try:
        for _ in range(2):
            sock, kind, _ = raw_association(receiver.port, b"CT1")
            held.append(sock)
            assert kind == 0x02
        sock, kind, body = raw_association(receiver.port, b"CT1")
        sock.close()
        assert (kind, body[1:4]) == (0x03, bytes((2, 3, 2)))      # transient / provider / local limit
        assert pynetdicom_echo(receiver.port, calling="MR1") == (True, None)
        assert pynetdicom_echo(receiver.port, calling="CT1") == (False, (2, 3, 2))
        release(held.pop())
        wait_until(lambda: pynetdicom_echo(receiver.port, calling="CT1") == (True, None), 10, 0.1,
                   "CT1's place back once one of its associations ended")
    finally:
        for sock in held:
            release(sock)
    wait_until(lambda: "(CT1 -> ANY-SCP): --max-associations-per-aet 2 reached" in receiver.log, 10,
               what="the refusal in the log")


def test_a_killed_worker_gives_its_places_back(receiver_factory):
    receiver = receiver_factory("--max-associations-per-aet", "1", "--workers", "1", "--bind", "127.0.0.1")
    sock, kind, _ = raw_association(receiver.port, b"CT1")
    assert kind == 0x02
    [worker] = receiver.workers()
    os.kill(worker, signal.SIGKILL)
    sock.close()
    wait_until(lambda: pynetdicom_echo(receiver.port, calling="CT1") == (True, None), 30, 0.2,
               "CT1 admitted by the replacement worker")


def closed_unanswered(sock: socket.socket) -> bool:
    try:
        return read_pdu(sock) == (0, b"")
    except ConnectionResetError:
        return True


def test_unlisted_peer_is_closed_before_any_dicom_byte(receiver_factory):
    metrics_port = free_port()
    receiver = receiver_factory("--peer-hosts", "127.0.0.1,127.0.0.4/32", "--metrics-port", str(metrics_port),
                                *CLUSTER)
    assert pynetdicom_echo(receiver.port, source="127.0.0.4") == (True, None)
    sock = socket.create_connection(("127.0.0.1", receiver.port), timeout=10, source_address=("127.0.0.3", 0))
    sock.sendall(associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])]))
    assert closed_unanswered(sock)                                  # never an A-ASSOCIATE-AC
    sock.close()
    assert pynetdicom_echo(receiver.port, source="127.0.0.3") == (False, None)
    wait_until(lambda: "W: closing connection from 127.0.0.3: not in --peer-hosts" in receiver.log, 10,
               what="the refusal in the log")
    wait_until(lambda: scrape(metrics_port).get(
        ("dcmrecv_cluster_connections_closed_total", (("reason", "peer-hosts"),))) == 2, 10, 0.2,
        "the refusals counted by reason")


HAPROXY_CFG = """
global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend dicom
    bind 127.0.0.1:{front}
    default_backend nodes
backend nodes
    server n1 127.0.0.1:{node} send-proxy-v2
"""


def test_peer_hosts_judges_the_client_address_behind_haproxy(receiver_factory, tmp_path):
    receiver = receiver_factory("--proxy-protocol", "v2", "--proxy-trust", "127.0.0.1/32",
                                "--peer-hosts", "127.0.0.5", *CLUSTER, ready=False)
    front = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY_CFG.format(front=front, node=receiver.port))
    with open(tmp_path / "haproxy.log", "wb") as log:
        haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: pynetdicom_echo(front, source="127.0.0.5") == (True, None), 60, 0.2,
                   "a C-ECHO from a listed client through HAProxy")
        assert pynetdicom_echo(front, source="127.0.0.6") == (False, None)
        sock = socket.create_connection(("127.0.0.1", front), timeout=10, source_address=("127.0.0.6", 0))
        sock.sendall(associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])]))
        assert closed_unanswered(sock)
        sock.close()
        wait_until(lambda: "closing connection from 127.0.0.6: not in --peer-hosts" in receiver.log, 10,
                   what="the client's address in the refusal")
    finally:
        haproxy.terminate()
        haproxy.wait(10)


# ---- --min-free-space -------------------------------------------------------------------------

@pytest.fixture
def small_filesystem(tmp_path):
    """A 64 MiB tmpfs of its own (root only), unmounted afterwards."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def agent_says(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return sock.recv(100).decode()


def test_below_min_free_space_new_associations_get_transient_rj_and_in_flight_ones_finish(
        receiver_factory, small_filesystem, tmp_path):
    metrics_port, agent_port = free_port(), free_port()
    receiver = receiver_factory("--min-free-space", "16M", "--embedded-profile", "--metrics-port", str(metrics_port),
                                "--agent-port", str(agent_port), *CLUSTER, output=small_filesystem)
    instance = make_instance(tmp_path / "ct.dcm")
    data = dataset_bytes(instance.read_bytes())
    held = associate(receiver.port, CT_IMAGE)                      # in flight when the disk fills
    filler = small_filesystem / ".filler"
    with open(filler, "wb") as f:                                  # leave ~8 MiB: below the 16 MiB mark
        f.write(bytes(56 << 20))
    started = time.monotonic()
    wait_until(lambda: pynetdicom_echo(receiver.port)[1] == (2, 3, 1), 10, 0.2,
               "A-ASSOCIATE-RJ transient / temporary congestion")
    assert time.monotonic() - started < 5
    assert store(held, CT_IMAGE, "1.2.826.0.1.3680043.9.7777.1", data) == 0     # in flight: finishes
    release(held)
    assert agent_says(agent_port) == "drain\n"
    samples = scrape(metrics_port)
    assert samples[("dcmrecv_cluster_low_space", ())] == 1
    assert samples[("dcmrecv_cluster_free_space_bytes", ())] < 16 << 20
    filler.unlink()
    wait_until(lambda: pynetdicom_echo(receiver.port) == (True, None), 10, 0.2, "admission once space is back")
    assert agent_says(agent_port).startswith("ready up")
    log = receiver.log
    assert log.count("below --min-free-space 16.0 MiB: refusing new associations") == 1, log
    assert log.count("accepting associations again") == 1, log
    assert "Refusing Association from 127.0.0.1: less than --min-free-space 16M free" in log


def test_min_free_space_needs_a_size(tmp_path):
    done = subprocess.run([str(BIN / "dcmrecv-cluster"), "--min-free-space", "lots", "104"], capture_output=True,
                          text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 1 and "use a size like 2G or 500M" in done.stderr


def test_metrics_bind_puts_the_status_port_on_its_own_address(receiver_factory):
    metrics_port = free_port()
    receiver = receiver_factory("--workers", "1", "--metrics-port", str(metrics_port), "--metrics-bind", "127.0.0.3")
    assert echo(receiver.port) == 0                                  # DICOM: every address, as dcmrecv
    with urllib.request.urlopen(f"http://127.0.0.3:{metrics_port}/metrics", timeout=10) as answer:
        assert b"dcmrecv_cluster_associations_total" in answer.read()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", metrics_port), timeout=5).close()


# ---- a CURVE-protected event stream ------------------------------------------------------------

def curve_subscriber(context, endpoint: str, server_public: bytes, client_cert: str | None):
    import zmq
    import zmq.auth
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    if client_cert is not None:
        public, secret = zmq.auth.load_certificate(client_cert)
        sub.curve_serverkey, sub.curve_publickey, sub.curve_secretkey = server_public, public, secret
    sub.connect(endpoint)
    sub.subscribe(b"")
    return sub


def test_curve_event_stream_gives_nothing_without_an_allowed_key(receiver_factory, tmp_path):
    import zmq
    import zmq.auth

    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    keys.mkdir(), allowed.mkdir()
    server_public_file, server_secret_file = zmq.auth.create_certificates(keys, "server")
    good_public, good_secret = zmq.auth.create_certificates(keys, "good")
    _, stranger_secret = zmq.auth.create_certificates(keys, "stranger")
    (allowed / "good.key").write_bytes(open(good_public, "rb").read())
    server_public, _ = zmq.auth.load_certificate(server_public_file)

    metrics_port, endpoint = free_port(), f"tcp://127.0.0.1:{free_port()}"
    receiver = receiver_factory("--embedded-profile", "--metrics-port", str(metrics_port), "--events", endpoint,
                                "--events-curve-key", str(server_secret_file), "--events-curve-clients", str(allowed),
                                *CLUSTER)
    context = zmq.Context()
    good = curve_subscriber(context, endpoint, server_public, good_secret)
    stranger = curve_subscriber(context, endpoint, server_public, stranger_secret)
    plain = curve_subscriber(context, endpoint, server_public, None)
    try:
        wait_until(lambda: status_page(metrics_port).get("events", {}).get("subscriptions") == 1,
                   15, 0.05, "the allowed subscription to reach the node")
        files = make_series(tmp_path / "in", 4)
        assert storescu(receiver.port, files).returncode == 0
        received = []
        deadline = time.monotonic() + 15
        while len(received) < len(files) and time.monotonic() < deadline:
            if good.poll(100):
                received.append(good.recv())
        assert len(received) == len(files)
        assert not stranger.poll(500) and not plain.poll(100)
        assert status_page(metrics_port)["events"]["subscriptions"] == 1
    finally:
        for sock in (good, stranger, plain):
            sock.close()
        context.term()


@pytest.mark.parametrize("extra, message", [
    (["--events-curve-key", "x"], "must be given together"),
    (["--events-curve-key", "/nonexistent", "--events-curve-clients", "/"], "cannot read --events-curve-key"),
])
def test_curve_option_errors(extra, message, tmp_path):
    done = subprocess.run([str(BIN / "dcmrecv-cluster"), "--events", "tcp://127.0.0.1:1", *extra, "104"],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_shipped_systemd_unit_verifies(tmp_path):
    analyze = "/usr/bin/systemd-analyze"
    if not os.access(analyze, os.X_OK):
        pytest.skip("systemd-analyze not installed")
    shipped = (Path(__file__).parent.parent / "deploy" / "dcmrecv-cluster.service").read_text()
    assert "User=dcmrecv" in shipped and "NoNewPrivileges=yes" in shipped and "ProtectSystem=strict" in shipped
    unit = tmp_path / "dcmrecv-cluster.service"      # ExecStart must exist for verify: this venv's
    unit.write_text(shipped.replace("/opt/dcmrecv-cluster/.venv/bin/dcmrecv-cluster", str(BIN / "dcmrecv-cluster")))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and unit.name not in done.stdout + done.stderr, done.stdout + done.stderr


def test_throttle_shows_the_first_lines_then_a_count():
    from dcmrecv_cluster.shared.throttle import Throttle
    now = [0.0]
    lines = []
    throttle = Throttle(lambda letter, text: lines.append(f"{letter}: {text}"), interval=10, burst=2,
                        clock=lambda: now[0])
    for n in range(5):
        throttle("a", "W", f"refused {n}", summary="refusals")
    throttle("b", "E", "other")
    throttle.flush()
    assert lines == ["W: refused 0", "W: refused 1", "E: other"]
    now[0] = 10.0
    throttle.flush()
    assert lines[3:] == ["W: 3 more: refusals (in the last 10 s)"]
    throttle("a", "W", "refused 5")
    assert lines[4:] == ["W: refused 5"]


def test_refusals_past_max_associations_are_a_few_lines(receiver_factory):
    receiver = receiver_factory("--max-associations", "1", *CLUSTER)
    held, kind, _ = raw_association(receiver.port, b"HOLDER")
    assert kind == 0x02
    try:
        for _ in range(30):
            sock, kind, body = raw_association(receiver.port, b"RETRIER")
            sock.close()
            assert (kind, body[1:4]) == (0x03, bytes((2, 3, 2)))
    finally:
        release(held)
    # The first three refusals of a 10 s window are logged (the log arrives a little later), no more.
    wait_until(lambda: receiver.log.count("--max-associations 1 reached") >= 3, 10, 0.05, "three refusal lines")
    assert receiver.log.count("--max-associations 1 reached") == 3, receiver.log
