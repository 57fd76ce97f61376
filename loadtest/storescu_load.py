"""DCMTK's storescu as the sender: the load a hospital's modalities put on a node.

Part-10 files are written once per load (each with its own SOP Instance UID,
so no name is stored twice), split into one list per sender; every sender is
a `/usr/bin/storescu` process (TCP_NODELAY=1) that sends its list over one
association. Throughput is files acknowledged over the wall time from the
first start to the last exit, which includes each sender's association set-up
as a modality's does.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

from .payload import InstanceSpec
from .uids import UidFactory, new_run_id

STORESCU = "/usr/bin/storescu"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    if vr in (b"OB",):
        return (group.to_bytes(2, "little") + element.to_bytes(2, "little") + vr + b"\0\0"
                + len(value).to_bytes(4, "little") + value)
    return (group.to_bytes(2, "little") + element.to_bytes(2, "little") + vr
            + len(value).to_bytes(2, "little") + value)


def part10_file(spec: InstanceSpec, sop_instance_uid: bytes, dataset: bytes) -> bytes:
    """Preamble, meta header (explicit VR LE, PS3.10 7.1) and the data set as given."""
    body = b"".join([
        _element(0x0002, 0x0001, b"OB", b"\0\1"),
        _element(0x0002, 0x0002, b"UI", spec.sop_class_uid.encode()),
        _element(0x0002, 0x0003, b"UI", sop_instance_uid),
        _element(0x0002, 0x0010, b"UI", spec.transfer_syntax.encode()),
        _element(0x0002, 0x0012, b"UI", b"1.2.826.0.1.3680043.10.1434.1"),
    ])
    group_length = _element(0x0002, 0x0000, b"UL", len(body).to_bytes(4, "little"))
    return b"\0" * 128 + b"DICM" + group_length + body + dataset


@dataclass(frozen=True)
class SenderFiles:
    lists: list[list[str]]      # one list of paths per sender
    bytes_per_instance: int


def write_files(spec: InstanceSpec, senders: int, per_sender: int, directory: str) -> SenderFiles:
    """`senders` x `per_sender` files with fresh instance UIDs (synthetic specs only)."""
    if spec.uid_offset is None or spec.dataset is None:
        raise ValueError("storescu loads are built from synthetic instances")
    uids = UidFactory(new_run_id(), os.getpid() % 1000, 0)
    width = len(spec.sop_instance_uid)
    lists = []
    for sender in range(senders):
        folder = os.path.join(directory, f"s{sender:02d}")
        os.makedirs(folder, exist_ok=True)
        paths = []
        for n in range(per_sender):
            uid = uids.next()
            padded = uid.ljust(width, b"\0")[:width]
            data = bytearray(spec.dataset)
            data[spec.uid_offset:spec.uid_offset + width] = padded
            path = os.path.join(folder, f"{n:05d}.dcm")
            with open(path, "wb") as fh:
                fh.write(part10_file(spec, padded.rstrip(b"\0"), bytes(data)))
            paths.append(path)
        lists.append(paths)
    return SenderFiles(lists, spec.size)


def send(files: SenderFiles, port: int, timeout: float) -> dict:
    """Run one storescu per list at once; figures for the whole run."""
    env = {**os.environ, "TCP_NODELAY": "1"}
    started = time.monotonic()
    procs = [subprocess.Popen([STORESCU, "-to", "60", "-ta", "60", "-td", "60",
                               "127.0.0.1", str(port), *paths],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
             for paths in files.lists]
    errors = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            errors.append("storescu timed out")
            continue
        if proc.returncode != 0:
            errors.append(f"storescu exited {proc.returncode}: {err.decode(errors='replace')[-300:]}")
    wall = time.monotonic() - started
    sent = sum(len(paths) for paths in files.lists)
    return {"wall_s": wall, "sent": sent, "errors": errors}
