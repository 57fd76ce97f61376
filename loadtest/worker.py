"""One worker process: several association slots, one thread each.

Imports only the standard library and our wire modules, so a spawned worker
starts fast. It reports progress and its final `Tally` through a queue.
"""

from __future__ import annotations

import collections
import signal
import ssl
import threading
import time
import traceback
from dataclasses import dataclass

from .payload import InstanceSpec, PreparedInstance
from .pdu import PC_RESULT
from .scu import Association, AssociationFailure, Target
from .tally import Tally
from .uids import UidFactory


@dataclass
class TlsOptions:
    cert: str | None = None
    key: str | None = None
    ca_file: str | None = None
    verify: bool = True

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        ctx.check_hostname = False  # DICOM peers are addressed by IP, not by name
        if not self.verify:
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        return ctx


@dataclass
class WorkerPlan:
    """Everything a worker needs; picklable (no sockets, no SSL contexts)."""

    process: int
    run_id: str
    target: Target
    tls: TlsOptions | None
    specs: list[InstanceSpec]
    proposed: list[tuple[int, str, list[str]]]
    spec_context: list[int]            # context id proposed for each spec
    slots: list[tuple[int, int | None]]  # (global slot index, count or None)
    total_slots: int
    per_association: int = 0           # 0: one association for all of a slot's sends
    duration: float | None = None
    rate_per_slot: float | None = None
    progress_interval: float = 0.5
    retry: int = 0                     # --retry: re-sends per instance, set-up attempts in a row


class Slot:
    """Runs associations one after another until its count or the deadline is reached."""

    def __init__(self, plan: WorkerPlan, index: int, count: int | None, t0: float,
                 stop: threading.Event):
        self.plan = plan
        self.index = index
        self.count = count
        self.t0 = t0
        self.stop_event = stop
        self.tally = Tally()
        self.uids = UidFactory(plan.run_id, plan.process, index)
        self.cache: dict[tuple[int, int, int], PreparedInstance] = {}
        self.deadline = None if plan.duration is None else t0 + plan.duration
        self.sent = 0  # instances attempted
        self.message_id = 0

    # -- helpers ---------------------------------------------------------------
    def _stopping(self) -> bool:
        if self.stop_event.is_set():
            return True
        return self.deadline is not None and time.time() >= self.deadline

    def _interrupted(self) -> bool:
        """Stopped from outside (Ctrl-C): unlike the end of -t, this drops pending re-sends too."""
        return self.stop_event.is_set()

    def _more(self) -> bool:
        if self.count is not None and self.sent >= self.count:
            return False
        return not self._stopping()

    def _prepared(self, spec_index: int, ctx: int, max_fragment: int) -> PreparedInstance:
        key = (spec_index, ctx, max_fragment)
        prep = self.cache.get(key)
        if prep is None:
            prep = self.cache[key] = PreparedInstance(self.plan.specs[spec_index], ctx,
                                                      max_fragment)
        return prep

    def _fail_instance(self, key: str, wall: float) -> None:
        self.tally.failed += 1
        self.tally.instance_errors[key] += 1
        self.tally.second(int(wall - self.t0))[2] += 1

    # -- the loop ----------------------------------------------------------------
    def _next_instance(self, redo) -> tuple[int, bytes | None, int]:
        """(spec index, fixed UID or None, times already sent): a re-send first, else a new one."""
        if redo:
            return redo.popleft()
        k = self.index + self.plan.total_slots * self.sent
        spec_index = k % len(self.plan.specs)
        self.sent += 1
        uid = self.uids.next() if self.plan.specs[spec_index].patched else None
        return spec_index, uid, 0

    def _associate(self, tally: Tally, stopping) -> Association | None:
        """A new association; with --retry a failed set-up is tried again (N times in a row)."""
        plan = self.plan
        for attempt in range(plan.retry + 1):
            t_assoc = time.perf_counter()
            try:
                assoc = Association(plan.target, plan.proposed, stop=stopping)
            except AssociationFailure as exc:
                if exc.key == "stopped":
                    tally.gave_up += 1
                    return None
                if attempt < plan.retry and not stopping():
                    tally.retried_errors[exc.key] += 1
                    time.sleep(min(0.1 * (attempt + 1), 1.0))
                    continue
                tally.assoc_errors[exc.key] += 1
                return None
            tally.assoc_setup.append(time.perf_counter() - t_assoc)
            tally.associations += 1
            return assoc
        return None

    def run(self) -> Tally:
        plan, tally = self.plan, self.tally
        tally.first = time.time()
        rate = plan.rate_per_slot
        start = time.monotonic()
        redo: collections.deque = collections.deque()   # instances to send again (--retry)
        # Re-sends still pending when -t ends are finished (bounded by --retry and the timeouts):
        # the instance was sent within the run and only lacked the time to be sent again.
        while self._more() or (redo and not self._interrupted()):
            assoc = self._associate(tally, self._interrupted if redo else self._stopping)
            if assoc is None:
                break
            usable = any(ctx in assoc.contexts for ctx in set(plan.spec_context))
            if not usable:
                tally.assoc_errors["no presentation context accepted"] += 1
                assoc.abort()
                break
            on_this = 0
            alive = True
            while (redo or self._more()) and (plan.per_association <= 0 or on_this < plan.per_association):
                if redo and self._interrupted():
                    break
                if rate and not redo:
                    due = start + self.sent / rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                spec_index, uid, tries = self._next_instance(redo)
                if tries and self.deadline is not None and time.time() >= self.deadline:
                    tally.resent_after_duration += 1
                on_this += 1
                ctx = plan.spec_context[spec_index]
                spec = plan.specs[spec_index]
                accepted_ts = assoc.contexts.get(ctx)
                if accepted_ts is None:
                    result = assoc.refused.get(ctx)
                    self._fail_instance(
                        f"context refused: {spec.sop_class_uid} "
                        f"({PC_RESULT.get(result, 'not answered')})", time.time())
                    continue
                if accepted_ts != spec.transfer_syntax:
                    self._fail_instance(f"context accepted with {accepted_ts}", time.time())
                    continue
                prep = self._prepared(spec_index, ctx, assoc.max_fragment)
                self.message_id = self.message_id % 0xFFFF + 1
                prep.stamp(self.message_id, uid)
                t_send = time.perf_counter()
                try:
                    status = assoc.store(prep.buf, self.message_id)
                except AssociationFailure as exc:
                    if tries < plan.retry:
                        # not acknowledged: a modality sends it again, same SOP Instance UID
                        redo.append((spec_index, uid, tries + 1))
                        tally.retried += 1
                        tally.retried_errors[exc.key] += 1
                    else:
                        self._fail_instance(exc.key, time.time())
                        tally.assoc_errors[exc.key] += 1
                    alive = False
                    break
                done = time.perf_counter()
                wall = time.time()
                tally.latency.append(done - t_send)
                tally.last = wall
                row = tally.second(int(wall - self.t0))
                if status == 0 or _is_warning(status):
                    if status == 0:
                        tally.ok += 1
                    else:
                        tally.warnings += 1
                        tally.statuses[f"0x{status:04X}"] += 1
                    tally.recovered += tries > 0
                    tally.bytes_ok += prep.size
                    row[0] += 1
                    row[1] += prep.size
                else:
                    tally.failed += 1
                    tally.statuses[f"0x{status:04X}"] += 1
                    row[2] += 1
            if not alive:
                if redo:
                    continue          # --retry: a new association for what was not acknowledged
                break
            try:
                assoc.release()
            except AssociationFailure as exc:
                if plan.retry:
                    # every instance on it was acknowledged: nothing to re-send, carry on
                    tally.retried_errors[f"release: {exc.key}"] += 1
                    continue
                tally.assoc_errors[f"release: {exc.key}"] += 1
                break
        for _ in range(len(redo)):
            self._fail_instance("not acknowledged after retries", time.time())
        if self.count is not None:
            tally.not_sent += self.count - self.sent
        return tally


def _is_warning(status: int) -> bool:
    return status in (0x0001, 0x0107, 0x0116) or 0xB000 <= status <= 0xBFFF


def run_slots(plan: WorkerPlan, t0: float, stop=None,
              report=None) -> tuple[Tally, list[str]]:
    """Run every slot of the plan in its own thread; merge their tallies.

    `stop` may be a multiprocessing Event: it is polled here, once per
    progress interval, and mirrored into a cheap local threading.Event.
    """
    local_stop = threading.Event()
    slots = [Slot(plan, index, count, t0, local_stop) for index, count in plan.slots]
    results: list[Tally | None] = [None] * len(slots)
    errors: list[str] = []

    def body(i: int) -> None:
        try:
            results[i] = slots[i].run()
        except Exception:  # noqa: BLE001 - reported, never silently lost
            errors.append(traceback.format_exc())
            results[i] = slots[i].tally
            slots[i].tally.assoc_errors["driver error"] += 1

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(len(slots))]
    for th in threads:
        th.start()
    while True:
        alive = [th for th in threads if th.is_alive()]
        if not alive:
            break
        alive[0].join(plan.progress_interval)
        if stop is not None and stop.is_set():
            local_stop.set()
        if report is not None:
            report(sum(s.tally.ok for s in slots), sum(s.tally.bytes_ok for s in slots),
                   sum(s.tally.failed for s in slots))
    total = Tally()
    for tally in results:
        if tally is not None:
            total.merge(tally)
    return total, errors


def main(plan: WorkerPlan, queue, go, t0_value, stop) -> None:
    """Entry point of a spawned worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        if plan.tls is not None:
            plan.target.ssl_context = plan.tls.context()
        for spec in plan.specs:  # fail early on unreadable files
            if spec.path is not None and spec.dataset is None:
                open(spec.path, "rb").close()
        queue.put(("ready", plan.process, None))
        go.wait()
        t0 = t0_value.value

        def report(ok: int, nbytes: int, failed: int) -> None:
            queue.put(("progress", plan.process, (ok, nbytes, failed)))

        tally, errors = run_slots(plan, t0, stop, report)
        if errors:
            queue.put(("error", plan.process, "".join(errors)))
        queue.put(("done", plan.process, tally))
    except Exception:  # noqa: BLE001
        queue.put(("error", plan.process, traceback.format_exc()))
        queue.put(("done", plan.process, None))
