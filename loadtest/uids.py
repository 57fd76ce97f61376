"""Fixed-length SOP Instance UIDs, so patched data sets keep their encoded length.

Layout (64 characters, no padding needed):
``<pydicom root 26>.<run 12>.<1 + process 3 + slot 4>.<1 + counter 15>``.
Every component starts with a non-zero digit, as PS3.5 §9.1 requires.
"""

from __future__ import annotations

import secrets

ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root, offered for generated UIDs
UID_LENGTH = 64
_COUNTER_BASE = 10 ** 15


def new_run_id() -> str:
    """12 random digits, first one non-zero: tells one run's UIDs from another's."""
    return str(10 ** 11 + secrets.randbelow(9 * 10 ** 11))


class UidFactory:
    """Hands out the UIDs of one association slot, as ASCII bytes."""

    def __init__(self, run_id: str, process: int, slot: int):
        if not (len(run_id) == 12 and run_id[0] != "0" and run_id.isdigit()):
            raise ValueError("run id must be 12 digits without a leading zero")
        if not (0 <= process < 1000 and 0 <= slot < 10000):
            raise ValueError("process < 1000 and slot < 10000")
        self.prefix = f"{ROOT}{run_id}.1{process:03d}{slot:04d}.".encode()
        self.counter = 0

    def next(self) -> bytes:
        self.counter += 1
        uid = self.prefix + str(_COUNTER_BASE + self.counter).encode()
        assert len(uid) == UID_LENGTH
        return uid


def placeholder_uid() -> str:
    """A UID of the final length that marks where to patch (slot 9999 of process 999)."""
    return f"{ROOT}{'9' * 12}.19999999.{'9' * 16}"
