"""Group commit: the stores that finish while a sync is in flight share the next one.

Durable one by one, every store waits for two journal commits (its data, then
its directory entry), and a journaled filesystem does a few hundred of those a
second. Here a worker's finished stores go to one sync thread, a batch at a
time, the batch being whatever finished while the previous one was in flight:

    data      on journaled ext4 and XFS, each file's pages written out and
              waited for, no commit (see durability.py); elsewhere syncfs()
              of the stores' filesystems (a commit)
    rename    each file to its final name
    names     fsync() of each folder touched (one journal commit); elsewhere
              syncfs() first
    answer    handed back to the reactor, once for the whole batch

A name never appears before its data are on disk, and no success is answered
before the name is; nothing waits to fill a batch. The whole batch runs in the
sync thread: a store's latency is mostly waiting for the disk, and handing the
batch back to the reactor between its data and its names (as an earlier design
did, to keep the renames there) cost a reactor turn per batch in the middle of
the wait (measured, MR x16 durable, 5 alternating runs: 4 % more stores per
second with one worker, 7 % with two). Naming requests from this thread go
through the same locked channel as the loop's.
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


def _folders(writers: list) -> dict[str, tuple[object, bool]]:
    """Each folder of a batch, one store in it, and whether its filesystem takes one commit.

    Decided once per batch, through a store's own descriptor, so no folder is ever held open
    (a full volume must stay unmountable) and a volume mounted in a folder's place is seen at
    once."""
    folders: dict[str, tuple[object, bool]] = {}
    for writer in writers:
        if writer.directory not in folders:
            folders[writer.directory] = (writer, _syncfs is not None and durability.one_commit(writer.fd))
    return folders


def write_back(writers: list, folders: dict) -> None:
    """Make the data of ``writers`` durable before their names (descriptors still open)."""
    if _syncfs is None:
        for writer in writers:
            os.fsync(writer.fd)
        return
    ordered = [writer for writer in writers if folders[writer.directory][1]]
    for writer in ordered:      # all writes in flight at once, then wait for each
        durability.start_write_out(writer.fd)
    for writer in ordered:
        durability.write_out(writer.fd)
    for first, one_commit in folders.values():
        if not one_commit:
            durability.checked(_syncfs(first.fd))


def commit_names(writers: list, folders: dict) -> None:
    """Make the names given since the data were durable durable too: an fsync of each folder
    touched; the general way (durability.py) commits their filesystems with syncfs first."""
    if _syncfs is not None:
        # Through a renamed file of each folder (still open), one per filesystem.
        general = {writer.directory: writer.fd for writer in writers if not folders[writer.directory][1]}
        for fd in {os.fstat(fd).st_dev: fd for fd in general.values()}.values():
            durability.checked(_syncfs(fd))
    for directory in {directory for writer in writers for directory in writer.directories_to_sync}:
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
    """Each store under its final name: (writer, outcome) for all, and the writers renamed.

    An outcome may be the exception a naming request raised (the supervisor did not answer):
    that store's owner gets it, as it would from stage()."""
    answers, renamed = [], []
    for writer in writers:
        try:
            outcome = writer.publish()
        except Exception as exc:  # noqa: BLE001 - handed to the store's owner
            writer.discard()
            answers.append((writer, exc))
            continue
        answers.append((writer, outcome))
        if outcome.path is not None:
            renamed.append(writer)
    return answers, renamed


def _settle(renamed: list) -> None:
    for writer in renamed:
        writer.close_file()
        writer.forget_created_directories()


def commit_batch(writers: list, durable: bool) -> tuple[list, list]:
    """Data, names, answers for staged stores, in the caller's thread: ([(writer, outcome)], renamed).

    The renamed ones still hold their descriptors: _settle() them once answered (the sync
    thread leaves that to the loop, where closing takes no turn of the GIL)."""
    folders = {}
    if durable:
        try:
            folders = _folders(writers)
            write_back(writers, folders)
        except OSError as exc:
            return _sync_failed(exc, writers, []), []
    answers, renamed = _publish_all(writers)
    if durable and renamed:
        try:
            commit_names(renamed, folders)
        except OSError as exc:
            lost = {id(writer) for writer in renamed}
            answers = [answer for answer in answers if id(answer[0]) not in lost] + _sync_failed(exc, [], renamed)
    return answers, renamed


def _commit_settled(writers: list, durable: bool) -> list:
    answers, renamed = commit_batch(writers, durable)
    _settle(renamed)
    return answers


def commit_now(writer, durable: bool):
    """A store's whole commit in the caller's thread: for callers without a reactor (tests, tools)."""
    outcome = writer.stage()
    if outcome is not None:
        return outcome
    outcome = _commit_settled([writer], durable)[0][1]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


class _SyncThread:
    """commit_batch() in a thread of its own, one batch at a time; what arrives meanwhile is the next batch."""

    def __init__(self, done: Callable[[list], None],
                 call_soon_threadsafe: Callable[[Callable[[], None]], None]) -> None:
        self.done, self.call_soon_threadsafe = done, call_soon_threadsafe
        self.work: Callable[[list], tuple[list, list]] = lambda batch: commit_batch(batch, durable=True)
        self.pending: list = []
        self.busy = False
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self.thread.start()

    def add(self, writer) -> None:
        self.pending.append(writer)
        self._next()

    def _next(self) -> None:
        if not self.busy and self.pending:
            self.busy = True
            batch, self.pending = self.pending, []
            self.jobs.put(batch)

    def _run(self) -> None:
        while (batch := self.jobs.get()) is not None:
            try:
                answers, renamed = self.work(batch)
            except Exception as exc:  # noqa: BLE001 - a bug must not leave a batch unanswered
                answers, renamed = [(writer, exc) for writer in batch], []
                for writer in batch:
                    writer.discard()
            self.call_soon_threadsafe(lambda answers=answers, renamed=renamed: self._finished(answers, renamed))

    def _finished(self, answers: list, renamed: list) -> None:
        self.busy = False
        _settle(renamed)
        self.done(answers)
        self._next()

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


class GroupCommit:
    """The stores of one worker, driven from its loop; ``answer(token, outcome)`` resumes a store's owner.

    Durable, each staged store goes to the sync thread, which commits what finished meanwhile
    as one batch (commit_batch); without durability a store is renamed and answered at once.
    """

    def __init__(self, durable: bool, answer: Callable[[object, object], None],
                 call_soon_threadsafe: Callable[[Callable[[], None]], None]) -> None:
        self.durable = durable
        self.answer = answer
        self.tokens: dict[int, object] = {}
        if durable:
            self.sync = _SyncThread(self._answer, call_soon_threadsafe)

    def submit(self, writer, token) -> None:
        outcome = writer.stage()
        if outcome is None and not self.durable:
            outcome = _commit_settled([writer], durable=False)[0][1]
        if outcome is not None:
            self.answer(token, outcome)
            return
        self.tokens[id(writer)] = token
        self.sync.add(writer)

    def _answer(self, answers: list) -> None:
        for writer, outcome in answers:
            self.answer(self.tokens.pop(id(writer)), outcome)

    def close(self) -> None:
        if self.durable:
            self.sync.close()
