"""One event loop per worker: every association of the worker on one thread, no polling.

A thread per association made the GIL the bottleneck: with 8 associations in
a worker, every recv() and write() handed the GIL over (~95 futex calls per
stored instance, measured with strace). Here associations are generators
that say what they wait for; the loop waits with epoll and resumes them.
Blocking work (fsync, rename, the TLS handshake, supervisor round trips)
runs in helper threads and comes back through ``call_soon_threadsafe``.

What a generator may yield:
  ``Wait(DATA, deadline)``      resume once more bytes are in its reader's buffer
  ``Wait(WRITABLE, deadline)``  resume once the socket takes more bytes
  ``Offload(function)``         run function in a helper thread; resume with its
                                result (or its exception thrown in)
A missed deadline throws ``pdu.DeadlineExpired`` into the generator; a closed
connection throws ``pdu.PeerClosed`` when it waits for data.
"""

from __future__ import annotations

import heapq
import itertools
import os
import queue
import select
import ssl
import threading
from collections.abc import Callable, Generator
from typing import Any

from dcmrecv_cluster.workers import pdu
from dcmrecv_cluster.workers.pdu import DATA, WRITABLE, Offload, Wait

# Commits (fsync, rename) of different associations overlap in these threads;
# the journal then batches their flushes.
COMMIT_THREADS = 8


class Task:
    """A generator bound to a connection: an object with ``sock`` and ``reader`` attributes."""

    def __init__(self, generator: Generator, connection, on_done: Callable[[BaseException | None], None]) -> None:
        self.generator = generator
        self.connection = connection
        self.fd = connection.sock.fileno()   # kept: a TLS wrap takes over the same descriptor
        self.on_done = on_done
        self.waiting: Wait | Offload | None = None
        self.timer: list | None = None
        self.registered = 0
        self.closed = False


class Reactor:
    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.tasks: dict[int, Task] = {}
        self.timers: list[list] = []
        self.sequence = itertools.count()
        # A plain queue and fixed threads: ThreadPoolExecutor.submit cost ~12 % of the worker's CPU.
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.helpers = [threading.Thread(target=self._helper, daemon=True, name=f"commit-{n}")
                        for n in range(COMMIT_THREADS)]
        for helper in self.helpers:
            helper.start()
        self.calls: list[Callable[[], None]] = []
        self.calls_lock = threading.Lock()
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.epoll.register(self.wakeup_r, select.EPOLLIN)
        self.watchers: dict[int, Callable[[], None]] = {}

    # ---- scheduling ------------------------------------------------------------
    def call_soon_threadsafe(self, function: Callable[[], None]) -> None:
        with self.calls_lock:
            self.calls.append(function)
        try:
            os.write(self.wakeup_w, b"\0")
        except BlockingIOError:
            pass

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the loop whenever ``fd`` is readable (the hand-off channel)."""
        self.watchers[fd] = callback
        self.epoll.register(fd, select.EPOLLIN)

    def unwatch(self, fd: int) -> None:
        if self.watchers.pop(fd, None) is not None:
            self.epoll.unregister(fd)

    def start(self, task: Task) -> None:
        self.tasks[task.fd] = task
        self._step(task, None, None)

    @property
    def active(self) -> int:
        return len(self.tasks)

    # ---- driving a task ----------------------------------------------------------
    def _step(self, task: Task, value: Any, error: BaseException | None) -> None:
        self._cancel_timer(task)
        task.waiting = None
        try:
            request = task.generator.throw(error) if error is not None else task.generator.send(value)
        except StopIteration:
            self._finish(task, None)
            return
        except Exception as exc:  # noqa: BLE001 - one association's bug must not stop the loop
            self._finish(task, exc)
            return
        task.waiting = request
        if isinstance(request, Offload):
            self._offload(task, request)
            return
        # Level-triggered: bytes that arrived while the task was busy elsewhere signal at once.
        self._want(task, select.EPOLLIN if request.what == DATA else select.EPOLLOUT)
        if request.deadline is not None:
            task.timer = [request.deadline, next(self.sequence), task]
            heapq.heappush(self.timers, task.timer)

    def _offload(self, task: Task, request: Offload) -> None:
        self._want(task, 0)
        job = (task, request.function)
        if request.own_thread:
            threading.Thread(target=self._run_job, args=(job,), daemon=True, name="handshake").start()
        else:
            self.jobs.put(job)

    def _run_job(self, job) -> None:
        task, function = job
        try:
            result, error = function(), None
        except Exception as exc:  # noqa: BLE001 - handed to the generator
            result, error = None, exc
        self.call_soon_threadsafe(lambda: self._step(task, result, error))

    def _helper(self) -> None:
        while (job := self.jobs.get()) is not None:
            self._run_job(job)

    def _want(self, task: Task, events: int) -> None:
        if task.closed or events == task.registered:
            return
        try:
            if task.registered == 0:
                self.epoll.register(task.fd, events)
            elif events == 0:
                self.epoll.unregister(task.fd)
            else:
                self.epoll.modify(task.fd, events)
        except (OSError, ValueError):
            pass        # closed by the generator already: the kernel dropped the registration
        task.registered = events

    def _cancel_timer(self, task: Task) -> None:
        if task.timer is not None:
            task.timer[2] = None      # lazily dropped from the heap
            task.timer = None

    def _finish(self, task: Task, error: BaseException | None) -> None:
        self._cancel_timer(task)
        self._want(task, 0)
        task.closed = True
        if self.tasks.get(task.fd) is task:
            del self.tasks[task.fd]
        task.on_done(error)

    def _readable(self, task: Task) -> None:
        if not isinstance(task.waiting, Wait) or task.waiting.what != DATA:
            return
        try:
            received = task.connection.reader.receive()
        except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            return            # half a TLS record, or a spurious wake-up
        except OSError as exc:
            self._step(task, None, pdu.PeerClosed(str(exc)))
            return
        if received == 0:
            self._step(task, None, pdu.PeerClosed("connection closed by peer"))
        else:
            self._step(task, None, None)

    # ---- the loop ----------------------------------------------------------------
    def run_until(self, done: Callable[[], bool]) -> None:
        import time

        while not done():
            timeout = -1.0
            if self.timers:
                while self.timers and self.timers[0][2] is None:
                    heapq.heappop(self.timers)
                if self.timers:
                    timeout = max(0.0, self.timers[0][0] - time.monotonic())
            timeout = 1.0 if timeout < 0 or timeout > 1.0 else timeout
            for fd, events in self.epoll.poll(timeout):
                if fd == self.wakeup_r:
                    try:
                        while os.read(self.wakeup_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                watcher = self.watchers.get(fd)
                if watcher is not None:
                    watcher()
                    continue
                task = self.tasks.get(fd)
                if task is None:
                    continue
                if isinstance(task.waiting, Wait) and task.waiting.what == WRITABLE:
                    self._step(task, None, None)
                else:
                    self._readable(task)
            self._run_calls()
            self._expire(time.monotonic())

    def _run_calls(self) -> None:
        with self.calls_lock:
            calls, self.calls = self.calls, []
        for call in calls:
            call()

    def _expire(self, now: float) -> None:
        while self.timers and (self.timers[0][2] is None or self.timers[0][0] <= now):
            _, _, task = heapq.heappop(self.timers)
            if task is not None:
                task.timer = None
                self._step(task, None, pdu.DeadlineExpired())

    def close(self) -> None:
        for _ in self.helpers:
            self.jobs.put(None)
        for helper in self.helpers:
            helper.join()
        self.epoll.close()
        os.close(self.wakeup_r)
        os.close(self.wakeup_w)
