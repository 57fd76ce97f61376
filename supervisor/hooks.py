"""storescp's event hooks (`-xcr`, `-xcs` with `-tos`), run by the supervisor from the STORED reports.

Why here and not in the workers: the supervisor sees every store of the node, so it alone can tell
that a study has been quiet for N seconds on all workers (storescp's "the next object belongs to
another study" rule means nothing with concurrent associations); and a hook never runs on a
worker's reactor, so it can never delay a C-STORE response.  Commands run with `/bin/sh -c` in a
bounded pool: a queue limit (`--hook-queue`, beyond it hooks are dropped, counted and logged), a
timeout (`--hook-timeout`, then the command's process group is killed), a fixed number of threads.
"""

from __future__ import annotations

import collections
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

POOL_THREADS = 4              # hooks running at once, per kind
DROP_LOG_INTERVAL = 1.0       # a flood of drops is logged at most once a second
SHUTDOWN_WAIT = 10.0          # at exit, queued/running hooks get this long before being killed
_PLACEHOLDER = re.compile(r"#([pfacr])")


def option_problem(options) -> str | None:
    """Combinations that cannot work, as an exit-1 command-line error naming why."""
    if getattr(options, "exec_sync", False):
        return ("--exec-sync not supported: hooks run in the supervisor after the C-STORE response, "
                "so a hook can never hold back an association's next response")
    if options.exec_on_eostudy and options.eostudy_timeout is None:
        return ("--exec-on-eostudy only allowed with --eostudy-timeout (a study is complete after "
                "that many seconds without an instance of it)")
    if options.eostudy_timeout is not None and not (options.exec_on_eostudy or options.events_endpoint):
        return "--eostudy-timeout only allowed with --exec-on-eostudy or --events"
    return None


def wanted(options) -> bool:
    return bool(options.exec_on_reception or options.eostudy_timeout is not None)


def quoted(ae_title: str | None) -> str:
    """storescp puts AE titles in double quotes in the command line."""
    return f'"{ae_title or ""}"'


def substitute(command: str, values: dict[str, str]) -> str:
    """One pass, so a value containing `#c` (an AE title, a file name) is never substituted again."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), command)


@dataclass
class Study:
    uid: str
    first: dict
    last_seen: float
    files: list[str] = field(default_factory=list)


@dataclass
class Job:
    kind: str                  # "reception" | "eostudy"
    template: str              # the command with its placeholders
    values: dict               # placeholder -> text, but #r: resolved by the pool thread from `peer`
    peer: str
    stdin: bytes | None
    what: str                  # for the log line
    association: str = ""


class HookPool:
    """A bounded queue and a few threads running `/bin/sh -c` with a timeout."""

    def __init__(self, kind: str, log, limit: int, timeout: float, counts, resolve) -> None:
        self.kind = kind
        self.resolve = resolve        # peer address -> #r text (a host lookup may block: done here)
        self.log = log
        self.timeout = timeout
        self.counts = counts          # callable(kind, outcome, seconds)
        self.jobs: queue.Queue[Job | None] = queue.Queue(limit)
        self.running: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.dropped = 0
        self.dropped_logged = 0
        self.next_drop_log = 0.0
        self.threads = [threading.Thread(target=self._run, name=f"hook-{kind}-{n}", daemon=True)
                        for n in range(POOL_THREADS)]
        for thread in self.threads:
            thread.start()

    def submit(self, job: Job) -> bool:
        try:
            self.jobs.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            self.counts(self.kind, "dropped", None)
            now = time.monotonic()
            if now >= self.next_drop_log:
                self.next_drop_log = now + DROP_LOG_INTERVAL
                self.log.record("W", f"{self.kind} hook queue full ({self.jobs.maxsize} waiting): "
                                f"{self.dropped - self.dropped_logged} hook(s) dropped, {self.dropped} in all, "
                                f"last for {job.what}", association=job.association)
                self.dropped_logged = self.dropped
            return False

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            self._execute(job)

    def _execute(self, job: Job) -> None:
        started = time.monotonic()
        command = substitute(job.template, {**job.values, "r": quoted(self.resolve(job.peer))})
        try:
            process = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE if job.stdin else
                                       subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.counts(self.kind, "failed", None)
            self.log.record("E", f"cannot execute {self.kind} hook for {job.what}: {exc.strerror}",
                            association=job.association)
            return
        with self.lock:
            self.running.add(process)
        try:
            try:
                process.communicate(job.stdin, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                process.wait()
                seconds = time.monotonic() - started
                self.counts(self.kind, "timeout", seconds)
                self.log.record("W", f"{self.kind} hook for {job.what} killed after {self.timeout:g} s",
                                association=job.association)
                return
            except BrokenPipeError:          # the command did not read its standard input
                process.wait()
        finally:
            with self.lock:
                self.running.discard(process)
        seconds = time.monotonic() - started
        status = process.returncode
        self.counts(self.kind, "ok" if status == 0 else "failed", seconds)
        how = f"exit status {status}" if status >= 0 else f"killed by signal {-status}"
        self.log.record("I" if status == 0 else "W",
                        f"{self.kind} hook for {job.what}: {how} in {seconds:.3f} s", association=job.association)

    def close(self, deadline: float) -> None:
        """Let queued hooks run until `deadline`, then kill what still runs."""
        for _ in self.threads:
            while True:
                try:
                    self.jobs.put(None, timeout=max(0.01, deadline - time.monotonic()))
                    break
                except queue.Full:
                    if time.monotonic() >= deadline:
                        self._drain_queue()
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            for process in list(self.running):
                _kill_group(process)
        for thread in self.threads:
            thread.join(1.0)

    def _drain_queue(self) -> None:
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self.dropped += 1
                self.counts(self.kind, "dropped", None)


class Hooks:
    """Fed by the arbiter: `stored(record)` per STORED report, `tick()` each loop turn, `close()`."""

    def __init__(self, options, log, telemetry) -> None:
        self.options = options
        self.log = log
        self.telemetry = telemetry
        self.host_lookup = not options.disable_host_lookup
        self.hosts: dict[str, str] = {}
        self.timeout = options.eostudy_timeout
        self.studies: collections.OrderedDict[str, Study] = collections.OrderedDict()   # oldest activity first
        self.cwd = os.getcwd()
        self.reception = (HookPool("reception", log, options.hook_queue, options.hook_timeout, telemetry.hook,
                                   self._host) if options.exec_on_reception else None)
        self.eostudy = (HookPool("eostudy", log, options.hook_queue, options.hook_timeout, telemetry.hook,
                                 self._host) if options.exec_on_eostudy else None)

    def stored(self, record: dict) -> None:
        if record.get("status") != 0 or not record.get("path"):   # --ignore stores nothing: no hook
            return
        path = record["path"]
        if self.reception is not None:
            directory, name = os.path.split(path)
            values = {"p": directory, "f": name, "a": quoted(record.get("calling_ae_title")),
                      "c": quoted(record.get("called_ae_title"))}
            self.reception.submit(Job("reception", self.options.exec_on_reception, values, record.get("peer") or "",
                                      None, name, record.get("association", "")))
        if self.timeout is not None:
            uid = record.get("study_instance_uid") or ""
            study = self.studies.get(uid)
            if study is None:
                study = self.studies[uid] = Study(uid, record, time.monotonic())
            else:
                self.studies.move_to_end(uid)
                study.last_seen = time.monotonic()
            study.files.append(os.path.normpath(os.path.join(self.cwd, path)))

    def tick(self) -> None:
        """Complete every study quiet for --eostudy-timeout seconds (oldest activity first)."""
        now = time.monotonic()
        while self.studies:
            uid, study = next(iter(self.studies.items()))
            if now - study.last_seen < self.timeout:
                return
            del self.studies[uid]
            self._complete(study)

    def _complete(self, study: Study) -> None:
        self.telemetry.study(study.uid, study.files, study.first)
        if self.eostudy is None:
            return
        record = study.first
        directories = {os.path.dirname(f) for f in study.files}
        directory = (os.path.dirname(record["path"]) if len(directories) == 1
                     else (self.options.output_directory or "."))
        values = {"p": directory, "a": quoted(record.get("calling_ae_title")),
                  "c": quoted(record.get("called_ae_title"))}
        stdin = "".join(f + "\n" for f in study.files).encode()
        self.eostudy.submit(Job("eostudy", self.options.exec_on_eostudy, values, record.get("peer") or "", stdin,
                                f"study {study.uid or '(no Study Instance UID)'} ({len(study.files)} instance(s))"))

    def _host(self, address: str | None) -> str:
        """#r as storescp: the peer's host name (first label, as dcmrecv logs it) unless -dhl.
        Called by pool threads: a slow lookup never stalls the arbiter."""
        address = address or ""
        if not self.host_lookup or not address:
            return address
        host = self.hosts.get(address)
        if host is None:
            try:
                host = socket.gethostbyaddr(address)[0].split(".")[0]
            except OSError:
                host = address
            if len(self.hosts) < 4096:
                self.hosts[address] = host
        return host

    def close(self) -> None:
        """At exit no instance can arrive any more: open studies are complete now."""
        while self.studies:
            _, study = self.studies.popitem(last=False)
            self._complete(study)
        deadline = time.monotonic() + SHUTDOWN_WAIT
        for pool in (self.reception, self.eostudy):
            if pool is not None:
                pool.close(deadline)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
