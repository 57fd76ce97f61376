"""Rate-limited log lines: a flood of refusals must not become a flood of log lines.

Each kind of line (a key chosen by the caller: a reason, never a peer address, so
the number of keys is bounded by the code) is printed at most `burst` times per
`interval` seconds; the rest are counted and summed up in one line when the
window closes ("... 1234 more in the last 10 s"). An operator still sees the
first occurrences in full, with peer and AE titles.
"""

from __future__ import annotations

import time
from collections.abc import Callable

INTERVAL = 10.0
BURST = 3


class Throttle:
    def __init__(self, emit: Callable[[str, str], None], interval: float = INTERVAL, burst: int = BURST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.emit = emit                    # (level letter, text)
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self.windows: dict[str, list] = {}  # key -> [window start, shown, suppressed, level, summary text]

    def __call__(self, key: str, letter: str, text: str, summary: str | None = None) -> None:
        """Log `text` unless `key` already had `burst` lines in this window. `summary` names what
        was suppressed ("more connections closed ..."); by default the key itself."""
        now = self.clock()
        window = self.windows.get(key)
        if window is not None and now - window[0] >= self.interval:
            self._close(key, window)
            window = None
        if window is None:
            window = self.windows[key] = [now, 0, 0, letter, summary or key]
        if window[1] < self.burst:
            window[1] += 1
            self.emit(letter, text)
        else:
            window[2] += 1

    def flush(self) -> None:
        """Close the windows that are over (call it from the owner's loop now and then)."""
        now = self.clock()
        for key, window in list(self.windows.items()):
            if now - window[0] >= self.interval:
                self._close(key, window)

    def _close(self, key: str, window: list) -> None:
        del self.windows[key]
        if window[2]:
            self.emit(window[3], f"{window[2]} more: {window[4]} (in the last {self.interval:g} s)")
