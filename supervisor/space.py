"""--min-free-space: see a full disk coming instead of answering 0xA700 once it is there.

The supervisor looks at the output directory's filesystem once a second. Below
the mark, new associations get A-ASSOCIATE-RJ transient (result 2) so that
modalities retry later, or elsewhere: the agent check says `drain`, so HAProxy
moves traffic to the other nodes. Associations in flight finish. New
associations are admitted again once the free space is 10 % above the mark
(hysteresis: files landing and being moved away must not make the node flap).
"""

from __future__ import annotations

import os
import re
import time

CHECK_SECONDS = 1.0
HYSTERESIS = 0.10
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """`2G`, `500M`, `1.5T`, `4096` (bytes); K/M/G/T are powers of 1024, an optional `B`/`iB` is allowed."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"Invalid value for option --min-free-space ({text}): use a size like 2G or 500M")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def human(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.1f} {unit}iB"
    return f"{size} B"


def option_problem(options) -> str | None:
    value = getattr(options, "min_free_space", None)
    if value is None:
        return None
    try:
        parse_size(value)
    except ValueError as exc:
        return str(exc)
    return None


class SpaceWatch:
    def __init__(self, directory: str, mark: int, log, clock=time.monotonic) -> None:
        self.directory = directory or "."
        self.mark = mark
        self.resume = mark + int(mark * HYSTERESIS)
        self.log = log
        self.clock = clock
        self.low = False
        self.free: int | None = None
        self.next_check = 0.0

    def check(self) -> bool:
        """Look again if a second has passed; True when the state changed (logged once here)."""
        now = self.clock()
        if now < self.next_check:
            return False
        self.next_check = now + CHECK_SECONDS
        try:
            stat = os.statvfs(self.directory)
        except OSError as exc:
            self.log.warn(f"cannot read the free space of {self.directory}: {exc.strerror}")
            return False
        self.free = stat.f_bavail * stat.f_frsize
        if not self.low and self.free < self.mark:
            self.low = True
            self.log.warn(f"free space on {self.directory}: {human(self.free)}, below --min-free-space "
                          f"{human(self.mark)}: refusing new associations (A-ASSOCIATE-RJ transient) "
                          f"until {human(self.resume)} are free")
            return True
        if self.low and self.free >= self.resume:
            self.low = False
            self.log.warn(f"free space on {self.directory}: {human(self.free)}, accepting associations again")
            return True
        return False
