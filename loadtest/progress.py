"""A one-line progress display on stderr, redrawn in place."""

from __future__ import annotations

import sys
import time


class Progress:
    """Sums per-process progress snapshots and redraws at most every `interval`."""

    def __init__(self, enabled: bool, t0: float, stream=None, interval: float = 0.5,
                 total: int | None = None):
        self.enabled = enabled
        self.t0 = t0
        self.stream = stream or sys.stderr
        self.interval = interval
        self.total = total
        self.parts: dict[int, tuple[int, int, int]] = {}
        self.drawn = 0.0
        self.width = 0

    def update(self, process: int, snapshot: tuple[int, int, int]) -> None:
        self.parts[process] = snapshot
        now = time.time()
        if self.enabled and now - self.drawn >= self.interval:
            self.drawn = now
            self.draw(now)

    def line(self, now: float) -> str:
        ok = sum(p[0] for p in self.parts.values())
        nbytes = sum(p[1] for p in self.parts.values())
        failed = sum(p[2] for p in self.parts.values())
        elapsed = max(now - self.t0, 1e-9)
        done = f"{ok}/{self.total}" if self.total else f"{ok}"
        return (f"[{elapsed:6.1f}s] {done} instances  {nbytes / 1e6:9.1f} MB  "
                f"{ok / elapsed:8.1f} inst/s  {nbytes / 1e6 / elapsed:7.1f} MB/s  "
                f"errors {failed}")

    def draw(self, now: float) -> None:
        text = self.line(now)
        pad = max(0, self.width - len(text))
        self.width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.width:
            self.draw(time.time())
            self.stream.write("\n")
            self.stream.flush()
