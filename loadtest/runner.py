"""Spread association slots over spawned worker processes and gather the results."""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import resource
import sys
import time
from dataclasses import dataclass, field

from .payload import InstanceSpec
from .progress import Progress
from .report import summarise
from .scu import Target
from .tally import Tally
from .uids import new_run_id
from .worker import TlsOptions, WorkerPlan
from .worker import main as worker_main

READY_TIMEOUT = 120.0


@dataclass
class RunConfig:
    target: Target
    specs: list[InstanceSpec]
    associations: int = 1
    processes: int = 1
    count: int | None = None
    duration: float | None = None
    per_association: int = 0
    rate: float | None = None
    retry: int = 0
    tls: TlsOptions | None = None
    progress: bool = False
    settings: dict = field(default_factory=dict)


def propose(specs: list[InstanceSpec]) -> tuple[list[tuple[int, str, list[str]]], list[int]]:
    """One context per distinct (SOP class, transfer syntax): only what is sent."""
    ids: dict[tuple[str, str], int] = {}
    proposed = []
    spec_context = []
    for spec in specs:
        key = (spec.sop_class_uid, spec.transfer_syntax)
        if key not in ids:
            ctx = 2 * len(ids) + 1
            if ctx > 255:
                raise ValueError("more than 128 (SOP class, transfer syntax) pairs to propose")
            ids[key] = ctx
            proposed.append((ctx, key[0], [key[1]]))
        spec_context.append(ids[key])
    return proposed, spec_context


def slot_counts(count: int | None, slots: int) -> list[int | None]:
    if count is None:
        return [None] * slots
    return [count // slots + (1 if i < count % slots else 0) for i in range(slots)]


def _plans(cfg: RunConfig, run_id: str) -> list[WorkerPlan]:
    proposed, spec_context = propose(cfg.specs)
    counts = slot_counts(cfg.count, cfg.associations)
    nproc = max(1, min(cfg.processes, cfg.associations))
    rate = cfg.rate / cfg.associations if cfg.rate else None
    plans = []
    for p in range(nproc):
        slots = [(s, counts[s]) for s in range(cfg.associations) if s % nproc == p]
        plans.append(WorkerPlan(process=p, run_id=run_id, target=cfg.target, tls=cfg.tls,
                                specs=cfg.specs, proposed=proposed, spec_context=spec_context,
                                slots=slots, total_slots=cfg.associations,
                                per_association=cfg.per_association, duration=cfg.duration,
                                rate_per_slot=rate, retry=cfg.retry))
    return plans


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


def _next(q, procs, done):
    """The next worker message; ("died", i, exitcode) for a worker gone silently."""
    try:
        return q.get(timeout=0.25)
    except queue_mod.Empty:
        pass
    for i, proc in enumerate(procs):
        if i not in done and proc.exitcode is not None:
            try:
                return q.get(timeout=1.0)  # its "done" may still be in flight
            except queue_mod.Empty:
                return ("died", i, proc.exitcode)
    return None


def run(cfg: RunConfig) -> dict:
    """Run the load; returns the summary dict (see report.summarise)."""
    run_id = new_run_id()
    plans = _plans(cfg, run_id)
    cpu0 = _cpu()
    mp = multiprocessing.get_context("spawn")
    q = mp.Queue()
    go, stop = mp.Event(), mp.Event()
    t0_value = mp.Value("d", 0.0, lock=False)
    procs = [mp.Process(target=worker_main, args=(plan, q, go, t0_value, stop), daemon=True)
             for plan in plans]
    for proc in procs:
        proc.start()
    errors: list[str] = []
    total = Tally()
    try:
        ready = 0
        deadline = time.monotonic() + READY_TIMEOUT
        while ready < len(procs):
            try:
                kind, process, payload = q.get(timeout=0.2)
            except queue_mod.Empty:
                if time.monotonic() > deadline or any(p.exitcode is not None for p in procs):
                    detail = "".join(errors).strip().splitlines()[-1:] or ["no message"]
                    raise RuntimeError(f"a worker process did not start: {detail[0]}") from None
                continue
            if kind == "ready":
                ready += 1
            elif kind == "error":
                errors.append(payload)
        t0 = time.time()
        t0_value.value = t0
        go.set()
        progress = Progress(cfg.progress, t0, total=cfg.count)
        done: set[int] = set()
        interrupted = False
        while len(done) < len(procs):
            try:
                message = _next(q, procs, done)
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                stop.set()
                continue
            if message is None:
                progress.update(-1, (0, 0, 0))
                continue
            kind, process, payload = message
            if kind == "progress":
                progress.update(process, payload)
            elif kind == "error":
                errors.append(payload)
            elif kind == "died":
                done.add(process)
                total.assoc_errors[f"worker process exited with {payload}"] += 1
            elif kind == "done":
                done.add(process)
                if payload is not None:
                    total.merge(payload)
                    progress.update(process, (payload.ok + payload.warnings,
                                              payload.bytes_ok, payload.failed))
        t_end = time.time()
        progress.close()
    finally:
        stop.set()
        go.set()
        for proc in procs:
            proc.join(10)
            if proc.exitcode is None:
                proc.kill()
                proc.join()
    user1, sys1 = _cpu()
    cpu = {"user_s": user1 - cpu0[0], "system_s": sys1 - cpu0[1],
           "processes": len(procs)}
    if errors:
        total.assoc_errors["driver error"] += len(errors)
        for text in errors:
            sys.stderr.write(text)
    return summarise(total, t0, t_end, cfg.settings, cpu)
