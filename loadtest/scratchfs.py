"""A journaled ext4 for the benchmark's output directories, as a production ingest volume is.

Without a journal (the root filesystem of the machines this project is built
on), ext4 checks recently deleted inodes on every file creation, which slows
every server's stores and hides the cost of syncing. So the benchmark writes
into a loop-mounted ext4 image made for the run (root only), and says which
filesystem it used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

IMAGE_SIZE = "8G"


def describe(path: str) -> str:
    """'ext4 (journaled) on /dev/loop0' or similar, from /proc/mounts and /proc/fs/jbd2."""
    path = os.path.realpath(path)
    best = ("", "?", "?")
    with open("/proc/mounts") as mounts:
        for line in mounts:
            device, mountpoint, fstype = line.split()[:3]
            mountpoint = mountpoint.replace("\\040", " ")
            if (path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")) \
                    and len(mountpoint) >= len(best[0]):
                best = (mountpoint, device, fstype)
    mountpoint, device, fstype = best
    if fstype == "ext4":
        name = os.path.basename(os.path.realpath(device))
        journaled = any(entry.startswith(name + "-") for entry in _jbd2_entries())
        fstype += " (journaled)" if journaled else " (no journal)"
    return f"{fstype} on {device} at {mountpoint}"


def _jbd2_entries() -> list[str]:
    try:
        return os.listdir("/proc/fs/jbd2")
    except OSError:
        return []


def can_mount() -> str | None:
    """None when a journaled image can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root: cannot loop-mount a journaled ext4"
    for tool in ("mkfs.ext4", "mount", "umount"):
        if system_tool(tool) is None:
            return f"{tool} not found"
    return None


def system_tool(name: str) -> str | None:
    """On PATH, or in the sbin folders a non-login root shell may not have on it."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


@contextmanager
def journaled_ext4(beside: str, size: str = IMAGE_SIZE, journal: bool = True):
    """Yield the mount point of a fresh journaled ext4 image kept in ``beside``; remove both after.

    ``journal=False`` makes the other kind (as this machine's root filesystem is), for tests.
    """
    image = os.path.join(beside, "bench-ext4.img")
    mountpoint = tempfile.mkdtemp(prefix="bench-ext4-", dir=beside)
    mounted = False
    try:
        subprocess.run(["truncate", "-s", size, image], check=True)
        subprocess.run([system_tool("mkfs.ext4"), "-q", "-F", *([] if journal else ["-O", "^has_journal"]), image],
                       check=True)
        subprocess.run([system_tool("mount"), "-o", "loop", image, mountpoint], check=True)
        mounted = True
        yield mountpoint
    finally:
        if mounted:
            subprocess.run([system_tool("umount"), mountpoint], check=False)
        _quietly(os.rmdir, mountpoint)      # fails, leaving it, if still mounted
        _quietly(os.unlink, image)


def _quietly(remove, path: str) -> None:
    try:
        remove(path)
    except OSError:
        pass
