"""Group commit: the stores that finish while one sync is in flight share the next one.

Durable one by one, every store waits for two journal commits (its data, then
its directory entry), and a journaled filesystem does a few hundred of those a
second. Here the worker's stores go through rounds, and each round costs one
``syncfs()`` per folder touched (the first on a filesystem commits the journal
for everything in it; the next find nothing left to do):

    round r:  rename the batch whose data round r-1 made durable
              syncfs()  -> those names and the data of every store that
                           finished since round r-1 are durable together
              answer the renamed batch; the newer one is renamed in round r+1

A name never appears before its data are on disk, and no success is answered
before the name is. Nothing waits to fill a batch: a lone store takes two
rounds at once, and batches grow only while a sync is in flight.

Everything but the sync runs on the reactor's thread: stage() and the renames
are a few cheap system calls, and keeping them there avoids handing the GIL
back and forth for each one. The one thread here only calls syncfs(), which
releases the GIL for its whole duration.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from typing import Callable

from dcmrecv_cluster.workers.dimse import OUT_OF_RESOURCES

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _syncfs = _libc.syncfs
    _syncfs.argtypes = [ctypes.c_int]
except (OSError, AttributeError):      # not Linux: fsync files and folders one by one instead
    _syncfs = None


def sync(staged: list, renamed: list) -> None:
    """Make the data of ``staged`` and the names of ``renamed`` durable (descriptors still open)."""
    if _syncfs is None:
        for writer in staged:
            os.fsync(writer.fd)
        for directory in {d for writer in renamed for d in writer.directories_to_sync}:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return
    # Through the stores' own files, so no folder is ever held open (a full volume must stay unmountable).
    seen = set()
    for writer in staged + renamed:
        if writer.directory not in seen:
            seen.add(writer.directory)
            if _syncfs(writer.fd) != 0:
                error = ctypes.get_errno()
                raise OSError(error, os.strerror(error))


def _sync_failed(exc: OSError, staged: list, renamed: list) -> list:
    """Every store of the round is answered with a failure; renamed files keep their (maybe lost) names."""
    answers = []
    for writer in staged:
        writer.fail_commit(exc)
        answers.append((writer, writer.outcome(OUT_OF_RESOURCES)))
    for writer in renamed:
        writer.log("E", f"cannot store received object: {writer.planned_path}: {exc.strerror}")
        answers.append((writer, writer.outcome(OUT_OF_RESOURCES)))
    return answers


def _publish_all(writers: list) -> tuple[list, list]:
    answers, renamed = [], []
    for writer in writers:
        outcome = writer.publish()
        answers.append((writer, outcome))
        if outcome.path is not None:
            renamed.append(writer)
    return answers, renamed


def _settle(renamed: list) -> None:
    for writer in renamed:
        writer.close_file()
        writer.forget_created_directories()


def commit_now(writer, durable: bool):
    """Both rounds for one store, in the caller's thread: for callers without a reactor (tests, tools)."""
    outcome = writer.stage()
    if outcome is not None:
        return outcome
    if durable:
        try:
            sync([writer], [])
        except OSError as exc:
            return _sync_failed(exc, [writer], [])[0][1]
    answers, renamed = _publish_all([writer])
    if durable and renamed:
        try:
            sync([], renamed)
        except OSError as exc:
            answers = _sync_failed(exc, [], renamed)
    _settle(renamed)
    return answers[0][1]


class GroupCommit:
    """The rounds of one worker, driven from its loop; ``answer(token, outcome)`` resumes a store's owner."""

    def __init__(self, durable: bool, answer: Callable[[object, object], None],
                 call_soon_threadsafe: Callable[[Callable[[], None]], None]) -> None:
        self.durable = durable
        self.answer = answer
        self.call_soon_threadsafe = call_soon_threadsafe
        self.tokens: dict[int, object] = {}
        self.finished: list = []        # staged since the sync in flight began: synced by the next round
        self.synced: list = []          # data durable: renamed in the next round
        self.in_flight: tuple[list, list, list] | None = None   # (staged, renamed, answers) of the round
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._sync_thread, name="syncfs", daemon=True)
        if durable:
            self.thread.start()

    def submit(self, writer, token) -> None:
        outcome = writer.stage()
        if outcome is None and not self.durable:
            answers, renamed = _publish_all([writer])
            _settle(renamed)
            outcome = answers[0][1]
        if outcome is not None:
            self.answer(token, outcome)
            return
        self.tokens[id(writer)] = token
        self.finished.append(writer)
        if self.in_flight is None:
            self._start_round()

    def _start_round(self) -> None:
        answers, renamed = _publish_all(self.synced)
        staged, self.finished, self.synced = self.finished, [], []
        self.in_flight = (staged, renamed, answers)
        self.jobs.put((staged, renamed))

    def _sync_thread(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                sync(*job)
                error = None
            except OSError as exc:
                error = exc
            self.call_soon_threadsafe(lambda error=error: self._round_done(error))

    def _round_done(self, error: OSError | None) -> None:
        staged, renamed, answers = self.in_flight
        self.in_flight = None
        if error is None:
            self.synced = staged
        else:
            answers = [pair for pair in answers if pair[0] not in renamed] + _sync_failed(error, staged, renamed)
        _settle(renamed)
        if self.finished or self.synced:
            self._start_round()
        for writer, outcome in answers:
            self.answer(self.tokens.pop(id(writer)), outcome)

    def close(self) -> None:
        if self.durable:
            self.jobs.put(None)
            self.thread.join()
