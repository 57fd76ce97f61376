"""The name authority: the one place that hands out +fu UIDs and +fsu candidates.

Workers ask over the control channel, so no two workers are ever given the same
name; exclusive creation in the worker remains the last guard against files
that already exist (earlier runs, other nodes on shared storage).
"""

from __future__ import annotations

import time

from dcmrecv_cluster.shared import naming


class NameAuthority:
    def __init__(self, node_id: int | None = None) -> None:
        self.uids = naming.UidGenerator(node_id=node_id)
        self.short = naming.ShortNameGenerator(node_id=node_id)
        self._second: int | None = None
        self._sequence = iter(())

    def unique_uids(self, count: int) -> list[str]:
        return [self.uids.next_uid() for _ in range(max(1, min(count, 1000)))]

    def short_candidates(self, count: int) -> list[str]:
        """dcmrecv's candidate sequence for the current second, never the same candidate twice.

        dcmrecv restarts the sequence for every object and skips names that
        exist; continuing the sequence within a second gives the same names
        without a stat() per candidate, and across workers.
        """
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._sequence = self.short.candidates(now)
        return [name for name, _ in zip(self._sequence, range(max(1, min(count, naming.MAX_TRY))), strict=False)]
