"""dcmrecv's output naming rules as pure functions (DCMTK 3.6.7 ``DcmStorageSCP::generateDirAndFilename``).

Every function here is deterministic given its inputs (time, random source
and fresh UIDs are passed in or come from the small generator classes at the
end), so the supervisor can own uniqueness and workers only format names.
The returned file names are bare names (no directory); directories come from
:func:`series_date_subdir` and are joined by the caller.
"""

from __future__ import annotations

import datetime
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator

from dcmrecv_cluster.shared.modalities import modality_prefix

__all__ = [
    "NamingError",
    "sanitize",
    "series_date_subdir",
    "default_name",
    "unique_name",
    "system_time_name",
    "short_unique_name",
    "ShortNameGenerator",
    "UidGenerator",
    "FALLBACK_PREFIX",
    "SHORT_FALLBACK_PREFIX",
    "MAX_TRY",
    "TEMP_PREFIX",
    "temp_name",
    "temp_files_of",
    "leftover_temp_files",
]

#: Prefix for unknown SOP classes in +fd, +fu and +fst (``DcmStorageSCP::generateDirAndFilename``).
FALLBACK_PREFIX = "UNKNOWN"
#: Prefix for unknown SOP classes in +fsu (``DcmStorageSCP::generateDirAndFilename``).
SHORT_FALLBACK_PREFIX = "XX"
#: Candidates tried by +fsu before giving up (DCMTK's ``MAX_TRY`` in ``ofstd/libsrc/offname.cc``).
MAX_TRY = 1024


class NamingError(Exception):
    """A name cannot be generated; ``str(exc)`` is DCMTK's condition text.

    dcmrecv logs ``E: cannot generate directory or file name for received
    object: <text>`` and answers 0xC000 (``DcmStorageSCP``).
    """


# --------------------------------------------------------------------------
# sanitizing


def sanitize(name: str) -> str:
    """Make a generated file name safe to create inside the output directory.

    dcmrecv (Debian-patched 3.6.7) replaces the path separator ``/``
    with ``_`` in the whole generated file name, extension included, in all
    four naming modes (verified against Debian 12's dcmrecv).  We add, as
    a guard DCMTK does not need because a prefix is always present:

    * NUL becomes ``_`` (DCMTK's C strings would silently truncate the name
      at the NUL, which loses the extension and makes distinct instances
      collide; POSIX cannot hold a NUL in a name at all);
    * an empty name becomes ``_``;
    * a name made only of dots (``.``, ``..``, ...) gets every dot replaced
      by ``_``, so it can never address the directory itself or its parent.
    """
    name = name.replace("/", "_").replace("\0", "_")
    if not name.strip("."):
        return "_" * max(len(name), 1)
    return name


# --------------------------------------------------------------------------
# --series-date-subdir

_DA_DIGITS = re.compile(r"[0-9]{8}")
_DA_OLD = re.compile(r"[0-9]{4}\.[0-9]{2}\.[0-9]{2}")

#: Directory names used by DcmStorageSCP (``StandardSubdirectory`` etc.).
DATA_SUBDIR = "data"
UNDEF_SUBDIR = "undef"


def _series_date_parts(value: bytes | str | None) -> tuple[str, str, str] | None:
    """(YYYY, MM, DD) if DCMTK's ``getISOFormattedDate`` accepts *value*."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        # DA is ASCII; anything else cannot match the digit patterns anyway.
        value = bytes(value).decode("latin-1")
    first = value.split("\\", 1)[0].rstrip(" ")
    if _DA_DIGITS.fullmatch(first):
        y, m, d = first[0:4], first[4:6], first[6:8]
    elif _DA_OLD.fullmatch(first):
        y, m, d = first[0:4], first[5:7], first[8:10]
    else:
        return None
    # OFDate::isDateValid: month 1..12, day 1..31, no calendar check.
    if not (1 <= int(m) <= 12 and 1 <= int(d) <= 31):
        return None
    return y, m, d


def series_date_subdir(value: bytes | str | None, vr: str | None, today: datetime.date) -> str:
    """Subdirectory for ``+ssd``: ``data/YYYY/MM/DD`` or ``undef/YYYYMMDD``.

    *value* is the raw (0008,0021) value of the top-level dataset (``None``
    if absent), *vr* its VR as seen (explicit VR) or ``"DA"`` (implicit VR),
    *today* the current local date, used when the series date is unusable.
    Rules (``DcmStorageSCP::generateDirAndFilename``): VR must be ``DA``; first value of a multi-valued element;
    trailing spaces removed; exactly ``YYYYMMDD`` or old ``YYYY.MM.DD``;
    month 1..12 and day 1..31 without calendar check.
    """
    parts = _series_date_parts(value) if vr == "DA" else None
    if parts is not None:
        return "/".join((DATA_SUBDIR, *parts))
    return f"{UNDEF_SUBDIR}/{today.year:04d}{today.month:02d}{today.day:02d}"


# --------------------------------------------------------------------------
# the four name modes


def default_name(sop_class_uid: str | None, sop_instance_uid: str | None, ext: str = "") -> str:
    """``+fd``: ``<prefix>.<SOP Instance UID><ext>``, fallback ``UNKNOWN``.

    Raises :class:`NamingError` with DCMTK's texts for empty UIDs (the class
    UID is checked first, as in ``dstorscp.cc``).
    """
    if not sop_class_uid:
        raise NamingError("Invalid SOP Class UID")
    if not sop_instance_uid:
        raise NamingError("Invalid SOP Instance UID")
    prefix = modality_prefix(sop_class_uid, FALLBACK_PREFIX)
    return sanitize(f"{prefix}.{sop_instance_uid}{ext}")


def unique_name(sop_class_uid: str | None, new_uid: str, ext: str = "") -> str:
    """``+fu``: ``<prefix>.X.<new UID><ext>``, fallback ``UNKNOWN``.

    An empty class UID is not an error here (DCMTK falls back to the prefix).  *new_uid* comes from
    :class:`UidGenerator`.
    """
    prefix = modality_prefix(sop_class_uid or "", FALLBACK_PREFIX)
    return sanitize(f"{prefix}.X.{new_uid}{ext}")


def format_system_time(now: datetime.datetime) -> str:
    """DCMTK's ``getCurrentDateTime(seconds, fraction)``: ``YYYYMMDDhhmmss.ffffff``.

    *now* must already be local time (naive or aware; only its fields are
    used, the UTC offset is not printed).
    """
    return (
        f"{now.year:04d}{now.month:02d}{now.day:02d}"
        f"{now.hour:02d}{now.minute:02d}{now.second:02d}.{now.microsecond:06d}"
    )


def system_time_name(sop_class_uid: str | None, now: datetime.datetime, ext: str = "") -> str:
    """``+fst``: ``YYYYMMDDhhmmss.ffffff.<prefix><ext>`` in local time.

    Use ``datetime.datetime.now()`` (local) for *now*.  No collision
    avoidance, exactly like dcmrecv (same microsecond -> overwrite).
    """
    prefix = modality_prefix(sop_class_uid or "", FALLBACK_PREFIX)
    return sanitize(f"{format_system_time(now)}.{prefix}{ext}")


def short_unique_name(sop_class_uid: str | None, hex16: str, ext: str = "") -> str:
    """``+fsu``: ``<prefix>_<hex16><ext>``, fallback prefix ``XX``.

    *hex16* is one candidate from :meth:`ShortNameGenerator.candidates`.
    """
    prefix = modality_prefix(sop_class_uid or "", SHORT_FALLBACK_PREFIX)
    return sanitize(f"{prefix}_{hex16}{ext}")


# --------------------------------------------------------------------------
# +fsu pseudo-random source

_RAND_MOD = 1 << 31  # OFRAND_MAX + 1


class ShortNameGenerator:
    """The ``+fsu`` source: DCMTK's ``OFFilenameCreator::makeFilename`` bit for bit.

    The creation time is captured once (dcmrecv does it when the SCP object
    is built, i.e. at start-up).  Each object seeds the LCG with the current
    time in seconds; candidate *k* is ``%08x(creation) %08x(r_k)`` where
    ``r_k = (rand & 0xFFFF) << 16 | (rand & 0xFFFF)`` from two successive
    ``OFrand_r`` draws (first draw = high half).  The caller takes the first
    candidate whose file does not exist (dcmrecv ``stat``s; in a cluster use
    ``O_CREAT|O_EXCL`` to make the check atomic) and fails with
    ``Could not generate filename`` after :data:`MAX_TRY` candidates.

    With *node_id* (0..255, ``--node-id``) the top byte of the random word is
    the node id: nodes writing into one shared directory then draw from
    disjoint name sets even when started in the same second, and the name
    keeps dcmrecv's shape ``[A-Z]+_[0-9a-f]{16}``. Within one node the 1024
    candidates of a second stay distinct: their low 16 bits alone already
    are (every other step of an LCG whose low 16 bits have period 2**16).
    Without *node_id* the sequence is DCMTK's, bit for bit.
    """

    def __init__(self, creation_time: int | None = None, node_id: int | None = None) -> None:
        if node_id is not None and not 0 <= node_id <= 0xFF:
            raise ValueError("node_id must be 0..255 for +fsu names")
        self.creation_time = int(time.time()) if creation_time is None else int(creation_time)
        self.node_id = node_id

    @staticmethod
    def _rand(seed: int) -> int:
        """One ``OFrand_r`` step: returns the new seed, which is also the value."""
        return (seed * 1103515245 + 12345) % _RAND_MOD

    def candidates(self, now: int | None = None, limit: int = MAX_TRY) -> Iterator[str]:
        """Yield up to *limit* 16-hex-digit candidates for seed *now* (seconds)."""
        seed = (int(time.time()) if now is None else int(now)) & 0xFFFFFFFF
        head = f"{self.creation_time & 0xFFFFFFFF:08x}"
        for _ in range(limit):
            seed = self._rand(seed)
            high = seed & 0xFFFF
            seed = self._rand(seed)
            low = seed & 0xFFFF
            word = (high << 16) | low
            if self.node_id is not None:
                word = (self.node_id << 24) | (word & 0xFFFFFF)
            yield f"{head}{word:08x}"


# --------------------------------------------------------------------------
# +fu UIDs

UUID_ROOT = "2.25"
MAX_UID_LENGTH = 64
_UID_COMPONENT = re.compile(r"0|[1-9][0-9]*")
_UUID_INT_DIGITS = 39  # len(str(2**128 - 1))


def is_valid_uid(uid: str) -> bool:
    """True for a syntactically valid DICOM UID (PS3.5 §9.1), ≤ 64 chars."""
    return 0 < len(uid) <= MAX_UID_LENGTH and all(_UID_COMPONENT.fullmatch(c) for c in uid.split("."))


class UidGenerator:
    """Fresh UIDs for ``+fu`` names, unique without any coordination.

    Scheme: ``2.25.<UUID as integer>`` (ITU-T X.667 / PS3.5 B.2) with a new
    random (version 4) UUID per call.  Why this and not DCMTK's
    ``root.hostid.pid.time.counter``: 122 random bits from ``os.urandom``
    need no shared state, so UIDs stay unique across worker processes,
    forks and pickled copies of this object (the state is not copied), restarts
    (pid/time reuse cannot collide) and nodes, with no node registry.  At most
    44 characters.

    With another *root* (an organisation's own arc) the UID is
    ``<root>[.<node_id>].<UUID as integer>``; uniqueness again rests on the
    UUID, *node_id* only adds provenance.  The root must leave room for the
    worst case (39 digits), else ``ValueError``.  Under ``2.25`` the arc
    directly below must be the UUID itself, so *node_id* is not encoded.
    """

    def __init__(self, root: str = UUID_ROOT, node_id: int | None = None) -> None:
        root = root.rstrip(".")
        if not is_valid_uid(root):
            raise ValueError(f"invalid UID root: {root!r}")
        if node_id is not None and node_id < 0:
            raise ValueError("node_id must be >= 0")
        self.root = root
        self.node_id = node_id
        if root == UUID_ROOT:
            self._stem = root + "."
        else:
            node = "" if node_id is None else f".{node_id}"
            self._stem = f"{root}{node}."
        if len(self._stem) + _UUID_INT_DIGITS > MAX_UID_LENGTH:
            raise ValueError(f"UID root too long for {MAX_UID_LENGTH}-char UIDs: {self._stem!r}")

    def next_uid(self) -> str:
        """A new UID, ≤ 64 chars, components without leading zeros."""
        return f"{self._stem}{int.from_bytes(uuid.uuid4().bytes, 'big')}"


# --------------------------------------------------------------------------
# temp files

#: Hidden prefix of a worker's files in progress; ``<prefix><pid>-`` is one worker's.
TEMP_PREFIX = ".dcmrecv-cluster-"


# Nodes sharing one output directory may run workers with equal pids: the host keeps them apart.
_HOST = (socket.gethostname() or "localhost").replace("/", "_")


def temp_name(pid: int, sequence: int) -> str:
    """The hidden name of an instance in progress, recognisable per worker process and host."""
    return f"{TEMP_PREFIX}{_HOST}-{pid}-{sequence}.tmp"


def temp_files_of(output_directory: str, pid: int | None = None, series_date_subdirs: bool = True) -> list[str]:
    """Temp files left by worker *pid* (every worker's if None), for removal after it died.

    Temp files live in the directory their instance goes to: the output
    directory, or with ``+ssd`` one of ``undef/<date>`` and ``data/YYYY/MM/DD``.
    Only those shapes are listed, never the whole tree below them.
    """
    prefix = f"{TEMP_PREFIX}{_HOST}-" if pid is None else f"{TEMP_PREFIX}{_HOST}-{pid}-"
    root = output_directory or "."
    directories = [root]
    if series_date_subdirs:
        directories += _subdirectories(os.path.join(root, UNDEF_SUBDIR), 1)
        directories += _subdirectories(os.path.join(root, DATA_SUBDIR), 3)
    found = []
    for directory in directories:
        try:
            with os.scandir(directory) as entries:
                found += [e.path for e in entries if e.name.startswith(prefix) and e.is_file(follow_symlinks=False)]
        except OSError:
            continue
    return found


def leftover_temp_files(output_directory: str, series_date_subdirs: bool = True) -> list[str]:
    """This host's temp files whose worker process no longer runs: nobody can finish them.

    Several nodes on one host may share the output directory, so a file whose pid is alive
    (another node's worker, or an unrelated process that reused the pid) is left alone.
    The walk is :func:`temp_files_of`'s: only the shapes a temp file can live in.
    """
    prefix = f"{TEMP_PREFIX}{_HOST}-"
    leftovers = []
    for path in temp_files_of(output_directory, None, series_date_subdirs):
        pid_text = os.path.basename(path)[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not _process_exists(int(pid_text)):
            leftovers.append(path)
    return leftovers


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def _subdirectories(directory: str, depth: int) -> list[str]:
    """Directories exactly *depth* levels below *directory* (symlinks not followed)."""
    level = [directory]
    for _ in range(depth):
        below = []
        for parent in level:
            try:
                with os.scandir(parent) as entries:
                    below += [e.path for e in entries if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
        level = below
    return level


def local_today() -> datetime.date:
    """Today's local date, as DCMTK's ``DcmDate::getCurrentDate`` gives it."""
    return datetime.date.today()

