"""A power cut never loses an acknowledged instance nor leaves a torn file under a final name.

The receiver writes onto a filesystem whose disk records every write and every
cache flush (tests/support/writelog.py). Afterwards the disk is rebuilt as a
power cut would leave it at each flush, the worst case for a cut at any moment
before the next one, and mounted, so the filesystem recovers its journal as it
would at boot. Then:

- every instance acknowledged (C-STORE success received) before that flush was
  served must be there, byte for byte as the receiver wrote it;
- every file present under a final name must be whole.

This checks workers/durability.py's claim on the real kernel: on journaled
ext4 and XFS one commit (the folder fsync after the renames) makes a batch
durable, because the data were written out and waited for first; on ext4 with
fast_commit the same claim is held to it. ext4 without a journal (checked with
e2fsck after the cut, as at boot) and btrfs take the general way, a syncfs for
the data before the names and one for the names. The last test shows
the check can fail: with --no-fsync, acknowledged instances are missing after the cut.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dcmrecv_cluster.loadtest.scratchfs import system_tool
from dcmrecv_cluster.workers import durability

from .support import rawscu, writelog
from .support.instances import CT_IMAGE, encode, small_dataset
from .support.net import free_port
from .support.service import Receiver, stored_files, wait_until
from .support.tools import STORESCP_CFG, system

DISK_SIZE = 512 * 1024 * 1024          # mkfs.xfs takes no less than 300 MB
ASSOCIATIONS, PER_ASSOCIATION = 4, 40
PIXELS = 48 * 1024                     # ~48 KiB a file: several blocks, several PDUs
MOST_CUTS = 24                         # cut points replayed spread over the run (and the first and last)
EXT4_EAGER = ["-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0"]   # no writes behind the test's back
MKFS = {
    "ext4": ["mkfs.ext4", "-q", "-F", *EXT4_EAGER],
    "ext4-fast-commit": ["mkfs.ext4", "-q", "-F", "-O", "fast_commit", *EXT4_EAGER],
    "xfs": ["mkfs.xfs", "-q", "-f", "-K"],
    # The general way (data synced with syncfs, then names): no journal to order write-back.
    # Without metadata checksums: a cut can leave a folder entry for a temp file whose inode was
    # never written (no journal keeps them together); e2fsck removes such an entry, but aborts
    # on the unwritten inode's checksum when there are checksums.
    "ext4-no-journal": ["mkfs.ext4", "-q", "-F", "-O", "^has_journal,^metadata_csum", *EXT4_EAGER],
    # A folder fsync alone for the names failed on both (workers/durability.py says how).
    "btrfs": ["mkfs.btrfs", "-q", "-f", "-K"],
}
ONE_COMMIT = {"ext4", "ext4-fast-commit", "xfs"}


@contextlib.contextmanager
def recording_disk(directory: Path):
    """A loop device whose writes and flushes are logged; yields (device, log path)."""
    reason = writelog.fuse_missing()
    if reason is not None:
        pytest.skip(reason)
    served, log = directory / "served", directory / "disk.log"
    served.mkdir()
    daemon = subprocess.Popen([sys.executable, "-m", "tests.support.writelog", str(served), str(log),
                               str(DISK_SIZE)], cwd=Path(__file__).parent.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    device = None
    try:
        wait_until(lambda: (served / writelog.DISK).exists() or daemon.poll() is not None, 30, 0.05,
                   "the recording disk to be served")
        if daemon.poll() is not None:
            pytest.skip(f"cannot serve a FUSE disk here: {daemon.stdout.read().decode(errors='replace')}")
        device = system("losetup", "--find", "--show", str(served / writelog.DISK)).strip()
        yield device, log
    finally:
        if device:
            subprocess.run([system_tool("losetup"), "-d", device], check=False)
        subprocess.run([system_tool("umount"), str(served)], check=False)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


@contextlib.contextmanager
def mounted(source: str, mountpoint: Path, *options: str):
    mountpoint.mkdir(exist_ok=True)
    system("mount", *options, source, str(mountpoint))
    try:
        yield mountpoint
    finally:
        system("umount", str(mountpoint))


def send_all(port: int) -> list[tuple[float, str]]:
    """Stores from several associations at once (so batches form); (time acknowledged, UID) of each success."""
    acknowledged: list[tuple[float, str]] = []
    failures: list[BaseException] = []

    def one_association(number: int) -> None:
        try:
            sock = rawscu.associate(port, CT_IMAGE)
            for index in range(PER_ASSOCIATION):
                uid = f"1.2.826.0.1.3680043.10.543.{number}.{index + 1}"
                day = f"202304{index % 28 + 1:02d}"      # a new folder per day with --series-date-subdir
                dataset = small_dataset(sop_instance=uid, series_date=day, pixels=PIXELS)
                status = rawscu.store(sock, CT_IMAGE, uid, encode(dataset))
                if status == 0:
                    acknowledged.append((time.monotonic(), uid))
            rawscu.release(sock)
        except BaseException as exc:        # noqa: BLE001 - reported by the test thread below
            failures.append(exc)

    threads = [threading.Thread(target=one_association, args=(n,)) for n in range(ASSOCIATIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not failures, failures
    return sorted(acknowledged)


def instance_uid(content: bytes) -> str:
    """(0002,0003) Media Storage SOP Instance UID of a Part-10 file as the receiver wrote it."""
    at = content.index(b"\x02\x00\x03\x00UI")
    length = int.from_bytes(content[at + 6:at + 8], "little")
    return content[at + 8:at + 8 + length].rstrip(b"\0").decode()


def one_commit_in_use(volume: Path) -> bool:
    """How the receiver makes a batch durable there (workers/durability.py)."""
    fd = os.open(volume, os.O_RDONLY)
    try:
        return durability.one_commit(fd)
    finally:
        os.close(fd)


def store_and_cut(tmp_path: Path, filesystem: str, *receiver_args: str):
    """Receive onto a recording disk; the log, (time, UID) of each success, and the files as written."""
    with recording_disk(tmp_path) as (device, log):
        system(*MKFS[filesystem], device)
        with mounted(device, tmp_path / "fs") as volume:
            assert one_commit_in_use(volume) is (filesystem in ONE_COMMIT)
            out = volume / "out"
            out.mkdir()
            receiver = Receiver(["-od", str(out), "--workers", "2", *receiver_args, "-xf", STORESCP_CFG, "Default"],
                                tmp_path, free_port())
            try:
                receiver.wait_ready()
                acknowledged = send_all(receiver.port)
            finally:
                assert receiver.stop() == 0, receiver.log
            written = {path.relative_to(out): path.read_bytes() for path in stored_files(out)}
    return log, acknowledged, written


def cuts_to_replay(log: Path, acknowledged: list[tuple[float, str]]) -> list[tuple[int, set[str]]]:
    """(log offset of a flush, UIDs acknowledged before it was served), spread over the run."""
    flushes = writelog.flushes(str(log))
    served = [when for _, when in flushes]
    # A cut right after an acknowledgement leaves the disk as of the last flush before it.
    last_before = sorted({bisect.bisect_left(served, when) - 1 for when, _ in acknowledged})
    assert last_before[0] >= 0, "an instance was acknowledged before any flush (mkfs's included)"
    # The first cuts always (the first commits race most: the btrfs case in workers/durability.py),
    # then spread over the run, and the last.
    chosen = last_before[:4] + last_before[:: max(1, len(last_before) // MOST_CUTS)] + [last_before[-1]]
    return [(flushes[index][0], {uid for when, uid in acknowledged if when < served[index + 1]}
             if index + 1 < len(served) else {uid for _, uid in acknowledged})
            for index in sorted(set(chosen))]


def losses_after_cuts(tmp_path: Path, filesystem: str, log: Path, acknowledged, written) -> list[str]:
    by_uid = {instance_uid(content): (name, content) for name, content in written.items()}
    assert {uid for _, uid in acknowledged} <= set(by_uid), "an acknowledged instance is not in the output"
    image = tmp_path / "after-cut.img"
    losses: list[str] = []
    promises = dict(cuts_to_replay(log, acknowledged))
    for stop in writelog.replay(str(log), DISK_SIZE, str(image), list(promises)):
        promised = promises[stop]
        if filesystem == "ext4-no-journal":    # checked at boot, as such a volume is
            fsck = subprocess.run([system_tool("e2fsck"), "-fy", str(image)], capture_output=True, text=True)
            if fsck.returncode >= 4:
                losses.append(f"cut at log offset {stop}: e2fsck left errors: {fsck.stdout[-500:]}")
                continue
        with mounted(str(image), tmp_path / "after-cut", "-o", "loop") as volume:
            out = volume / "out"
            present = {path.relative_to(out): path.read_bytes() for path in stored_files(out)} \
                if out.exists() else {}
        for uid in sorted(promised):
            name, content = by_uid[uid]
            if present.get(name) != content:
                losses.append(f"cut at log offset {stop}: acknowledged {name} is "
                              f"{'missing' if name not in present else 'not as written'}")
        for name, content in present.items():
            if content != written.get(name):
                losses.append(f"cut at log offset {stop}: {name} is torn under its final name")
    return losses


def nothing_lost_at_any_cut(tmp_path: Path, filesystem: str, *receiver_args: str) -> dict:
    if system_tool(MKFS[filesystem][0]) is None:
        pytest.skip(f"{MKFS[filesystem][0]} not installed")
    log, acknowledged, written = store_and_cut(tmp_path, filesystem, *receiver_args)
    assert len(acknowledged) == ASSOCIATIONS * PER_ASSOCIATION
    assert len(cuts_to_replay(log, acknowledged)) >= 5, "too few cut points to say anything"
    assert losses_after_cuts(tmp_path, filesystem, log, acknowledged, written) == []
    return written


@pytest.mark.parametrize("filesystem", sorted(MKFS))
def test_no_acknowledged_instance_is_lost_at_a_power_cut(tmp_path, filesystem):
    nothing_lost_at_any_cut(tmp_path, filesystem)


@pytest.mark.parametrize("filesystem", sorted(MKFS))
def test_folders_made_for_new_series_dates_survive_a_power_cut(tmp_path, filesystem):
    """--series-date-subdir: stores make data/YYYY/MM/DD folders as they come (two workers racing
    for the same day); a folder made must be on the disk with the first name answered in it.

    (Here the leaf folder's commit carries its new parents too - the journal commits in order,
    the general way's syncfs has written them - so this passes even without the fsync of the
    parents that storage.directories_to_sync asks for; it guards the layout, not that call.)"""
    written = nothing_lost_at_any_cut(tmp_path, filesystem, "--series-date-subdir")
    assert len({name.parent for name in written}) == 28


def test_the_replay_finds_what_no_fsync_does_not_promise(tmp_path):
    """--no-fsync answers before anything is on the disk: after a cut, acknowledged instances are gone."""
    log, acknowledged, written = store_and_cut(tmp_path, "ext4", "--no-fsync")
    losses = losses_after_cuts(tmp_path, "ext4", log, acknowledged, written)
    assert any("missing" in loss for loss in losses), losses
