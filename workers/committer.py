"""Group commit: the stores that finish while a sync is in flight share the next one.

Durable one by one, every store waits for two journal commits (its data, then
its directory entry), and a journaled filesystem does a few hundred of those a
second. Here a worker's stores go through two stages, each a thread that syncs
one batch at a time, the batch being whatever finished meanwhile:

    data stage   on journaled ext4 and XFS, each file's pages written out and
                 waited for, no commit (see durability.py); elsewhere syncfs()
                 through the stores' files, one per folder (a journal commit)
    rename       on the reactor's thread, once the data stage returned
    name stage   fsync() of each folder touched (one journal commit)
    answer       once the name stage returned

A name never appears before its data are on disk, and no success is answered
before the name is; nothing waits to fill a batch. A batch's data stage waits
while the previous batch's names are committed: what finishes meanwhile joins
it, so the stores in flight share one commit instead of splitting into two
half batches that pay one each (measured: more stores per second, less CPU).

Everything but the syncs runs on the reactor's thread: stage() and the renames
are a few cheap system calls, and keeping them there avoids handing the GIL
back and forth for each one. The stage threads only sync, which releases the
GIL for the whole call.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Callable

from dcmrecv_cluster.workers import durability
from dcmrecv_cluster.workers.dimse import OUT_OF_RESOURCES

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _syncfs = _libc.syncfs
    _syncfs.argtypes = [ctypes.c_int]
except (OSError, AttributeError):      # not Linux: fsync each file instead
    _syncfs = None


def _first_in_each_folder(writers: list) -> dict[str, object]:
    """One store per folder: decisions are taken per folder, through a store's own descriptor, so
    no folder is ever held open (a full volume must stay unmountable) and a volume mounted in a
    folder's place is seen at once."""
    first_in: dict[str, object] = {}
    for writer in writers:
        first_in.setdefault(writer.directory, writer)
    return first_in


def write_back(writers: list) -> None:
    """Make the data of ``writers`` durable before their names (descriptors still open)."""
    if _syncfs is None:
        for writer in writers:
            os.fsync(writer.fd)
        return
    first_in = _first_in_each_folder(writers)
    one_commit = {folder: durability.scheme(writer.fd).one_commit for folder, writer in first_in.items()}
    ordered = [writer for writer in writers if one_commit[writer.directory]]
    for writer in ordered:      # all writes in flight at once, then wait for each
        durability.start_write_out(writer.fd)
    for writer in ordered:
        durability.write_out(writer.fd)
    for folder, writer in first_in.items():
        if not one_commit[folder]:
            durability.checked(_syncfs(writer.fd))


def commit_names(writers: list) -> None:
    """Make the names given since the data were durable durable too: fsync each folder touched
    once, or commit the whole filesystem once where a folder fsync does not hold (btrfs)."""
    first_in = _first_in_each_folder(writers)
    by_syncfs = {folder: _syncfs is not None and durability.scheme(first.fd).names_by_syncfs
                 for folder, first in first_in.items()}
    filesystems = {os.fstat(first.fd).st_dev: first for folder, first in first_in.items() if by_syncfs[folder]}
    folders = {directory for writer in writers if not by_syncfs[writer.directory]
               for directory in writer.directories_to_sync}
    for first in filesystems.values():
        durability.checked(_syncfs(first.fd))
    for directory in folders:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sync_failed(exc: OSError, staged: list, renamed: list) -> list:
    """Every store of the failed batch is answered with a failure; renamed files keep their (maybe lost) names."""
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
    """Both stages for one store, in the caller's thread: for callers without a reactor (tests, tools)."""
    outcome = writer.stage()
    if outcome is not None:
        return outcome
    if durable:
        try:
            write_back([writer])
        except OSError as exc:
            return _sync_failed(exc, [writer], [])[0][1]
    answers, renamed = _publish_all([writer])
    if durable and renamed:
        try:
            commit_names(renamed)
        except OSError as exc:
            answers = _sync_failed(exc, [], renamed)
    _settle(renamed)
    return answers[0][1]


class _Stage:
    """One kind of sync in a thread of its own, one batch at a time; what arrives meanwhile is the next batch."""

    def __init__(self, name: str, work: Callable[[list], None], done: Callable[[list, OSError | None], None],
                 call_soon_threadsafe: Callable[[Callable[[], None]], None],
                 held: Callable[[], bool] = lambda: False) -> None:
        self.work, self.done, self.call_soon_threadsafe = work, done, call_soon_threadsafe
        self.held = held
        self.pending: list = []
        self.busy = False
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def add(self, writers: list) -> None:
        self.pending.extend(writers)
        if not self.busy and self.pending and not self.held():
            self.busy = True
            batch, self.pending = self.pending, []
            self.jobs.put(batch)

    def _run(self) -> None:
        while (batch := self.jobs.get()) is not None:
            try:
                self.work(batch)
                error = None
            except OSError as exc:
                error = exc
            self.call_soon_threadsafe(lambda batch=batch, error=error: self._finished(batch, error))

    def _finished(self, batch: list, error: OSError | None) -> None:
        self.busy = False
        self.done(batch, error)
        self.add([])

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


class GroupCommit:
    """The stores of one worker, driven from its loop; ``answer(token, outcome)`` resumes a store's owner.

    Two stages, each a thread doing one batch at a time: the data stage makes the data of
    finished stores durable (write_back), the loop renames them, the name stage makes those
    names durable (commit_names). The data stage starts a batch only while the name stage
    is idle (see the module's docstring).
    """

    def __init__(self, durable: bool, answer: Callable[[object, object], None],
                 call_soon_threadsafe: Callable[[Callable[[], None]], None]) -> None:
        self.durable = durable
        self.answer = answer
        self.tokens: dict[int, object] = {}
        self.outcomes: dict[int, object] = {}
        if durable:
            self.data = _Stage("sync-data", write_back, self._data_done, call_soon_threadsafe,
                               held=lambda: self.names.busy)
            self.names = _Stage("sync-names", commit_names, self._names_done, call_soon_threadsafe)

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
        self.data.add([writer])

    def _data_done(self, batch: list, error: OSError | None) -> None:
        if error is not None:
            self._answer(_sync_failed(error, batch, []))
            return
        published, renamed = _publish_all(batch)
        self._answer([(writer, outcome) for writer, outcome in published if writer not in renamed])
        for writer, outcome in published:
            self.outcomes[id(writer)] = outcome
        self.names.add(renamed)

    def _names_done(self, batch: list, error: OSError | None) -> None:
        if error is not None:
            answers = _sync_failed(error, [], batch)
            for writer in batch:
                del self.outcomes[id(writer)]
        else:
            answers = [(writer, self.outcomes.pop(id(writer))) for writer in batch]
        _settle(batch)
        self._answer(answers)
        self.data.add([])

    def _answer(self, answers: list) -> None:
        for writer, outcome in answers:
            self.answer(self.tokens.pop(id(writer)), outcome)

    def close(self) -> None:
        if self.durable:
            self.data.close()
            self.names.close()
