"""The group commit on real files: answers only for complete files under their final names, batches, failures.

These drive workers/committer.py's GroupCommit with real InstanceWriters in a temp
folder and its real sync thread; the test thread plays the worker's loop (it runs
what the sync thread hands back). The service-level tests (test_storage, test_reliability)
cover the same path through the wire.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import subprocess
import time

import pytest

from dcmrecv_cluster.loadtest import scratchfs
from dcmrecv_cluster.workers import committer, durability, storage
from dcmrecv_cluster.workers.dimse import OUT_OF_RESOURCES, SUCCESS, Command

from .support.instances import CT_IMAGE, encode, small_dataset
from .support.service import hidden_files
from .support.tools import system

EXPLICIT_LE = "1.2.840.10008.1.2.1"


class Loop:
    """The worker's loop, reduced to running what other threads hand it, in order."""

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue = queue.SimpleQueue()
        self.answers: dict[str, tuple] = {}

    def call_soon_threadsafe(self, function) -> None:
        self.calls.put(function)

    def run_until(self, done, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"not done within {timeout} s: {self.answers}"
            try:
                self.calls.get(timeout=remaining)()
            except queue.Empty:
                pass


def writer_for(directory, uid: str, durable: bool = True, filename_mode: str = "default", namer=None):
    settings = storage.StorageSettings(str(directory), "none", filename_mode, "", "normal", fsync=durable)
    writer = storage.InstanceWriter(settings, Command(1, 1, True, CT_IMAGE, uid), EXPLICIT_LE, "SCU",
                                    namer or storage.Namer(None, None), lambda level, text: None)
    data = encode(small_dataset(sop_instance=uid))
    writer.write(memoryview(data))
    assert writer.complete() is None          # a file to commit
    return writer, data


def commit_with_answers(tmp_path, durable: bool = True):
    loop = Loop()

    def answer(token, outcome):
        # The guarantee under test: a success is given only for a complete file under its final name.
        if outcome.status == SUCCESS:
            with open(outcome.path, "rb") as stored:
                loop.answers[token] = (outcome, stored.read())
        else:
            loop.answers[token] = (outcome, None)

    return loop, committer.GroupCommit(durable, answer, loop.call_soon_threadsafe)


@contextlib.contextmanager
def ext4(tmp_path, journal: bool):
    """A small loop-mounted ext4 (root only): the one-commit scheme applies only on a journaled one."""
    reason = scratchfs.can_mount()
    if reason is not None:
        pytest.skip(reason)
    with scratchfs.journaled_ext4(str(tmp_path), size="64M", journal=journal) as mountpoint:
        yield mountpoint


@pytest.fixture(params=["tmp", "journaled-ext4"])
def store_dir(request, tmp_path):
    if request.param == "tmp":
        yield tmp_path
    else:
        with ext4(tmp_path, journal=True) as mountpoint:
            yield type(tmp_path)(mountpoint)


def opened_in(folder) -> list[str]:
    """Files of ``folder`` this process still holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{folder}/"):
                held.append(target)
    return held


def decided(folder) -> bool:
    fd = os.open(os.path.join(folder, "probe"), os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        return durability.one_commit(fd)
    finally:
        os.close(fd)


def test_one_commit_only_where_the_journal_orders_write_back(tmp_path):
    """Journaled ext4: data written out without a commit; no journal, or not ext4/XFS: syncfs as before."""
    (tmp_path / "j").mkdir()
    (tmp_path / "n").mkdir()
    with ext4(tmp_path / "j", journal=True) as journaled, ext4(tmp_path / "n", journal=False) as plain:
        assert decided(journaled) is True
        assert decided(plain) is False
    if os.path.isdir("/dev/shm"):
        assert decided("/dev/shm") is False


def test_every_store_is_answered_once_complete_under_its_final_name(store_dir):
    tmp_path = store_dir
    loop, commit = commit_with_answers(tmp_path)
    expected = {}
    try:
        for n in range(6):
            uid = f"1.2.826.0.1.500.{n}"
            writer, data = writer_for(tmp_path, uid)
            expected[uid] = data
            commit.submit(writer, uid)
        loop.run_until(lambda: len(loop.answers) == len(expected))
    finally:
        commit.close()
    assert opened_in(tmp_path) == []
    for uid, data in expected.items():
        outcome, content = loop.answers[uid]
        assert outcome.status == SUCCESS and outcome.path == str(tmp_path / f"CT.{uid}")
        assert content.endswith(data)                      # meta header, then the data set as received
    assert hidden_files(tmp_path) == []


def test_stores_finishing_during_a_sync_share_the_next_one(tmp_path):
    loop, commit = commit_with_answers(tmp_path)
    batches = []
    real = commit.sync.work
    commit.sync.work = lambda writers: (batches.append(len(writers)), real(writers))[1]
    try:
        first, _ = writer_for(tmp_path, "1.2.826.0.1.501.0")
        commit.submit(first, "first")              # its sync starts at once
        assert commit.sync.busy
        for n in range(1, 5):                      # these arrive while it is in flight
            writer, _ = writer_for(tmp_path, f"1.2.826.0.1.501.{n}")
            commit.submit(writer, f"later-{n}")
        loop.run_until(lambda: len(loop.answers) == 5)
    finally:
        commit.close()
    assert batches == [1, 4]
    assert all(outcome.status == SUCCESS for outcome, _ in loop.answers.values())


def failing(*_args):
    raise OSError(errno.EIO, os.strerror(errno.EIO))


@pytest.mark.parametrize("stage, names_left", [("write_back", 0), ("commit_names", 3)])
def test_a_failed_sync_answers_a700_for_its_whole_batch(tmp_path, monkeypatch, stage, names_left):
    """Data sync failed: nothing keeps a name. Name commit failed: the files were renamed, but
    their names may not survive a crash, so no success for any either."""
    loop, commit = commit_with_answers(tmp_path)
    monkeypatch.setattr(committer, stage, failing)
    try:
        for n in range(3):
            writer, _ = writer_for(tmp_path, f"1.2.826.0.1.502.{n}")
            commit.submit(writer, n)
        loop.run_until(lambda: len(loop.answers) == 3)
    finally:
        commit.close()
    assert [loop.answers[n][0].status for n in range(3)] == [OUT_OF_RESOURCES] * 3
    assert hidden_files(tmp_path) == [] and opened_in(tmp_path) == []     # temp files and descriptors settled
    assert len(os.listdir(tmp_path)) == names_left


def test_a_naming_request_that_fails_reaches_only_its_store(tmp_path):
    """publish() runs in the sync thread: an exception there (the supervisor did not answer a
    +fsu request) is handed to that store's owner, and the rest of the batch is committed."""
    class SupervisorGone(Exception):
        pass

    def no_answer(count):
        raise SupervisorGone("no answer to 'name' within 10000 ms")

    loop = Loop()
    answered = {}
    commit = committer.GroupCommit(True, answered.__setitem__, loop.call_soon_threadsafe)
    writers = [writer_for(tmp_path, "1.2.826.0.1.505.0")[0],
               writer_for(tmp_path, "1.2.826.0.1.505.1", filename_mode="short-unique",
                          namer=storage.Namer(None, no_answer))[0],
               writer_for(tmp_path, "1.2.826.0.1.505.2")[0]]
    try:
        for n, writer in enumerate(writers):
            commit.submit(writer, n)
        loop.run_until(lambda: len(answered) == 3)
    finally:
        commit.close()
    assert isinstance(answered[1], SupervisorGone)
    assert answered[0].status == answered[2].status == SUCCESS
    assert sorted(os.listdir(tmp_path)) == ["CT.1.2.826.0.1.505.0", "CT.1.2.826.0.1.505.2"]


def test_without_fsync_a_store_is_answered_at_once(tmp_path):
    loop, commit = commit_with_answers(tmp_path, durable=False)
    writer, data = writer_for(tmp_path, "1.2.826.0.1.503.1", durable=False)
    commit.submit(writer, "only")
    outcome, content = loop.answers["only"]            # no loop turn needed: no thread involved
    assert outcome.status == SUCCESS and content.endswith(data)
    commit.close()


def test_a_volume_made_again_on_the_same_device_is_decided_again(tmp_path):
    """The decision is remembered per filesystem, not per device: a journaled ext4 unmounted and a
    journal-less one made on the same loop device must not inherit the one-commit scheme."""
    reason = scratchfs.can_mount()
    if reason is not None:
        pytest.skip(reason)
    image, mountpoint = tmp_path / "volume.img", tmp_path / "volume"
    mountpoint.mkdir()
    system("truncate", "-s", "64M", str(image))
    device = system("losetup", "--find", "--show", str(image)).strip()
    try:
        for journal, expected in ((True, True), (False, False), (True, True)):
            system("mkfs.ext4", "-q", "-F", *([] if journal else ["-O", "^has_journal"]), device)
            system("mount", device, str(mountpoint))
            try:
                assert decided(mountpoint) is expected, f"journal={journal}"
            finally:
                system("umount", str(mountpoint))
    finally:
        subprocess.run([scratchfs.system_tool("losetup"), "-d", device], check=False)
