"""Which filesystems let a batch of stores be durable with one journal commit instead of two.

A store is answered only once its data and its name are durable, and a name must never
reach the disk before its data. The general way takes two journal commits: sync the
data (syncfs), rename, then commit the names. On a journaling filesystem whose page
write-back finishes only after the file's block mapping and size are logged (ext4 with
a journal, XFS), one commit is enough:

    sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)   the data are on the device, and
                                                        the metadata that find them are in
                                                        the running (or an earlier) transaction
    rename                                              a later (or the same) transaction
    fsync(folder)                                       commits up to the rename: the journal
                                                        commits in order, and its commit
                                                        record is written with a cache flush

So if a name survives a crash, the transaction holding it committed, with everything
logged before it and every write completed before it. ext4 converts unwritten extents
and updates the on-disk size before it ends page write-back (ext4_end_io_rsv_work then
ext4_finish_bio); XFS does the same in its ioend completion.

ext4 without a journal, btrfs and every other filesystem keep the general way: syncfs for
the data, rename, then syncfs and an fsync of each folder for the names. A folder fsync
alone is not enough there, the replays caught both:

* ext4 without a journal: acknowledged instances missing at a cut in 5 runs of 24 once
  both workers renamed and fsynced the same folder from their sync threads (0 in 30 with
  syncfs first). Our reading of the kernel: a folder's dirty blocks sit on a list that an
  fsync empties while it writes them, so a worker's fsync that comes while the other's is
  writing the block its rename changed again finds the list empty and returns. syncfs
  writes back every dirty block and waits, that one included; it ends with that
  write-back, after its own cache flush, so the folder fsync's flush comes after it.
* btrfs: a folder fsync while another task logs the same folder in the first log
  transaction of a commit can return before that log is on the disk (the tree log's
  last_log_commit starts equal to the first log's id); syncfs waits for any commit in
  flight.

tests/test_power_cut.py holds the kernel to this: it replays the disk as a power cut
would leave it after every flush of a run, on ext4, ext4 with fast_commit and XFS (and
on ext4 without a journal and btrfs, the general way), and finds every acknowledged
instance whole; without the write-out wait above it finds acknowledged files torn, and
with --no-fsync missing.
"""

from __future__ import annotations

import ctypes
import os

_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _sync_file_range = _libc.sync_file_range
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
except (OSError, AttributeError):      # not Linux
    _sync_file_range = None

_by_filesystem: dict[tuple[int, int], bool] = {}


def checked(result: int) -> None:
    """A libc call through ctypes failed (non-zero): its errno as an OSError."""
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def write_out(fd: int) -> None:
    """Write the file's dirty pages and wait for them, without a journal commit."""
    checked(_sync_file_range(fd, 0, 0, _WAIT_BEFORE | _WRITE | _WAIT_AFTER))


def start_write_out(fd: int) -> None:
    """Start writing the file's dirty pages (write_out() then waits for them)."""
    checked(_sync_file_range(fd, 0, 0, _WRITE))


def one_commit(fd: int) -> bool:
    """True where a batch takes one commit on the filesystem of the file behind ``fd``
    (data written out and waited for, names by a folder fsync); False: the general way.

    Decided once per filesystem: its device and its id (ext4's comes from its UUID), so a
    volume made again on the same device, or mounted in another's place, is decided anew.
    """
    device = os.fstat(fd).st_dev
    key = (device, os.fstatvfs(fd).f_fsid)
    known = _by_filesystem.get(key)
    if known is None:
        if len(_by_filesystem) >= 256:      # volumes come and go: forget, do not grow
            _by_filesystem.clear()
        fstype = _filesystem_type(device)
        known = _by_filesystem[key] = _sync_file_range is not None and (
            fstype == "xfs" or (fstype == "ext4" and _has_jbd2_journal(device)))
    return known


def _filesystem_type(device: int) -> str | None:
    """The type /proc/self/mountinfo gives for the device (None when it is not listed)."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mountinfo:
            for line in mountinfo:
                fields = line.split()
                if len(fields) > 2 and fields[2] == wanted and "-" in fields:
                    return fields[fields.index("-") + 1]
    except OSError:
        pass
    return None


def _has_jbd2_journal(device: int) -> bool:
    """ext4 lists each journal it runs as /proc/fs/jbd2/<block device>-<journal inode>."""
    try:
        name = os.path.basename(os.readlink(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}"))
        return any(entry.startswith(name + "-") for entry in os.listdir("/proc/fs/jbd2"))
    except OSError:
        return False
