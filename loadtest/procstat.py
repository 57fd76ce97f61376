"""CPU time and resident memory of a process group, read from /proc.

A server started in its own session has a process group id equal to its pid;
every process it forks or spawns stays in that group, so summing over the
group (with reaped children's time from cutime/cstime) gives the tree's CPU.
"""

from __future__ import annotations

import os
import threading

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    return raw[raw.rfind(")") + 2:].split()


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (senders, kernel threads and write-back included)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK


def group_members(pgid: int) -> list[int]:
    """Pids whose process group is `pgid`."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        # fields[0] is state (field 3); pgrp is field 5 -> index 2
        if fields is not None and len(fields) > 2 and fields[2] == str(pgid):
            pids.append(int(name))
    return pids


def group_cpu_seconds(pgid: int) -> float:
    """utime+stime+cutime+cstime summed over the group's live processes."""
    total = 0
    for pid in group_members(pgid):
        fields = _stat_fields(pid)
        if fields is not None and len(fields) > 14:
            # utime(14) stime(15) cutime(16) cstime(17) -> indices 11..14
            total += sum(int(x) for x in fields[11:15])
    return total / _TICK


def _status_kib(pid: int, keys=("VmRSS:", "VmHWM:")) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                text = line.decode("ascii", "replace")
                for key in keys:
                    if text.startswith(key):
                        out[key[:-1]] = int(text.split()[1])
    except OSError:
        pass
    return out


class RssSampler:
    """Samples the group's resident memory in a thread until stopped.

    `peak_total_mib`: the largest sum of VmRSS seen in one sample;
    `peak_process_mib`: the largest VmHWM (peak RSS) of any one process seen.
    """

    def __init__(self, pgid: int, interval: float = 0.2):
        self.pgid = pgid
        self.interval = interval
        self.peak_total_kib = 0
        self.peak_process_kib = 0
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        pids = group_members(self.pgid)
        total = 0
        for pid in pids:
            values = _status_kib(pid)
            total += values.get("VmRSS", 0)
            self.peak_process_kib = max(self.peak_process_kib, values.get("VmHWM", 0))
        self.peak_total_kib = max(self.peak_total_kib, total)
        self.max_processes = max(self.max_processes, len(pids))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.sample()
        return {"peak_total_mib": self.peak_total_kib / 1024,
                "peak_process_mib": self.peak_process_kib / 1024,
                "max_processes": self.max_processes}
