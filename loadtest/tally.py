"""Counters of one association slot, mergeable across slots and processes.

Plain ints, arrays and dicts so that a tally pickles cheaply through a queue.
"""

from __future__ import annotations

from array import array
from collections import Counter


class Tally:
    """What happened: instances by outcome, latencies, failures by kind, per second."""

    def __init__(self) -> None:
        self.ok = 0            # acknowledged with status 0x0000
        self.warnings = 0      # acknowledged with a warning status
        self.failed = 0        # sent or attempted, not acknowledged with success
        self.not_sent = 0      # planned (count mode) but never attempted
        self.bytes_ok = 0      # data set bytes of acknowledged instances
        self.associations = 0  # associations accepted
        self.gave_up = 0       # association still pending when the run ended
        self.retried = 0       # re-sends of instances whose association failed (--retry)
        self.recovered = 0     # instances acknowledged on a re-send: failed, then retried
        self.resent_after_duration = 0  # re-sends made after -t ended (pending retries are finished)
        self.latency = array("d")       # C-STORE round trips, seconds
        self.assoc_setup = array("d")   # connect + A-ASSOCIATE-AC, seconds
        self.statuses: Counter[str] = Counter()        # non-success DIMSE statuses
        self.instance_errors: Counter[str] = Counter() # instance lost to an abort etc.
        self.assoc_errors: Counter[str] = Counter()    # association rejected/aborted/...
        self.retried_errors: Counter[str] = Counter()  # association failures followed by a retry
        self.series: dict[int, list[int]] = {}         # second -> [ok, bytes, failed]
        self.first = 0.0  # wall time of the first association attempt
        self.last = 0.0   # wall time of the last completed exchange

    def second(self, sec: int) -> list[int]:
        row = self.series.get(sec)
        if row is None:
            row = self.series[sec] = [0, 0, 0]
        return row

    def merge(self, other: Tally) -> None:
        for name in ("ok", "warnings", "failed", "not_sent", "bytes_ok", "associations",
                     "gave_up", "retried", "recovered", "resent_after_duration"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.extend(other.latency)
        self.assoc_setup.extend(other.assoc_setup)
        self.statuses.update(other.statuses)
        self.instance_errors.update(other.instance_errors)
        self.assoc_errors.update(other.assoc_errors)
        self.retried_errors.update(other.retried_errors)
        for sec, row in other.series.items():
            mine = self.second(sec)
            for i, value in enumerate(row):
                mine[i] += value
        if other.first and (not self.first or other.first < self.first):
            self.first = other.first
        self.last = max(self.last, other.last)
