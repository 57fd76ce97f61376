"""Writing one received instance: streamed to a hidden temp file, then made durable and named.

Order of a store (issue: zero-loss writes): data streams into
``<od>/.dcmrecv-cluster-<pid>-<n>.tmp`` as it arrives; at the last fragment the
name and directory are chosen, the file is fsynced, renamed (or linked
exclusively, for names that must never overwrite) into place, and the directory
is fsynced. Only then does the caller send the success response. On any failure
the temp file is removed, so nothing half-written ever carries a final name.
"""

from __future__ import annotations

import datetime
import errno
import itertools
import os
from dataclasses import dataclass
from typing import Callable

from dcmrecv_cluster.shared import naming, part10
from dcmrecv_cluster.workers.dimse import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, SUCCESS, Command

TEMP_PREFIX = ".dcmrecv-cluster-"
HEAD_BYTES = 65536  # enough of the dataset to find group 0008 without keeping the instance

_sequence = itertools.count(1)


@dataclass(frozen=True)
class StorageSettings:
    output_directory: str
    subdir_mode: str        # "none" | "series-date"
    filename_mode: str      # "default" | "unique" | "short-unique" | "system-time"
    extension: str
    storage_mode: str       # "normal" | "bit-preserving" | "ignore"
    fsync: bool = True

    @property
    def shown_directory(self) -> str:
        """The output directory as dcmrecv prints it: trailing separators removed, '' -> '.'."""
        return self.output_directory.rstrip("/") or ("/" if self.output_directory.startswith("/") else ".")


class Namer:
    """Names that must be unique across workers come from the supervisor's authority."""

    def __init__(self, unique_uid: Callable[[], str], short_candidates: Callable[[int], list[str]]) -> None:
        self.unique_uid = unique_uid
        self.short_candidates = short_candidates


@dataclass
class Outcome:
    status: int
    path: str | None = None
    size: int = 0


def temp_files_of(output_directory: str, pid: int) -> list[str]:
    """Temp files a dead worker left behind (the supervisor removes them after reaping)."""
    prefix = f"{TEMP_PREFIX}{pid}-"
    try:
        return [os.path.join(output_directory, n) for n in os.listdir(output_directory) if n.startswith(prefix)]
    except OSError:
        return []


class InstanceWriter:
    """One C-STORE in progress."""

    def __init__(self, settings: StorageSettings, request: Command, transfer_syntax: str,
                 calling_ae_title: str, namer: Namer, log: Callable[[str, str], None]) -> None:
        self.settings = settings
        self.request = request
        self.transfer_syntax = transfer_syntax
        self.calling_ae_title = calling_ae_title
        self.namer = namer
        self.log = log
        self.size = 0
        self.head = bytearray()
        self.error: OSError | None = None
        self.fd: int | None = None
        self.temp_path: str | None = None
        self.planned_path: str | None = None
        self.meta_length = 0
        if settings.storage_mode == "ignore":
            return
        if settings.storage_mode == "bit-preserving":
            # dcmrecv names a bit-preserved file before its data arrive (and warns then).
            self.planned_path = self._plan_path(subdir="")
            if self.planned_path is None:
                raise NamingFailure()
        self._open_temp()

    # ---- receiving ----------------------------------------------------------
    def _open_temp(self) -> None:
        self.temp_path = os.path.join(
            self.settings.output_directory, f"{TEMP_PREFIX}{os.getpid()}-{next(_sequence)}.tmp"
        )
        try:
            self.fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            bit_preserving = self.settings.storage_mode == "bit-preserving"
            meta = part10.encode_meta(
                self.request.affected_sop_class_uid,
                self.request.affected_sop_instance_uid,
                self.transfer_syntax,
                part10.IMPLEMENTATION_CLASS_UID,
                part10.BIT_PRESERVING_VERSION_NAME if bit_preserving else part10.IMPLEMENTATION_VERSION_NAME,
                source_ae_title=self.calling_ae_title if bit_preserving else None,
            )
            self.meta_length = len(meta)
            self._write_all(meta)
        except OSError as exc:
            self._fail(exc)

    def write(self, chunk: memoryview) -> None:
        self.size += len(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        if self.fd is not None:
            try:
                self._write_all(chunk)
            except OSError as exc:
                self._fail(exc)

    def _write_all(self, data) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def _fail(self, exc: OSError) -> None:
        if self.error is None:
            self.error = exc
        self.discard()

    def discard(self) -> None:
        """Forget everything written so far (aborted association, failed write)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.temp_path is not None:
            try:
                os.unlink(self.temp_path)
            except FileNotFoundError:
                pass
            self.temp_path = None

    # ---- completing ---------------------------------------------------------
    def finish(self) -> Outcome:
        mode = self.settings.storage_mode
        if mode == "ignore":
            self.log("D", "received dataset is not stored since the storage mode is set to 'ignore'")
            return Outcome(SUCCESS, size=self.size)
        if self.error is not None:
            self.log("E", f"cannot store received object: {self._shown_target()}: {self.error.strerror}")
            return Outcome(OUT_OF_RESOURCES)
        try:
            if mode == "normal":
                return self._finish_normal()
            return self._commit(self.planned_path)
        except OSError as exc:
            self.log("E", f"cannot store received object: {self._shown_target()}: {exc.strerror}")
            self.discard()
            return Outcome(OUT_OF_RESOURCES)

    def _shown_target(self) -> str:
        return self.planned_path or os.path.join(self.settings.shown_directory, "")

    def _finish_normal(self) -> Outcome:
        if self.size == 0:
            self.log("E", "cannot store received object: empty dataset")
            self.discard()
            return Outcome(CANNOT_UNDERSTAND)
        try:
            facts = part10.read_dataset_facts(bytes(self.head), self.transfer_syntax)
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the sender's data
            self.log("E", f"cannot store received object: undecodable dataset: {exc}")
            self.discard()
            return Outcome(CANNOT_UNDERSTAND)
        if facts.is_empty:
            self.log("E", "cannot store received object: empty dataset")
            self.discard()
            return Outcome(CANNOT_UNDERSTAND)
        self._match_meta_to_dataset(facts)
        subdir = ""
        if self.settings.subdir_mode == "series-date":
            subdir = naming.series_date_subdir(facts.series_date, facts.series_date_vr, naming.local_today())
        path = self._plan_path(subdir)
        if path is None:
            self.discard()
            return Outcome(CANNOT_UNDERSTAND)
        self.log("D", f"generated filename for received object: {path}")
        return self._commit(path)

    def _match_meta_to_dataset(self, facts) -> None:
        """dcmrecv takes the meta UIDs from the dataset; we wrote the command's, so fix the rare mismatch."""
        sop_class = facts.sop_class_uid or self.request.affected_sop_class_uid
        sop_instance = facts.sop_instance_uid or self.request.affected_sop_instance_uid
        if (sop_class, sop_instance) == (self.request.affected_sop_class_uid, self.request.affected_sop_instance_uid):
            return
        meta = part10.encode_meta(sop_class, sop_instance, self.transfer_syntax,
                                  part10.IMPLEMENTATION_CLASS_UID, part10.IMPLEMENTATION_VERSION_NAME)
        old_path, old_meta_length = self.temp_path, self.meta_length
        os.close(self.fd)
        self.fd = None
        self._open_temp_with(meta)
        with open(old_path, "rb") as source:
            source.seek(old_meta_length)
            while chunk := source.read(1 << 20):
                self._write_all(chunk)
        os.unlink(old_path)

    def _open_temp_with(self, meta: bytes) -> None:
        self.temp_path = os.path.join(
            self.settings.output_directory, f"{TEMP_PREFIX}{os.getpid()}-{next(_sequence)}.tmp"
        )
        self.fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        self.meta_length = len(meta)
        self._write_all(meta)

    def _plan_path(self, subdir: str) -> str | None:
        """Directory and file name by dcmrecv's rules; None (and an E: line) when none can be made."""
        request, ext = self.request, self.settings.extension
        mode = self.settings.filename_mode
        try:
            if mode == "default":
                name = naming.default_name(request.affected_sop_class_uid, request.affected_sop_instance_uid, ext)
            elif mode == "system-time":
                name = naming.system_time_name(request.affected_sop_class_uid, datetime.datetime.now(), ext)
            elif mode == "unique":
                name = naming.unique_name(request.affected_sop_class_uid, self.namer.unique_uid(), ext)
            else:
                name = naming.short_unique_name(request.affected_sop_class_uid, "0" * 16, ext)
        except naming.NamingError as exc:
            self.log("E", f"cannot generate directory or file name for received object: {exc}")
            return None
        directory = os.path.join(self.settings.shown_directory, subdir) if subdir else self.settings.shown_directory
        return os.path.join(directory, name)

    def _commit(self, path: str) -> Outcome:
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                self.log("E", f"cannot create directory for received object: {directory}: {exc.strerror}")
                self.discard()
                return Outcome(OUT_OF_RESOURCES)
        if self.settings.fsync:
            os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        if self.settings.filename_mode == "short-unique":
            path = self._link_short_unique(directory)
            if path is None:
                self.discard()
                return Outcome(CANNOT_UNDERSTAND)
        elif self.settings.filename_mode == "unique":
            path = self._link_exclusive(path)
        else:
            if os.path.lexists(path):
                self.log("W", f"file already exists, overwriting: {path}")
            os.rename(self.temp_path, path)
            self.temp_path = None
        if self.settings.fsync:
            _fsync_directory(directory or ".")
        self.log("I", f"Stored received object to file: {path}")
        return Outcome(SUCCESS, path, self.size + self.meta_length)

    def _link_exclusive(self, path: str) -> str:
        """A new name appears only if nothing had it: link() fails rather than replace."""
        while True:
            try:
                os.link(self.temp_path, path)
                break
            except FileExistsError:
                path = os.path.join(os.path.dirname(path), naming.unique_name(
                    self.request.affected_sop_class_uid, self.namer.unique_uid(), self.settings.extension))
        os.unlink(self.temp_path)
        self.temp_path = None
        return path

    def _link_short_unique(self, directory: str) -> str | None:
        tried = 0
        while tried < naming.MAX_TRY:
            candidates = self.namer.short_candidates(min(16, naming.MAX_TRY - tried))
            if not candidates:
                break
            for hex16 in candidates:
                tried += 1
                path = os.path.join(directory, naming.short_unique_name(
                    self.request.affected_sop_class_uid, hex16, self.settings.extension))
                try:
                    os.link(self.temp_path, path)
                except FileExistsError:
                    continue
                os.unlink(self.temp_path)
                self.temp_path = None
                return path
        self.log("E", "cannot generate directory or file name for received object: Could not generate filename")
        return None


class NamingFailure(Exception):
    """No name could be made before the data arrived (bit-preserving mode): dcmrecv aborts."""


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
