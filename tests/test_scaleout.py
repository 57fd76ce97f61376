"""Scale-out on one machine: three nodes on 127.0.0.11-13 behind the real HAProxy (deploy/haproxy.cfg).

Load through the balancer is stored exactly once with the client's address in the nodes' logs;
a SIGKILLed node is marked DOWN fast and the driver's --retry gets every instance acknowledged
and on disk once; a SIGTERMed node drains without failing an association; a frozen (SIGSTOP)
node is taken out by the C-ECHO check; +fsu names from three nodes into one folder never meet.
Figures (detection, drain, recovery times) are printed: run with -s to see them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcmrecv_cluster.shared import naming
from dcmrecv_cluster.supervisor import drain

from .support.net import free_port
from .support.service import BIN, descendants_of, stored_files, wait_until
from .support.tools import HAPROXY

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
INTER = "500ms"              # check and agent interval for the tests (shipped: 1s)
needs_haproxy = pytest.mark.skipif(not os.access(HAPROXY, os.X_OK),
                                   reason=f"{HAPROXY} absent: `make test` installs the haproxy package")


class Node:
    """One dcmrecv-cluster node on its own loopback address, its log in a file."""

    def __init__(self, n: int, port: int, agent_port: int, out: Path, workdir: Path, extra=(),
                 address: str | None = None, proxy: bool = True) -> None:
        self.n, self.port, self.agent_port, self.out, self.workdir = n, port, agent_port, out, workdir
        self.address = address or f"127.0.0.{10 + n}"
        self.extra, self.proxy, self.runs = list(extra), proxy, 0
        self.start()

    def start(self) -> None:
        self.runs += 1
        self.log_path = self.workdir / f"node{self.n}-{self.runs}.log"
        args = [str(BIN / "dcmrecv-cluster"), "--workers", "1", "--embedded-profile", "-v", "-dhl",
                "--bind", self.address, "--node-id", str(self.n), "--agent-port", str(self.agent_port),
                "-od", str(self.out), *self.extra]
        if self.proxy:
            args += ["--proxy-protocol", "v2", "--proxy-trust", "127.0.0.1/32"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args + [str(self.port)], stdout=log, stderr=subprocess.STDOUT)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def agent(self) -> str:
        """What the agent says, asked from 127.0.0.9: HAProxy (127.0.0.1) still gets its own `ready`."""
        try:
            with socket.create_connection((self.address, self.agent_port), timeout=0.5,
                                          source_address=("127.0.0.9", 0)) as s:
                return s.recv(100).decode()
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60) -> None:
        def ready():
            assert self.process.poll() is None, f"node {self.n} exited {self.process.returncode}:\n{self.log}"
            return self.agent().startswith(("ready", "up"))
        wait_until(ready, timeout, 0.1, f"node {self.n} to be ready")

    def kill(self) -> None:
        """SIGKILL the whole node (supervisor and workers), as a machine that dies."""
        for pid in [self.process.pid, *descendants_of(self.process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(10)

    def stop(self, signalled: bool = False) -> int | None:
        """SIGTERM (once: a second one means "stop at once") and wait for the exit status."""
        if self.process.poll() is None:
            if not signalled:
                os.kill(self.process.pid, signal.SIGCONT)
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


class Balancer:
    """HAProxy in the foreground with the shipped configuration, addresses from the environment."""

    def __init__(self, workdir: Path, front: int, node_port: int, agent_port: int) -> None:
        self.front, self.admin = front, workdir / "admin.sock"
        env = dict(os.environ, DCMRECV_LB_ADMIN=str(self.admin), DCMRECV_LB_BIND=f"127.0.0.1:{front}",
                   DCMRECV_NODE_PORT=str(node_port), DCMRECV_AGENT_PORT=str(agent_port),
                   DCMRECV_LB_INTER=INTER, DCMRECV_LB_CHECK_TIMEOUT="1s")
        self.log_path = workdir / "haproxy.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([HAPROXY, "-db", "-f", str(DEPLOY / "haproxy.cfg")], env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.admin.exists, 10, 0.05, "HAProxy's admin socket")

    def command(self, text: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.admin))
            s.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def states(self) -> dict[str, str]:
        lines = self.command("show stat").splitlines()
        columns = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(columns, line.split(","), strict=False)) for line in lines[1:] if line]
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == "dicom_nodes" and r["svname"].startswith("n")}

    def wait_state(self, server: str, prefix: str, timeout: float = 20) -> float:
        """Seconds until `server`'s status starts with `prefix`, polled every 20 ms."""
        t0 = time.monotonic()
        wait_until(lambda: self.states()[server].startswith(prefix), timeout, 0.02, f"{server} {prefix}")
        return time.monotonic() - t0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def drive(port: int, *args: str, host: str = "127.0.0.1", background: bool = False, json_path: Path):
    command = [sys.executable, "-m", "dcmrecv_cluster.loadtest.cli", host, str(port), "--preset", "mr",
               "-q", "--json", str(json_path), *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc if background else _finish(proc, json_path)


def _finish(proc: subprocess.Popen, json_path: Path, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert json_path.exists(), out + err
    summary = json.loads(json_path.read_text())
    summary["_rc"], summary["_output"] = proc.returncode, out + err
    return summary


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not os.access(HAPROXY, os.X_OK):
        pytest.skip(f"{HAPROXY} absent: `make test` installs the haproxy package")
    work = tmp_path_factory.mktemp("cluster")
    out = work / "shared-od"              # one output folder for all nodes (+fd)
    out.mkdir()
    addresses = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    port, agent = free_port(*addresses), free_port(*addresses)
    nodes = {n: Node(n, port, agent, out, work) for n in (1, 2, 3)}
    balancer = None
    try:
        for node in nodes.values():
            node.wait_ready()
        balancer = Balancer(work, free_port("127.0.0.1"), port, agent)
        for name in ("n1", "n2", "n3"):
            balancer.wait_state(name, "UP")
        yield {"nodes": nodes, "lb": balancer, "out": out, "work": work}
    finally:
        if balancer is not None:
            balancer.stop()
        _stop_all(nodes.values())


def _stop_all(nodes) -> list:
    """SIGTERM every node first, then wait: the drain notices run side by side."""
    for node in nodes:
        if node.process.poll() is None:
            os.kill(node.process.pid, signal.SIGCONT)
            node.process.send_signal(signal.SIGTERM)
    return [node.stop(signalled=True) for node in nodes]


def _restart(cluster, n: int) -> None:
    node = cluster["nodes"][n]
    node.start()
    node.wait_ready()
    cluster["lb"].wait_state(f"n{n}", "UP")


def _new_files(out: Path, before: set) -> list[Path]:
    return [p for p in stored_files(out) if p not in before]


# ---- end to end through HAProxy ------------------------------------------------------------------


@needs_haproxy
def test_three_nodes_store_a_load_once_with_the_clients_address(cluster, tmp_path):
    out, nodes = cluster["out"], cluster["nodes"]
    before = set(stored_files(out))
    summary = drive(cluster["lb"].front, "-n", "240", "-a", "6", "--per-association", "10",
                    "--source-address", "127.0.0.21", json_path=tmp_path / "run.json")
    assert summary["_rc"] == 0, summary["_output"]
    assert summary["instances"]["acknowledged"] == 240
    new = _new_files(out, before)
    assert len(new) == 240 and len({p.name for p in new}) == 240
    assert all(p.name.startswith("MR.1.2.826.0.1.3680043.8.498.") for p in new)
    # Worker log lines reach each node's log asynchronously: wait for all of them first.
    wait_until(lambda: sum(node.log.count("Association Received 127.0.0.21: LOADTEST -> ANY-SCP")
                           for node in nodes.values()) >= 24, 10, 0.05, "every association in the logs")
    per_node = {}
    for n, node in nodes.items():
        log = node.log
        per_node[n] = log.count("Association Received 127.0.0.21: LOADTEST -> ANY-SCP")
        assert "Association Received 127.0.0.1: LOADTEST" not in log        # never the balancer's address
        assert "Association Received 127.0.0.1: HAPROXY-CHECK -> ANY-SCP" in log   # LOCAL: the real peer
        assert "127.0.0.21: HAPROXY-CHECK" not in log
    assert sum(per_node.values()) == summary["associations"]["accepted"] == 24
    assert all(count > 0 for count in per_node.values()), per_node
    print(f"\nassociations per node (leastconn): {per_node}; "
          f"{summary['instances_per_s']:.0f} instances/s through HAProxy")


@needs_haproxy
def test_sigkill_mid_load_is_detected_and_retry_stores_everything_once(cluster, tmp_path):
    out, lb, node = cluster["out"], cluster["lb"], cluster["nodes"][2]
    before = set(stored_files(out))
    load = drive(lb.front, "-n", "420", "-a", "6", "--per-association", "6", "--retry", "3",
                 "--source-address", "127.0.0.22", background=True, json_path=tmp_path / "run.json")
    wait_until(lambda: len(_new_files(out, before)) >= 60, 60, 0.02, "the load to be under way")
    t_kill = time.monotonic()
    node.kill()
    detected = lb.wait_state("n2", "DOWN", timeout=10)
    summary = _finish(load, tmp_path / "run.json")
    assert summary["_rc"] == 0, (summary["instances"], summary["failures"], summary["retry"])
    assert summary["instances"]["acknowledged"] == 420
    assert summary["instances"]["failed"] == summary["instances"]["not_sent"] == 0
    retry = summary["retry"]
    assert retry["association_failures"], "the kill failed no association: nothing was proven"
    assert retry["recovered"] == retry["resent"]
    new = _new_files(out, before)
    assert len(new) == 420 and len({p.name for p in new}) == 420     # +fd: one file per SOP Instance UID
    assert detected < 2.5, f"n2 marked DOWN {detected:.2f} s after SIGKILL"
    print(f"\nSIGKILL -> DOWN {detected:.2f} s (inter {INTER} fall 2); "
          f"{retry['resent']} instance(s) re-sent, association failures {retry['association_failures']}; "
          f"kill to end of load {time.monotonic() - t_kill:.1f} s")
    _restart(cluster, 2)


@needs_haproxy
def test_planned_drain_loses_no_association(cluster, tmp_path):
    out, lb, node = cluster["out"], cluster["lb"], cluster["nodes"][1]
    before = set(stored_files(out))
    load = drive(lb.front, "-n", "360", "-a", "6", "--per-association", "6",
                 "--source-address", "127.0.0.23", background=True, json_path=tmp_path / "run.json")
    wait_until(lambda: len(_new_files(out, before)) >= 50, 60, 0.02, "the load to be under way")
    t_term = time.monotonic()
    node.process.send_signal(signal.SIGTERM)
    seen_drain = None
    while node.process.poll() is None and time.monotonic() - t_term < 40:
        if seen_drain is None and lb.states()["n1"].startswith("DRAIN"):
            seen_drain = time.monotonic() - t_term
        time.sleep(0.02)
    drain_time = time.monotonic() - t_term
    summary = _finish(load, tmp_path / "run.json")
    assert node.process.returncode == 0, node.log
    assert summary["_rc"] == 0, summary["_output"]
    assert summary["associations"]["failed"] == 0 and summary["failures"]["association"] == {}
    assert summary["instances"]["acknowledged"] == 360
    assert len(_new_files(out, before)) == 360
    assert seen_drain is not None, "HAProxy never showed the node as DRAIN"
    assert "draining: accepting for 2 s more" in node.log
    print(f"\nSIGTERM -> HAProxy DRAIN {seen_drain:.2f} s; SIGTERM -> node exited 0 after {drain_time:.2f} s "
          f"(2 s notice + in-flight associations); 0 associations failed")
    _restart(cluster, 1)


@needs_haproxy
def test_frozen_node_is_taken_out_by_the_c_echo_check(cluster, tmp_path):
    out, lb, node = cluster["out"], cluster["lb"], cluster["nodes"][3]
    os.kill(node.process.pid, signal.SIGSTOP)      # the supervisor: TCP still connects (kernel backlog)
    t_stop = time.monotonic()
    try:
        detected = lb.wait_state("n3", "DOWN", timeout=15)
        with socket.create_connection((node.address, node.port), timeout=2):
            pass                                   # a plain TCP check would have passed
        before = set(stored_files(out))
        summary = drive(lb.front, "-n", "60", "-a", "3", json_path=tmp_path / "run.json")
        assert summary["_rc"] == 0, summary["_output"]
        assert len(_new_files(out, before)) == 60
    finally:
        os.kill(node.process.pid, signal.SIGCONT)
    recovered = lb.wait_state("n3", "UP", timeout=15)
    assert detected < 6.0
    print(f"\nSIGSTOP -> DOWN {detected:.2f} s (inter {INTER} fall 2, timeout check 1s); "
          f"SIGCONT -> UP {recovered:.2f} s; total {time.monotonic() - t_stop:.1f} s")


@needs_haproxy
def test_operator_drain_holds_while_the_agent_keeps_answering(cluster):
    lb, node = cluster["lb"], cluster["nodes"][3]
    wait_until(lambda: node.agent().startswith("up "), drain.READY_WINDOW + 5, 0.2, "the agent past `ready`")
    lb.command("set server dicom_nodes/n3 state drain")
    try:
        deadline = time.monotonic() + 6 * 0.5           # six agent polls at inter 500ms
        while time.monotonic() < deadline:
            assert lb.states()["n3"].startswith("DRAIN")
            time.sleep(0.1)
    finally:
        lb.command("set server dicom_nodes/n3 state ready")
    lb.wait_state("n3", "UP")


def test_node_reads_proxy_headers_before_the_hand_off(tmp_path):
    """Without HAProxy: the client's address from PROXY reaches the log; LOCAL probes pass a full
    node (--max-associations) while clients are refused; no header or an untrusted peer: closed."""
    from .support.proxyv2 import pack
    from .support.rawscu import VERIFICATION, associate_rq, read_pdu, release

    port, agent = free_port("127.0.0.41"), free_port("127.0.0.41")
    node = Node(1, port, agent, tmp_path, tmp_path, extra=["--max-associations", "1", "--drain-notice", "0"],
                address="127.0.0.41")
    rq = associate_rq([(1, VERIFICATION, ["1.2.840.10008.1.2"])])

    def connect(header: bytes, source: str = "127.0.0.1") -> socket.socket:
        sock = socket.create_connection((node.address, port), timeout=10, source_address=(source, 0))
        sock.sendall(header + rq)
        return sock

    try:
        node.wait_ready()
        held = connect(pack(src=("203.0.113.50", 4242), dst=(node.address, port)))
        assert read_pdu(held)[0] == 0x02                              # the one admitted association
        refused = connect(pack(src=("203.0.113.51", 4243), dst=(node.address, port)))
        kind, body = read_pdu(refused)
        assert (kind, body[-3:]) == (0x03, bytes((2, 3, 2)))          # RJ transient, local limit exceeded
        refused.close()
        probe = connect(pack(command=0, family=0))
        assert read_pdu(probe)[0] == 0x02                             # LOCAL: exempt from the limit
        release(probe)
        for header, source in ((b"", "127.0.0.1"), (pack(), "127.0.0.5")):   # no header; untrusted peer
            sock = connect(header, source)
            try:
                assert read_pdu(sock) == (0, b"")                     # closed, nothing answered
            except ConnectionResetError:
                pass
            sock.close()
        release(held)
        wait_until(lambda: "Association Received 203.0.113.50: RAWSCU -> ANY-SCP" in node.log
                   and "Association Received 127.0.0.1: RAWSCU" in node.log, 10, 0.05,
                   "the client's and the probe's associations in the log")
        log = node.log
        assert "Refusing Association from 203.0.113.51: --max-associations 1 reached" in log
        assert "Association Received 127.0.0.1: RAWSCU" in log        # LOCAL: the real peer
        assert "closing connection from 127.0.0.1: no PROXY v2 signature" in log
        assert "closing connection from 127.0.0.5: not in --proxy-trust" in log
    finally:
        assert node.stop() == 0


# ---- names across nodes ---------------------------------------------------------------------------


def test_fsu_candidates_of_different_nodes_never_meet():
    """Same creation second, same seed (nodes started together): disjoint by construction."""
    sets = [set(naming.ShortNameGenerator(1_700_000_000, node).candidates(1_700_000_001)) for node in (1, 2, 3)]
    assert all(len(s) == naming.MAX_TRY for s in sets)
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    dcmtk = list(naming.ShortNameGenerator(1_700_000_000).candidates(1_700_000_001))
    for node, candidates in zip((1, 2, 3), sets, strict=True):
        assert {c[:8] + f"{node:02x}" + c[10:] for c in dcmtk} == candidates   # only the top byte differs
    with pytest.raises(ValueError):
        naming.ShortNameGenerator(node_id=256)


def test_fsu_from_three_nodes_into_one_directory(tmp_path):
    out = tmp_path / "shared-od"
    out.mkdir()
    nodes = ("127.0.0.31", "127.0.0.32", "127.0.0.33")
    port, agent = free_port(*nodes), free_port(*nodes)
    nodes = [Node(n, port, agent, out, tmp_path, extra=["+fsu", "--drain-notice", "0"], address=f"127.0.0.3{n}",
                  proxy=False)
             for n in (1, 2, 3)]
    try:
        for node in nodes:
            node.wait_ready()
        # --rate: a worker asks the name authority for 16 candidates per +fsu instance and a node has
        # 1024 a second, so one node stores at most 64 +fsu instances/s today (dcmrecv: 1024/s);
        # a slow association set-up makes the driver catch up in a burst, hence well below that.
        loads = [drive(port, "-n", "40", "-a", "1", "--rate", "20", host=node.address, background=True,
                       json_path=tmp_path / f"run{node.n}.json") for node in nodes]
        summaries = [_finish(load, tmp_path / f"run{i}.json") for i, load in zip((1, 2, 3), loads, strict=True)]
    finally:
        codes = _stop_all(nodes)
    assert codes == [0, 0, 0]
    for summary in summaries:
        assert summary["_rc"] == 0 and summary["instances"]["acknowledged"] == 40, summary["failures"]
    names = [p.name for p in stored_files(out)]
    assert len(names) == 120
    assert all(re.fullmatch(r"MR_[0-9a-f]{16}", name) for name in names)
    by_node = {n: sum(1 for name in names if name[11:13] == f"{n:02x}") for n in (1, 2, 3)}
    assert by_node == {1: 40, 2: 40, 3: 40}
    heads = {name[3:11] for name in names}
    print(f"\n+fsu: 120 files from 3 nodes, creation-time words {sorted(heads)}, per node {by_node}")


# ---- pieces: the state machine, the agent, the shipped configuration ----------------------------------


def test_lifecycle_moves_forward_and_the_agent_says_ready_once():
    now = [100.0]
    life = drain.Lifecycle(clock=lambda: now[0])
    assert life.agent_reply() == b"down#starting\n" and life.healthz()[0] == 503
    assert life.ready()
    assert life.agent_reply(0, 10, "10.0.0.1") == b"ready up 100%\n"
    assert life.agent_reply(0, 10, "10.0.0.1") == b"ready up 100%\n"    # within the first seconds
    now[0] += drain.READY_WINDOW
    assert life.agent_reply(3, 10, "10.0.0.1") == b"up 70%\n"   # never 'ready' again: an operator's drain holds
    assert life.agent_reply(3, 10, "10.0.0.2") == b"ready up 70%\n"   # a second balancer gets its own
    assert life.agent_reply(10, 10, "10.0.0.2") == b"up 1%\n"   # full: weight 1, not 0 (0 would be drain)
    assert life.healthz() == (200, b"ready\n")
    assert life.drain(2) and not life.ready() and life.draining
    assert life.agent_reply() == b"drain\n" and life.healthz()[0] == 503
    assert not life.notice_over()
    now[0] += 2
    assert life.notice_over()
    assert life.stop() and not life.drain(5)
    assert life.agent_reply() == b"down#stopping\n" and not life.notice_over()


def test_drain_notice_defaults():
    class Options:
        port, agent_port, proxy_protocol, drain_notice = 104, None, None, None

    o = Options()
    assert drain.notice_seconds(o) == 0                      # standalone: dcmrecv's immediate stop
    o.agent_port = 105
    assert drain.notice_seconds(o) == drain.DEFAULT_NOTICE
    o.drain_notice = 7
    assert drain.notice_seconds(o) == 7
    o.agent_port = 104
    assert "differ" in drain.option_problem(o)


def test_agent_server_answers_one_line_and_closes():
    class Options:
        agent_port, bind_address = free_port("127.0.0.1"), "127.0.0.1"

    now = [0.0]
    agent = drain.open_agent(Options(), drain.Lifecycle(clock=lambda: now[0]))
    try:
        agent.lifecycle.ready()
        now[0] += drain.READY_WINDOW
        agent.load = lambda: (1, 4)
        replies = []
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", Options.agent_port), timeout=2) as client:
                wait_until(lambda: agent.service() or agent.answered > len(replies), 5, 0.01, "an answer")
                replies.append(client.recv(100))
                assert client.recv(100) == b""               # closed after one line
        assert replies == [b"ready up 75%\n", b"up 75%\n"]
        from dcmrecv_cluster.supervisor.listener import ListenError
        with pytest.raises(ListenError):
            drain.open_agent(Options())                             # the port is taken: exit 64 at start-up
    finally:
        agent.close()


def test_shipped_haproxy_configuration():
    spec = importlib.util.spec_from_file_location("echo_check", DEPLOY / "echo_check.py")
    echo_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(echo_check)
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    lines = [line.strip() for line in cfg.splitlines()]
    check = echo_check.tcp_check_lines()
    at = lines.index(check[0])
    assert lines[at:at + len(check)] == check                 # the C-ECHO check, as generated
    for needed in ("mode tcp", "balance leastconn", "option redispatch", "option tcp-check",
                   "tcp-check expect rbinary ^02 comment A-ASSOCIATE-AC"):
        assert needed in lines, needed
    server_defaults = next(line for line in lines if line.startswith("default-server"))
    for word in ("send-proxy-v2", "check", "agent-check", "maxconn", "weight 100"):
        assert word in server_defaults
    assert not any(line.startswith("tcp-check connect") and line != "tcp-check connect default" for line in lines)
    if os.access(HAPROXY, os.X_OK):
        result = subprocess.run([HAPROXY, "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_proxy_options_are_checked_at_start_up(tmp_path):
    def run(*args):
        return subprocess.run([str(BIN / "dcmrecv-cluster"), *args], capture_output=True, text=True, timeout=30)

    result = run("--proxy-protocol", "v2", "104")
    assert result.returncode == 1 and "--proxy-protocol only allowed with --proxy-trust" in result.stderr
    result = run("--proxy-protocol", "v1", "--proxy-trust", "127.0.0.1", "104")
    assert result.returncode == 1 and "only v2 is supported" in result.stderr
    result = run("--node-id", "256", "104")
    assert result.returncode == 1 and "--node-id (overflow: 256)" in result.stderr
