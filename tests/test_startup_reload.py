"""What a node says and does at start-up and on SIGHUP, at the default log level."""

from __future__ import annotations

import signal
import subprocess
import sys

from dcmrecv_cluster.shared.naming import temp_name

from .support.service import wait_until


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped): nobody can own its temp files."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sighup_logs_one_info_line_with_old_and_new_worker_pids(receiver_factory) -> None:
    receiver = receiver_factory("--workers", "2")
    old = sorted(receiver.workers())
    assert len(old) == 2
    receiver.process.send_signal(signal.SIGHUP)
    lines = wait_until(lambda: [line for line in receiver.log.splitlines() if "SIGHUP" in line], 20, 0.05,
                       "the reload line")
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("I: SIGHUP: reloaded association profile"), line
    for pid in old:
        assert str(pid) in line
    new = wait_until(lambda: sorted(set(receiver.workers()) - set(old)) or None, 20, 0.05, "the new workers")
    for pid in new:
        assert str(pid) in line


def test_start_up_removes_this_hosts_leftover_temp_files_only(receiver_factory, tmp_path) -> None:
    out = tmp_path / "out"
    day = out / "data" / "2024" / "01" / "02"
    day.mkdir(parents=True)
    dead = _dead_pid()
    leftovers = [out / temp_name(dead, 1), day / temp_name(dead, 2)]
    alive = out / temp_name(1, 3)                     # pid 1 runs: maybe another node's worker
    foreign = out / ".dcmrecv-cluster-otherhost-4242-1.tmp"
    stored = out / "CT.1.2.3"
    for path in (*leftovers, alive, foreign, stored):
        path.write_bytes(b"partial")
    receiver = receiver_factory("+ssd", output=out)
    wait_until(lambda: "removed 2 leftover temp file(s)" in receiver.log, 20, 0.05, "the clean-up line")
    assert not any(path.exists() for path in leftovers)
    assert alive.exists() and foreign.exists() and stored.exists()
