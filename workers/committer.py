"""Group commit: the stores that finish while a sync is in flight share the next one.

Durable one by one, every store waits for two journal commits (its data, then
its directory entry), and a journaled filesystem does a few hundred of those a
second. Here a worker's stores share ``syncfs()`` calls instead: one per folder
touched (the first on a filesystem commits the journal for everything in it;
the next find nothing left to do). A store is

    staged    its data written; waits for a sync that starts after that
    renamed   once such a sync returned: its final name; waits for a sync
              that starts after the rename
    answered  once such a sync returned

so a name never appears before its data are on disk, and no success is
answered before the name is. A sync starts as soon as some store waits for one
and fewer than ``SYNCS_IN_FLIGHT`` are running: nothing waits to fill a batch,
a lone store is committed at once, and the stores that finish meanwhile share
the next sync.

Everything but the sync runs on the reactor's thread: stage() and the renames
are a few cheap system calls, and keeping them there avoids handing the GIL
back and forth for each one. The thread here only calls syncfs(), which
releases the GIL for its whole duration.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Callable

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


# One sync at a time: with two in flight (the journal committing one batch while the next one's data
# are written back) 16 DCMTK senders got no more throughput (medians of 4 alternating runs: 1,130
# vs 1,280 inst/s) and the worker more CPU (0.49-0.54 vs 0.46-0.48 ms per store) and futex calls.
SYNCS_IN_FLIGHT = 1


class GroupCommit:
    """The stores of one worker, driven from its loop; ``answer(token, outcome)`` resumes a store's owner."""

    def __init__(self, durable: bool, answer: Callable[[object, object], None],
                 call_soon_threadsafe: Callable[[Callable[[], None]], None]) -> None:
        self.durable = durable
        self.answer = answer
        self.call_soon_threadsafe = call_soon_threadsafe
        self.tokens: dict[int, object] = {}
        self.started = 0                # syncs started so far; a store waits for one numbered higher
        self.in_flight = 0
        self.staged: list = []          # (writer, first sync that covers its data)
        self.renamed: list = []         # (writer, first sync that covers its name, outcome to answer)
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._sync_thread, name=f"syncfs-{n}", daemon=True)
                        for n in range(SYNCS_IN_FLIGHT if durable else 0)]
        for thread in self.threads:
            thread.start()

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
        self.staged.append((writer, self.started + 1))
        self._start_syncs()

    def _start_syncs(self) -> None:
        while self.in_flight < SYNCS_IN_FLIGHT:
            number = self.started + 1
            staged = [writer for writer, need in self.staged if need == number]
            renamed = [writer for writer, need, _ in self.renamed if need == number]
            if not staged and not renamed:
                return
            self.started = number
            self.in_flight += 1
            self.jobs.put((number, staged, renamed))

    def _sync_thread(self) -> None:
        while (job := self.jobs.get()) is not None:
            number, staged, renamed = job
            try:
                sync(staged, renamed)
                error = None
            except OSError as exc:
                error = exc
            self.call_soon_threadsafe(lambda number=number, error=error: self._synced(number, error))

    def _synced(self, number: int, error: OSError | None) -> None:
        """On the loop: sync ``number`` returned; everything waiting for it moves on."""
        self.in_flight -= 1
        durable = [writer for writer, need in self.staged if need <= number]
        self.staged = [(writer, need) for writer, need in self.staged if need > number]
        named = [(writer, outcome) for writer, need, outcome in self.renamed if need <= number]
        self.renamed = [entry for entry in self.renamed if entry[1] > number]
        if error is not None:
            answers = _sync_failed(error, durable, [writer for writer, _ in named])
            _settle([writer for writer, _ in named])
        else:
            answers = named
            _settle([writer for writer, _ in named])
            published, renamed = _publish_all(durable)
            for writer, outcome in published:
                if writer in renamed:
                    self.renamed.append((writer, self.started + 1, outcome))
                else:
                    answers.append((writer, outcome))
        self._start_syncs()
        for writer, outcome in answers:
            self.answer(self.tokens.pop(id(writer)), outcome)

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()
