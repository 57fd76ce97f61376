"""Start the real dcmrecv-cluster (and DCMTK tools) on loopback, and watch it from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .net import free_port
from .tools import dcmtk

#: The venv of the test run: its dcmrecv-cluster is the one under test.
BIN = Path(sys.executable).parent


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


#: What reading /proc/<pid>/... raises when the process is gone (reaped, or exiting mid-read).
VANISHED = (FileNotFoundError, ProcessLookupError)


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except VANISHED:
        return []


def descendants_of(pid: int) -> list[int]:
    found = []
    for child in children_of(pid):
        found.append(child)
        found.extend(descendants_of(child))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (*VANISHED, IndexError):
        return False
    return state != "Z"


class Receiver:
    """A running dcmrecv-cluster (or any dcmrecv-compatible command) with its log captured."""

    def __init__(self, args: list[str], cwd: Path, port: int, command: list[str] | None = None,
                 env: dict | None = None) -> None:
        self.cwd = cwd
        self.launch = (command or [str(BIN / "dcmrecv-cluster")]) + args, env
        self._start(port)

    def _start(self, port: int) -> None:
        self.port = port
        self.log_path = self.cwd / f"receiver-{port}.log"
        self.log_file = open(self.log_path, "wb")
        argv, env = self.launch
        self.process = subprocess.Popen(argv + [str(port)], cwd=self.cwd, stdout=self.log_file,
                                        stderr=subprocess.STDOUT, env=env)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[int]:
        """Worker processes (multiprocess's resource tracker, if any, excluded).

        A child may exit between the listing and the read of its cmdline: it is no worker then.
        """
        found = []
        for pid in children_of(self.process.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except VANISHED:
                continue
            if b"resource_tracker" not in cmdline:
                found.append(pid)
        return found

    def wait_ready(self, timeout: float = 60.0) -> None:
        def answers():
            if self.process.poll() is not None:
                if self.process.returncode == 64 and "Address already in use" in self.log and self.restarts < 2:
                    # free_port()'s port was taken before the receiver bound it: start again on another.
                    self.restarts += 1
                    self.log_file.close()
                    self._start(free_port())
                    return False
                raise AssertionError(f"receiver exited with {self.process.returncode}:\n{self.log}")
            return echo(self.port) == 0
        self.restarts = 0
        wait_until(answers, timeout, 0.2, "the receiver to answer C-ECHO")

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in descendants_of(self.process.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass    # exited since the listing
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode


def echo(port: int, *extra: str) -> int:
    return subprocess.run([dcmtk("echoscu"), *extra, "127.0.0.1", str(port)],
                          capture_output=True, timeout=60).returncode


def storescu(port: int, files, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([dcmtk("storescu"), *extra, "127.0.0.1", str(port), *map(str, files)],
                          capture_output=True, text=True, timeout=300, env=env)


def stored_files(directory: Path) -> list[Path]:
    """What an operator sees: every non-hidden file below the output directory."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))


def hidden_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob(".*") if p.is_file())
