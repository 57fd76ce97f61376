"""One event loop per worker: every association of the worker on one thread, no polling.

A thread per association made the GIL the bottleneck: with 8 associations in
a worker, every recv() and write() handed the GIL over (~95 futex calls per
stored instance, measured with strace). Here associations are generators
that say what they wait for; the loop waits with epoll and resumes them.

Each connection is registered once, edge-triggered for reading and writing,
and the loop remembers what the last edge said: a receive that did not fill
the buffer drained the socket, so the next wait goes to epoll without another
recv(), and no epoll_ctl() is needed as the connection goes back and forth
between waiting for data, for room to write and for a commit.

What a generator may yield:
  ``Wait(DATA, deadline)``      resume once more bytes are in its reader's buffer
  ``Wait(WRITABLE, deadline)``  resume once the socket takes more bytes
  ``Commit(writer)``            hand a finished store to the group commit
                                (workers/committer.py); resume with its Outcome
  ``Offload(function)``         run function in a thread of its own (a TLS
                                handshake, a host lookup); resume with its
                                result (or its exception thrown in)
A missed deadline throws ``pdu.DeadlineExpired`` into the generator; a closed
connection throws ``pdu.PeerClosed`` when it waits for data.
"""

from __future__ import annotations

import heapq
import itertools
import os
import select
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from dcmrecv_cluster.workers import pdu
from dcmrecv_cluster.workers.committer import GroupCommit
from dcmrecv_cluster.workers.pdu import DATA, WRITABLE, Commit, Offload, Wait

_EDGE = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_READ_EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_WRITE_EVENTS = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
# How long the loop sleeps with nothing to do and no deadline: it also bounds how late a stop is seen.
_IDLE_WAIT = 1.0
_COMPACT_AT = 4096


class Task:
    """A generator bound to a connection: an object with ``sock`` and ``reader`` attributes."""

    __slots__ = ("generator", "connection", "fd", "on_done", "waiting", "timer", "registered",
                 "closed", "readable", "writable")

    def __init__(self, generator: Generator, connection, on_done: Callable[[BaseException | None], None]) -> None:
        self.generator = generator
        self.connection = connection
        self.fd = connection.sock.fileno()   # kept: a TLS wrap takes over the same descriptor
        self.on_done = on_done
        self.waiting: Wait | Commit | Offload | None = None
        self.timer: list | None = None
        self.registered = False
        self.closed = False
        self.readable = True     # unknown until a receive comes back short
        self.writable = True


class Reactor:
    def __init__(self, durable: bool = True) -> None:
        self.epoll = select.epoll()
        self.tasks: dict[int, Task] = {}
        self.timers: list[list] = []
        self.cancelled = 0      # cancelled deadlines still in the heap (about)
        self.sequence = itertools.count()
        self.runnable: deque[Task] = deque()    # waiting for data that may already be in the socket
        self.resumable: deque[tuple[Task, Any]] = deque()   # answered stores: resumed this turn
        self.calls: list[Callable[[], None]] = []
        self.calls_lock = threading.Lock()
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.epoll.register(self.wakeup_r, select.EPOLLIN)
        self.watchers: dict[int, Callable[[], None]] = {}
        self.commits = GroupCommit(durable, self._answered, self.call_soon_threadsafe)

    # ---- scheduling ------------------------------------------------------------
    def call_soon_threadsafe(self, function: Callable[[], None]) -> None:
        with self.calls_lock:
            self.calls.append(function)
            first = len(self.calls) == 1
        if first:      # one wake-up per loop turn, however many calls arrive
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
        self.epoll.register(task.fd, _EDGE)
        task.registered = True
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
        kind = type(request)
        if kind is Wait:
            if request.what == DATA:
                if task.readable:
                    self.runnable.append(task)
            else:
                task.writable = False       # the send that yielded found no room
            if request.deadline is not None:
                task.timer = [request.deadline, next(self.sequence), task]
                heapq.heappush(self.timers, task.timer)
        elif kind is Commit:
            try:
                self.commits.submit(request.writer, task)
            except Exception as exc:  # noqa: BLE001 - handed to the generator
                self._answered(task, exc)
        else:
            threading.Thread(target=self._run_offloaded, args=(task, request.function), daemon=True,
                             name="offload").start()

    def _run_offloaded(self, task: Task, function: Callable[[], Any]) -> None:
        try:
            result, error = function(), None
        except Exception as exc:  # noqa: BLE001 - handed to the generator
            result, error = None, exc
        self.call_soon_threadsafe(lambda: self._step(task, result, error))

    def _answered(self, task: Task, outcome: Any) -> None:
        """A store's outcome (or the exception that ended it): the task resumes later in this turn."""
        self.resumable.append((task, outcome))

    def _run_resumable(self) -> None:
        while self.resumable:
            task, outcome = self.resumable.popleft()
            if task.closed:
                continue
            if isinstance(outcome, BaseException):
                self._step(task, None, outcome)
            else:
                self._step(task, outcome, None)

    def _cancel_timer(self, task: Task) -> None:
        if task.timer is not None:
            task.timer[2] = None      # lazily dropped from the heap
            task.timer = None
            self.cancelled += 1
            if self.cancelled > _COMPACT_AT and self.cancelled * 2 > len(self.timers):
                # One idle association's far deadline at the top would otherwise keep every
                # cancelled deadline pushed after it (a few per store) until it expires.
                self.timers = [timer for timer in self.timers if timer[2] is not None]
                heapq.heapify(self.timers)
                self.cancelled = 0

    def _finish(self, task: Task, error: BaseException | None) -> None:
        self._cancel_timer(task)
        if task.registered:
            task.registered = False
            try:
                self.epoll.unregister(task.fd)
            except (OSError, ValueError):
                pass        # closed by the generator already: the kernel dropped the registration
        task.closed = True
        if self.tasks.get(task.fd) is task:
            del self.tasks[task.fd]
        task.on_done(error)

    def _receive(self, task: Task) -> None:
        """The task waits for data and the socket may have some: read once, resume or wait for the edge."""
        reader = task.connection.reader
        try:
            received = reader.receive()
        except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
            task.readable = False
            return
        except OSError as exc:
            self._step(task, None, pdu.PeerClosed(str(exc)))
            return
        if received == 0:
            self._step(task, None, pdu.PeerClosed("connection closed by peer"))
            return
        task.readable = reader.maybe_more
        self._step(task, None, None)

    def _event(self, task: Task, events: int) -> None:
        waiting = task.waiting
        if events & _READ_EVENTS:
            task.readable = True
            if type(waiting) is Wait and waiting.what == DATA:
                self._receive(task)
                return
        if events & _WRITE_EVENTS:
            task.writable = True
            if type(waiting) is Wait and waiting.what == WRITABLE:
                self._step(task, None, None)

    def _run_runnable(self) -> None:
        # Only those queued before this turn: a task streaming a large instance must not starve the others.
        for _ in range(len(self.runnable)):
            task = self.runnable.popleft()
            waiting = task.waiting
            if not task.closed and type(waiting) is Wait and waiting.what == DATA and task.readable:
                self._receive(task)

    # ---- the loop ----------------------------------------------------------------
    def run_until(self, done: Callable[[], bool]) -> None:
        while not done():
            if self.runnable or self.resumable:
                timeout = 0.0
            else:
                timeout = _IDLE_WAIT
                while self.timers and self.timers[0][2] is None:
                    heapq.heappop(self.timers)
                    self.cancelled -= 1
                if self.timers:
                    timeout = min(timeout, max(0.0, self.timers[0][0] - time.monotonic()))
            for fd, events in self.epoll.poll(timeout):
                if fd == self.wakeup_r:
                    # One read: at most a byte a turn arrives, and anything left signals again (level-triggered).
                    try:
                        os.read(self.wakeup_r, 4096)
                    except BlockingIOError:
                        pass
                    continue
                task = self.tasks.get(fd)
                if task is not None:
                    self._event(task, events)
                    continue
                watcher = self.watchers.get(fd)
                if watcher is not None:
                    watcher()
            self._run_calls()
            self._run_resumable()
            self._run_runnable()
            if self.timers:
                self._expire(time.monotonic())

    def _run_calls(self) -> None:
        with self.calls_lock:
            calls, self.calls = self.calls, []
        for call in calls:
            call()

    def _expire(self, now: float) -> None:
        while self.timers and (self.timers[0][2] is None or self.timers[0][0] <= now):
            _, _, task = heapq.heappop(self.timers)
            if task is None:
                self.cancelled -= 1
            else:
                task.timer = None
                self._step(task, None, pdu.DeadlineExpired())

    def close(self) -> None:
        self.commits.close()
        self.epoll.close()
        os.close(self.wakeup_r)
        os.close(self.wakeup_w)
