"""Writing one received instance: streamed to a hidden temp file in its directory, made durable, then named.

Order of a store (what dcmrecv's ``DcmStorageSCP`` does, made crash-safe):

* Normal mode: the dataset is scanned as it arrives (``part10.DatasetScanner``).
  Until group 0008 has been passed the first bytes wait in memory (normally a
  few hundred bytes; beyond ``SPILL_LIMIT`` they spill to a hidden file in the
  output directory): only then are the meta header's UIDs (taken from the
  dataset, as dcmrecv does) and, with ``+ssd``, the target directory known.
  The temp file ``.dcmrecv-cluster-<pid>-<n>.tmp`` is then opened *in the
  target directory*, so the final rename never crosses a file system, and the
  rest streams straight into it.
* Bit-preserving mode: name and file are made before the data arrive (as in
  dcmrecv); the bytes after the meta header are the bytes on the wire.
* Ignore mode: the dataset is scanned (dcmrecv parses it) and dropped.

At the last fragment: the name is chosen by dcmrecv's rules, the file is
fsynced, renamed (default and system-time names: last one wins) or linked
exclusively (``+fu``/``+fsu``: never overwrite), the directory is fsynced, and
only then does the caller send the success response. On any failure the temp
file (and any directory made for it) is removed, so nothing half-written ever
carries a final name.
"""

from __future__ import annotations

import ctypes
import datetime
import errno
import functools
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass

from dcmrecv_cluster.shared import naming, part10
from dcmrecv_cluster.workers.dimse import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, SUCCESS, Command

MAX_BATCH = 256          # pieces per writev(), well below IOV_MAX
TEMP_PREFIX = naming.TEMP_PREFIX
#: Dataset bytes held in memory while group 0008 has not yet been passed.
SPILL_LIMIT = 1 << 20
_COPY_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
try:
    # With the GIL held (PyDLL): a rename is a short metadata call, and in the sync thread each
    # release would make it wait for the loop to hand the GIL back.
    _renameat2 = ctypes.PyDLL(None, use_errno=True).renameat2
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
except (OSError, AttributeError):       # glibc < 2.28 or not Linux
    _renameat2 = None

_sequence = itertools.count(1)
_PID = os.getpid()   # a worker never forks after import
_local_uids = naming.UidGenerator()


@dataclass(frozen=True)
class StorageSettings:
    output_directory: str
    subdir_mode: str        # "none" | "series-date"
    filename_mode: str      # "default" | "unique" | "short-unique" | "system-time"
    extension: str
    storage_mode: str       # "normal" | "bit-preserving" | "ignore"
    fsync: bool = True

    @functools.cached_property
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


class NamingFailure(Exception):
    """No name could be made before the data arrived (bit-preserving mode): dcmrecv aborts."""


class UndecodableDataset(Exception):
    """The dataset does not decode: dcmrecv sends no response and aborts the association.

    Raised by :meth:`InstanceWriter.finish` after everything was discarded;
    ``str(exc)`` is the parser's reason.
    """


def _child(directory: str, name: str) -> str:
    """os.path.join(directory, name) for a name that is relative, without its cost per store."""
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


class InstanceWriter:
    """One C-STORE in progress: ``write()`` each fragment, then ``finish()`` or ``discard()``."""

    def __init__(self, settings: StorageSettings, request: Command, transfer_syntax: str,
                 calling_ae_title: str, namer: Namer, log: Callable[[str, str], None]) -> None:
        self.settings = settings
        self.request = request
        self.transfer_syntax = transfer_syntax
        self.calling_ae_title = calling_ae_title
        self.namer = namer
        self.log = log
        self.mode = settings.storage_mode
        self.size = 0
        self.error: OSError | None = None
        self.error_directory: str | None = None   # set when the failure was making this directory
        self.fd: int | None = None
        self.temp_path: str | None = None
        self.temp_directory: str | None = None     # the folder of temp_path, as _open_target made it
        self.subdir = ""
        self.meta_length = 0
        self.planned_path: str | None = None
        self.pending: list[bytes] = []
        self.batch: list = []
        self.pending_size = 0
        self.spill_fd: int | None = None
        self.spill_path: str | None = None
        self.created_dirs: list[str] = []
        self.scanner = None if self.mode == "bit-preserving" else part10.DatasetScanner(transfer_syntax)
        # +B stores bytes unparsed; a side scanner only reads the study/series UIDs for the store
        # event and stops at group 0020: its errors change nothing.
        self.peek = part10.DatasetScanner(transfer_syntax) if self.mode == "bit-preserving" else None
        if self.mode == "bit-preserving":
            # dcmrecv names a bit-preserved file before its data arrive.
            self.planned_path = self._plan_path("")
            if self.planned_path is None:
                raise NamingFailure()
            self.log("D", f"generated filename for object to be received: {self.planned_path}")
            self._open_target("", part10.encode_meta(
                request.affected_sop_class_uid, request.affected_sop_instance_uid, transfer_syntax,
                part10.IMPLEMENTATION_CLASS_UID, part10.BIT_PRESERVING_VERSION_NAME,
                source_ae_title=calling_ae_title))

    # ---- receiving ----------------------------------------------------------
    def write(self, chunk) -> None:
        """One piece of the dataset, as received (a view valid only during the call)."""
        self.size += len(chunk)
        peek = self.peek
        if peek is not None and not peek.uids_ready and peek.error is None:
            peek.feed(chunk)
        scanner = self.scanner
        if scanner is not None:
            scanner.feed(chunk)
            if scanner.error is not None:
                self._release_files()   # it will be refused whole: stop writing now
                return
        if self.mode == "ignore" or self.error is not None:
            return
        try:
            if self.fd is not None:
                # Write-behind: the views stay valid until the reader refills, and the association
                # calls flush() before it waits for more; one writev() then takes them all.
                self.batch.append(chunk)
                if len(self.batch) >= MAX_BATCH:
                    self.flush()
                return
            if self.spill_fd is not None:
                _write_all(self.spill_fd, chunk)
            else:
                self.pending.append(bytes(chunk))
                self.pending_size += len(chunk)
            if scanner.facts_ready:
                self._open_normal_target()
            elif self.spill_fd is None and self.pending_size > SPILL_LIMIT:
                self._spill()
        except OSError as exc:
            self._fail(exc)

    def write_views(self, views: list, count: int) -> None:
        """write() of each view (``count`` bytes in all); at once from where the scanner only skips them."""
        scanner = self.scanner
        for index, view in enumerate(views):
            if (self.fd is not None and self.peek is None and self.error is None and scanner is not None
                    and scanner.skip_ahead(count)):
                self.size += count
                self.batch += views[index:]
                if len(self.batch) >= MAX_BATCH:
                    self.flush()
                return
            self.write(view)
            count -= len(view)

    def _spill(self) -> None:
        """Group 0008 is unusually long: park the bytes on disk rather than in memory."""
        self.spill_path = os.path.join(self.settings.shown_directory, naming.temp_name(_PID, next(_sequence)))
        self.spill_fd = os.open(self.spill_path, _OPEN_FLAGS, 0o600)
        for piece in self.pending:
            _write_all(self.spill_fd, piece)
        self.pending, self.pending_size = [], 0

    def _open_normal_target(self) -> None:
        """Group 0008 is in: meta header from the dataset's UIDs, temp file in the target directory."""
        facts = self.scanner.facts()
        if self.settings.subdir_mode == "series-date":
            self.subdir = naming.series_date_subdir(facts.series_date, facts.series_date_vr, naming.local_today())
        meta = part10.encode_meta(
            facts.sop_class_uid or part10.UNKNOWN_SOP_CLASS_UID,
            facts.sop_instance_uid or _local_uids.next_uid(),
            self.transfer_syntax, part10.IMPLEMENTATION_CLASS_UID, part10.IMPLEMENTATION_VERSION_NAME)
        self._open_target(self.subdir, meta)
        if self.fd is None:
            return
        self.batch.extend(self.pending)
        self.pending, self.pending_size = [], 0
        if self.spill_fd is not None:
            self.flush()
            with open(self.spill_path, "rb", buffering=0) as source:
                while piece := source.read(_COPY_CHUNK):
                    _write_all(self.fd, piece)
            self._close_spill()

    def _open_target(self, subdir: str, meta: bytes) -> None:
        directory = self._directory(subdir)
        for _attempt in range(3):
            try:
                self._make_directory(subdir)
            except OSError as exc:
                self.error_directory = directory
                self._fail(exc)
                return
            path = _child(directory, naming.temp_name(_PID, next(_sequence)))
            try:
                self.fd = os.open(path, _OPEN_FLAGS, 0o666)
            except FileNotFoundError:
                continue   # another worker removed the empty directory it had made: make it again
            except OSError as exc:
                self._fail(exc)
                return
            self.temp_path = path
            self.temp_directory = directory
            self.batch.append(meta)     # goes out with the first data in one writev()
            self.meta_length = len(meta)
            return
        self._fail(FileNotFoundError(2, os.strerror(2)))

    def _directory(self, subdir: str) -> str:
        root = self.settings.shown_directory
        return _child(root, subdir) if subdir else root

    def _make_directory(self, subdir: str) -> None:
        """mkdir each missing level below the output directory, remembering what we made."""
        path = self.settings.shown_directory
        for part in subdir.split("/") if subdir else ():
            path = os.path.join(path, part)
            try:
                os.mkdir(path)
            except FileExistsError:
                if os.path.isdir(path):
                    continue
                raise   # a file where a folder belongs: EEXIST, as DCMTK reports it
            self.created_dirs.append(path)

    def _fail(self, exc: OSError) -> None:
        if self.error is None:
            self.error = exc
        self._release_files()

    def _close_spill(self) -> None:
        if self.spill_fd is not None:
            os.close(self.spill_fd)
            self.spill_fd = None
        if self.spill_path is not None:
            _unlink(self.spill_path)
            self.spill_path = None

    def flush(self) -> None:
        """Hand the batched pieces to the kernel (before the receive buffer they point into is reused)."""
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        if self.fd is None:
            return
        try:
            _writev_all(self.fd, batch)
        except OSError as exc:
            self._fail(exc)

    def _release_files(self) -> None:
        self.batch = []
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.temp_path is not None:
            _unlink(self.temp_path)
            self.temp_path = None
        self._close_spill()
        self.pending, self.pending_size = [], 0
        for directory in reversed(self.created_dirs):
            try:
                os.rmdir(directory)   # only if still empty: other instances may have arrived meanwhile
            except OSError:
                break
        self.created_dirs = []

    def discard(self) -> None:
        """Forget everything written so far (aborted association, failed write)."""
        self._release_files()

    # ---- completing ---------------------------------------------------------
    # A store ends in three steps so that a batch of them shares one journal commit
    # (workers/committer.py): complete() when the last fragment is in, stage() (on the loop: it
    # may ask the supervisor for a name) before the sync that makes the data durable, publish()
    # (the name; in the sync thread when durable) before the one that makes the name durable.

    def complete(self) -> Outcome | None:
        """Last fragment arrived: the answer when no file is to be made, None when it must be committed."""
        self.flush()
        if self.scanner is not None:
            try:
                self.scanner.close()
            except part10.DatasetError as exc:
                self._release_files()
                self.log("E", f"Unable to receive C-STORE dataset: {exc}")
                raise UndecodableDataset(str(exc)) from exc
        if self.mode == "ignore":
            self.log("D", "received dataset is not stored since the storage mode is set to 'ignore'")
            return self.outcome(SUCCESS, size=self.size)
        if self.mode == "normal":
            if self.scanner.is_empty:
                self.log("D", "received dataset is empty, cannot store it")
                self._release_files()
                return self.outcome(CANNOT_UNDERSTAND)
            if self.fd is None and self.error is None:
                self._open_normal_target()   # small dataset: group 0008 was its end
                self.flush()
        return None

    def stage(self) -> Outcome | None:
        """Choose the final name (it may ask the supervisor); the answer if the store already failed."""
        if self.mode == "normal":
            path = self._plan_path(self.subdir)
            if path is None:
                self._release_files()
                return self.outcome(CANNOT_UNDERSTAND)
            if self.settings.filename_mode != "short-unique":
                self.log("D", f"generated filename for received object: {path}")
            self.planned_path = path
        if self.error is not None:
            if self.error_directory is not None:
                self.log("E", f"cannot create directory for received object: {self.error_directory}: "
                              f"Cannot create directory: {self.error.strerror}")
            else:
                self.log("E", f"cannot store received object: {self.planned_path}: {self.error.strerror}")
            self._release_files()
            return self.outcome(OUT_OF_RESOURCES)
        return None

    def publish(self) -> Outcome:
        """The data are durable (or durability is off): give the file its final name."""
        try:
            return self._publish()
        except OSError as exc:
            self.fail_commit(exc)
            return self.outcome(OUT_OF_RESOURCES)

    def fail_commit(self, exc: OSError) -> None:
        """The batch's sync failed: nothing of this store keeps a name."""
        self.log("E", f"cannot store received object: {self._shown_target()}: {exc.strerror}")
        self._release_files()

    def finish(self) -> Outcome:
        """complete(), then the whole commit at once: for callers without a reactor."""
        from dcmrecv_cluster.workers.committer import commit_now

        outcome = self.complete()
        if outcome is None:
            outcome = commit_now(self, self.settings.fsync)
        return outcome

    def outcome(self, status: int, path: str | None = None, size: int = 0) -> Outcome:
        return Outcome(status, path, size)

    def event_facts(self) -> dict:
        """Study/Series Instance UID for the store event (None when absent or not decodable)."""
        scanner = self.scanner or self.peek
        facts = scanner.facts() if scanner is not None and scanner.error is None else None
        return {"study_instance_uid": facts.study_instance_uid if facts else None,
                "series_instance_uid": facts.series_instance_uid if facts else None}

    def _shown_target(self) -> str:
        return self.planned_path or os.path.join(self._directory(self.subdir), "")

    @property
    def directory(self) -> str:
        """The folder of the temp file and of the final name."""
        if self.temp_path is not None:
            return self.temp_directory
        return os.path.dirname(self.planned_path)

    @property
    def directories_to_sync(self) -> list[str]:
        """Where this store changed a directory entry: its folder and the parents of folders it made."""
        return [self.directory] + [os.path.dirname(made) for made in self.created_dirs]

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
                # The real candidate is taken at commit time, exclusively; this one only shows the shape.
                name = naming.short_unique_name(request.affected_sop_class_uid, "0" * 16, ext)
        except naming.NamingError as exc:
            self.log("E", f"cannot generate directory or file name for received object: {exc}")
            return None
        return _child(self._directory(subdir), name)

    def _publish(self) -> Outcome:
        directory = self.temp_directory
        path = self.planned_path
        mode = self.settings.filename_mode
        if mode == "short-unique":
            path = self._link_short_unique(directory)
            if path is None:
                self._release_files()
                return self.outcome(CANNOT_UNDERSTAND)
            self.log("D", f"generated filename for received object: {path}")
        elif mode == "unique":
            path = self._link_exclusive(path)
        else:
            if not _rename_noreplace(self.temp_path, path):
                self.log("W", f"file already exists, overwriting: {path}")
                os.rename(self.temp_path, path)
            self.temp_path = None
        self.planned_path = path
        self.log("I", f"Stored received object to file: {path}")
        return self.outcome(SUCCESS, path, self.size + self.meta_length)

    def close_file(self) -> None:
        """Once the store is settled (its data were synced through this descriptor)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def forget_created_directories(self) -> None:
        """Once synced, folders made for this store belong to the tree (never removed on failure)."""
        self.created_dirs = []

    def _link_exclusive(self, path: str) -> str:
        """A new name appears only if nothing had it: link() fails rather than replace."""
        while True:
            try:
                os.link(self.temp_path, path)
                break
            except FileExistsError:
                path = os.path.join(os.path.dirname(path), naming.unique_name(
                    self.request.affected_sop_class_uid, self.namer.unique_uid(), self.settings.extension))
        _unlink(self.temp_path)
        self.temp_path = None
        return path

    def _link_short_unique(self, directory: str) -> str | None:
        tried = 0
        while tried < naming.MAX_TRY:
            # One name first (a clash is rare); a batch only once names are found taken.
            candidates = self.namer.short_candidates(min(16 if tried else 1, naming.MAX_TRY - tried))
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
                _unlink(self.temp_path)
                self.temp_path = None
                return path
        self.log("E", "cannot generate directory or file name for received object: Could not generate filename")
        return None


def _writev_all(fd: int, pieces: list) -> None:
    written = os.writev(fd, pieces)
    total = sum(len(piece) for piece in pieces)
    if written < total:       # rare (a signal, a full disk on the way): finish piece by piece
        for piece in pieces:
            if written >= len(piece):
                written -= len(piece)
                continue
            _write_all(fd, memoryview(piece)[written:])
            written = 0


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _rename_noreplace(source: str, target: str) -> bool:
    """rename() unless ``target`` exists (then False): one system call where lexists() + rename() took two."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return True
        error = ctypes.get_errno()
        if error == errno.EEXIST:
            return False
        if error not in (errno.EINVAL, errno.ENOSYS):     # EINVAL: this filesystem cannot; fall back
            raise OSError(error, os.strerror(error), source, None, target)
    if os.path.lexists(target):
        return False
    os.rename(source, target)
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
