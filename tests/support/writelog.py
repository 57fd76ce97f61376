"""A disk that remembers every write and every cache flush, so any power cut can be replayed.

dm-log-writes does this in the kernel; the machines this project is built and
tested on have no device-mapper, but they have FUSE. So the disk is one file,
``disk.img``, on a FUSE filesystem served by this module, and a loop device on
that file carries the filesystem under test: every block the filesystem writes
reaches :class:`RecordingDisk` as a write, every cache flush (REQ_PREFLUSH,
which the loop driver turns into an fsync of its file) as an fsync. Both go to
a log, in the order they were served (one thread serves them), each with the
time it was served on the monotonic clock the test shares.

A power cut at any moment leaves at least what was written before the last
flush that had been served; :func:`replay` rebuilds exactly that (the writes
of the log up to that flush) into an image the test mounts, as a real disk
after the cut would be seen. Only that worst case is replayed, so the
check is of promises made: what was acknowledged before the last flush must
be there after it.

Run as ``python -m tests.support.writelog MOUNTPOINT LOG SIZE`` (root, /dev/fuse).
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

RECORD = struct.Struct("<cQQd")     # kind (b"W" write, b"F" flush), offset, length, monotonic time
DISK = "disk.img"


def fuse_missing() -> str | None:
    """None when a recording disk can be served here, else why not."""
    if os.geteuid() != 0:
        return "not root: cannot loop-mount a filesystem"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:      # OSError: mfusepy finds no libfuse
        return f"mfusepy cannot load libfuse: {exc}"
    return None


def serve(mountpoint: str, log_path: str, size: int) -> None:
    import mfusepy

    class RecordingDisk(mfusepy.Operations):
        """One file of ``size`` bytes; its content kept in a sparse scratch file beside the log."""

        use_ns = True

        def __init__(self) -> None:
            self.log = open(log_path, "wb")
            self.content = open(log_path + ".content", "w+b")
            self.content.truncate(size)

        def getattr(self, path, fh=None):
            if path == "/":
                return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
            if path == "/" + DISK:
                return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": size}
            raise mfusepy.FuseOSError(errno.ENOENT)

        def readdir(self, path, fh):
            return [".", "..", DISK]

        def open(self, path, flags):
            return 0

        def truncate(self, path, length, fh=None):
            if length != size:
                raise mfusepy.FuseOSError(errno.EPERM)
            return 0

        def read(self, path, length, offset, fh):
            return os.pread(self.content.fileno(), length, offset)

        def write(self, path, data, offset, fh):
            if offset + len(data) > size:
                raise mfusepy.FuseOSError(errno.ENOSPC)
            os.pwrite(self.content.fileno(), data, offset)
            self.log.write(RECORD.pack(b"W", offset, len(data), time.monotonic()))
            self.log.write(data)
            return len(data)

        def fsync(self, path, datasync, fh):
            self.log.write(RECORD.pack(b"F", 0, 0, time.monotonic()))
            self.log.flush()
            return 0

        def destroy(self, path):
            self.log.close()
            self.content.close()
            os.unlink(log_path + ".content")

    # One thread (-s): requests are served, and logged, one after another in a single order.
    mfusepy.FUSE(RecordingDisk(), mountpoint, foreground=True, nothreads=True, default_permissions=True)


def flushes(log_path: str) -> list[tuple[int, float]]:
    """(log offset just past it, time served) of each flush in the log."""
    found = []
    with open(log_path, "rb") as log:
        while header := log.read(RECORD.size):
            kind, _, length, served = RECORD.unpack(header)
            if kind == b"W":
                log.seek(length, os.SEEK_CUR)
            else:
                found.append((log.tell(), served))
    return found


def replay(log_path: str, size: int, image: str, stops: list[int]) -> Iterator[int]:
    """For each log offset in ``stops`` (ascending), ``image`` holds the disk as of that offset.

    A generator: the caller mounts (a copy of) the image between steps. Writes
    are applied once, in log order, to a scratch image beside ``image``.
    """
    scratch = image + ".replay"
    with open(scratch, "wb") as disk:
        disk.truncate(size)
    try:
        with open(log_path, "rb") as log, open(scratch, "r+b") as disk:
            for stop in stops:
                while log.tell() < stop:
                    kind, offset, length, _ = RECORD.unpack(log.read(RECORD.size))
                    if kind == b"W":
                        os.pwrite(disk.fileno(), log.read(length), offset)
                disk.flush()
                # A copy (sparse, as the scratch is): mounting replays the journal into it.
                subprocess.run(["cp", "--sparse=always", scratch, image], check=True)
                yield stop
    finally:
        os.unlink(scratch)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
