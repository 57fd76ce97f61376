"""The supervisor's main loop: accept, dispatch to the least-busy worker, spawn/reap/respawn, stop.

Modelled on gunicorn's arbiter: signal handlers only enqueue, the loop
dispatches; a worker that dies is reaped and replaced, a worker that cannot
boot halts the service instead of respawning forever; the stop order is fixed
(close the listener, ask workers to finish, wait with a deadline while reaping,
SIGKILL, final reap).
"""

from __future__ import annotations

import collections
import errno
import os
import signal
import socket
import time
from dataclasses import dataclass, field

import multiprocess
import zmq

from dcmrecv_cluster.shared import access, exitcodes, fdpass, naming, wire
from dcmrecv_cluster.shared.log4cplus import NET_LOGGER
from dcmrecv_cluster.shared.runconfig import WORKER_ENTRY, WorkerConfig, run_entry, wants_store_reports
from dcmrecv_cluster.shared.rundir import RunDirectory
from dcmrecv_cluster.shared.throttle import Throttle
from dcmrecv_cluster.shared.ul import CONGESTION_RJ
from dcmrecv_cluster.supervisor import drain, hooks, lobby, proxyproto, space
from dcmrecv_cluster.supervisor.limitwait import LimitWait
from dcmrecv_cluster.supervisor.logsink import LogSink
from dcmrecv_cluster.supervisor.names import NameAuthority
from dcmrecv_cluster.supervisor.rejector import Rejector

GRACE_SECONDS = 30.0          # in-flight associations get this long after SIGTERM
HEARTBEAT_LIMIT = 30.0        # a booted worker silent this long is hung: killed and replaced
BOOT_LIMIT = 60.0             # a worker that has not said hello by then cannot boot
MAX_BOOT_FAILURES = 3         # consecutive failed boots before the supervisor gives up
TICK = 0.5
ACCEPT_PAUSE = 0.5            # out of descriptors or memory: stop accepting this long (as nginx does)
TLS_TIMEOUT_TEXT = "TLS read operation did not complete (SSL_ERROR_WANT_READ)"   # as workers/tls.py
RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


@dataclass
class WorkerSlot:
    """One spawned worker process; a replacement gets a new slot (and a new identity)."""

    index: int
    identity: str = ""
    process: object = None
    pid: int = 0
    channel: socket.socket | None = None
    booted: bool = False
    active: int = 0
    started: float = 0.0
    last_heartbeat: float = 0.0
    aets: collections.Counter = field(default_factory=collections.Counter)   # calling AE -> associations

    @property
    def ready(self) -> bool:
        return self.booted and self.channel is not None


class Arbiter:
    def __init__(self, options, profile, tls, listener: socket.socket, log: LogSink, reload=None,
                 telemetry=None, agent=None) -> None:
        self.options = options
        self.profile = profile
        self.tls = tls
        self.reload = reload              # () -> (profile, tls); raises StartupError to keep the old ones
        self.telemetry = telemetry or NullTelemetry()
        self.listener = listener
        self.log = log
        self.rundir = RunDirectory.create()
        self.names = NameAuthority(node_id=options.node_id)
        self.slots: list[WorkerSlot] = []          # the current pool, one per index
        self.retiring: list[WorkerSlot] = []       # previous generation, finishing its associations
        self.by_identity: dict[bytes, WorkerSlot] = {}
        self.serial = 0
        self.spawner = multiprocess.get_context("spawn")
        self.signals: collections.deque[int] = collections.deque()
        self.stopping = False
        self.stop_deadline = 0.0
        self.exit_code = exitcodes.NO_ERROR
        self.boot_failures = 0
        budget = lobby.descriptor_budget()
        self.rejector = Rejector(log, plaintext_reply=tls is None, max_draining=budget // 4)
        self.access = access.policy_from_options(options)   # checked by the workers on each request
        self.peer_hosts = (access.parse_networks(options.peer_hosts, "--peer-hosts")
                           if options.peer_hosts is not None else None)
        self.space = (space.SpaceWatch(options.output_directory, space.parse_size(options.min_free_space), log)
                      if options.min_free_space is not None else None)
        self.aets: collections.Counter = collections.Counter()    # --max-associations-per-aet, node-wide
        self.throttle = Throttle(log.emit)     # refusals and accept errors: a flood is not a log flood
        # Connections wait here until their A-ASSOCIATE-RQ has arrived; only then are they
        # dispatched and counted against --max-associations.
        pending = lobby.max_pending(options.max_pending)
        if options.max_pending and pending < options.max_pending:
            log.warn(f"--max-pending {options.max_pending} lowered to {pending}: "
                     f"not enough file descriptors (raise the limit: ulimit -n / LimitNOFILE)")
        self.lobby = lobby.Lobby(options.acse_timeout, pending,
                                 options.max_pending_per_host or lobby.DEFAULT_MAX_PENDING_PER_HOST,
                                 tls is not None, self._closed_in_lobby)
        self.accept_paused_until = 0.0
        self.limit_wait = LimitWait()
        # Behind a balancer: PROXY v2 headers read here before the hand-off, the node's state
        # for the agent check, and the SIGTERM notice period (0 standalone: dcmrecv's stop).
        self.gate = (proxyproto.Gate(options.proxy_trust, options.acse_timeout, ThrottledLog(log, self.throttle),
                                     max_pending=min(proxyproto.MAX_PENDING, budget // 4))
                     if options.proxy_protocol else None)
        self.agent = agent
        self.lifecycle = agent.lifecycle if agent is not None else drain.Lifecycle()
        if agent is not None:
            agent.load = lambda: (sum(s.active for s in self._all_slots()), options.max_associations)
        self.notice = drain.notice_seconds(options)
        self.probes = 0
        # storescp's -xcr/-xcs/-tos: fed by the STORED reports, run in the supervisor's own threads
        self.hooks = hooks.Hooks(options, log, self.telemetry) if hooks.wanted(options) else None

    # ---- set-up ---------------------------------------------------------------
    def _open_channels(self) -> None:
        self.zmq = zmq.Context()
        self.control = self.zmq.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.bind(self.rundir.control_endpoint)
        self.logs = self.zmq.socket(zmq.PULL)
        self.logs.setsockopt(zmq.LINGER, 0)
        self.logs.bind(self.rundir.log_endpoint)
        self.handoff = fdpass.handoff_listener(self.rundir.handoff_path)
        self.handoff.setblocking(False)
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_r, False)
        os.set_blocking(self.wakeup_w, False)

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self.wakeup_w)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(signum, self._enqueue_signal)

    def _enqueue_signal(self, signum, frame) -> None:
        self.signals.append(signum)

    # ---- workers ----------------------------------------------------------------
    def _spawn(self, index: int) -> WorkerSlot:
        self.serial += 1
        slot = WorkerSlot(index, wire.worker_identity(index, self.serial))
        config = WorkerConfig(
            index=index, identity=slot.identity, options=self.options, profile=self.profile, tls=self.tls,
            control_endpoint=self.rundir.control_endpoint, log_endpoint=self.rundir.log_endpoint,
            handoff_path=self.rundir.handoff_path, log_level=self.log.worker_level(),
            store_reports=wants_store_reports(self.options), access=self.access,
        )
        process = self.spawner.Process(target=run_entry, args=(*WORKER_ENTRY, config),
                                       name=f"dcmrecv-cluster-worker-{index}", daemon=False)
        process.start()
        slot.process, slot.pid = process, process.pid
        slot.started = slot.last_heartbeat = time.monotonic()
        self.by_identity[slot.identity.encode()] = slot
        if index < len(self.slots):
            self.slots[index] = slot
        else:
            self.slots.append(slot)
        self.log.debug(f"worker {index} started (pid {slot.pid})")
        self.telemetry.event("worker_started", worker=index, pid=slot.pid)
        return slot

    def _all_slots(self) -> list[WorkerSlot]:
        return self.slots + self.retiring

    def _reap(self) -> None:
        for slot in self._all_slots():
            process = slot.process
            if process is None or process.exitcode is None:
                continue
            self._forget(slot, process.exitcode)

    def _forget(self, slot: WorkerSlot, exitcode: int) -> None:
        pid, was_booted, lost = slot.pid, slot.booted, slot.active
        for title, count in slot.aets.items():     # its associations are gone: their places with them
            self.aets[title] -= count
            if self.aets[title] <= 0:
                del self.aets[title]
        slot.aets.clear()
        slot.process, slot.pid, slot.booted, slot.active = None, 0, False, 0
        self.by_identity.pop(slot.identity.encode(), None)
        if slot.channel is not None:
            slot.channel.close()
            slot.channel = None
        self._remove_temp_files(pid)
        retired = slot in self.retiring
        if retired:
            self.retiring.remove(slot)
        if (self.stopping or retired) and exitcode in (0, -signal.SIGTERM):
            self.log.debug(f"worker {slot.index} (pid {pid}) stopped")
            return
        how = (f"killed by signal {-exitcode} ({signal.Signals(-exitcode).name})" if exitcode < 0
               else f"exited with code {exitcode}")
        lost_text = f", {lost} association(s) lost" if lost else ""
        self.log.warn(f"worker {slot.index} (pid {pid}) {how}{lost_text}")
        self.telemetry.event("worker_died", worker=slot.index, pid=pid, how=how, lost=lost)
        if self.stopping or retired:
            return
        if not was_booted or exitcode == exitcodes.WORKER_BOOT_FAILURE:
            self.boot_failures += 1
            if exitcode == exitcodes.WORKER_BOOT_FAILURE or self.boot_failures >= MAX_BOOT_FAILURES:
                self.log.fatal(f"workers cannot boot (worker {slot.index} {how}), stopping")
                self.exit_code = exitcodes.WORKERS_CANNOT_BOOT
                self._begin_stop()
                return
        self._spawn(slot.index)

    def _remove_temp_files(self, pid: int) -> None:
        """A killed worker cannot clean up: its partial instances go now, never shown as stored."""
        # Temp files live in their target folder (with +ssd: undef/<date>, data/YYYY/MM/DD).
        series_date = self.options.subdir_mode == "series-date"
        for path in naming.temp_files_of(self.options.output_directory, pid, series_date):
            try:
                os.unlink(path)
            except OSError:
                pass

    def _notice(self, text: str) -> None:
        """An info line an operator must see at the default level (dcmrecv's default is warn)."""
        self.log.emit("I", text, force=self.log.enabled("W"))

    def _remove_leftover_temp_files(self) -> None:
        """At start-up: instances in progress when an earlier run on this host was killed (SIGKILL)."""
        series_date = self.options.subdir_mode == "series-date"
        removed = 0
        for path in naming.leftover_temp_files(self.options.output_directory, series_date):
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
        if removed:
            self._notice(f"removed {removed} leftover temp file(s) of an earlier run on this host "
                         f"from {self.options.output_directory or '.'}")

    def _check_liveness(self) -> None:
        now = time.monotonic()
        for slot in self._all_slots():
            if slot.process is None:
                continue
            limit = HEARTBEAT_LIMIT if slot.booted else BOOT_LIMIT
            if now - slot.last_heartbeat > limit:
                self.log.error(f"worker {slot.index} (pid {slot.pid}) unresponsive for {limit:.0f} s, killing it")
                _kill(slot.pid, signal.SIGKILL)

    # ---- traffic ------------------------------------------------------------------
    def _accept_handoff(self) -> None:
        while True:
            try:
                channel, _ = self.handoff.accept()
            except BlockingIOError:
                return
            channel.settimeout(5)
            try:
                slot = self.by_identity[channel.recv(64)]
            except (OSError, KeyError):
                channel.close()
                continue
            channel.setblocking(False)
            if slot in self.retiring or self.stopping:
                channel.close()        # replaced before it booted: it exits without taking sockets
                continue
            if slot.channel is not None:
                slot.channel.close()
            slot.channel = channel

    def _accept_connections(self) -> None:
        for _ in range(64):
            try:
                conn, peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRORS:
                    self.log.debug(f"cannot accept connection: {exc.strerror}")   # e.g. aborted by the peer
                    continue
                # Out of descriptors: accept() would fail at once again (the pending connection
                # stays in the backlog), so the loop would spin. Pause, and make room by closing
                # the oldest connection that has not sent its request yet.
                self.accept_paused_until = time.monotonic() + ACCEPT_PAUSE
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    self.lobby.evict(lobby.FD_LIMIT)
                self.throttle("accept-error", "E", f"cannot accept connection: {exc.strerror} "
                              f"(pausing accept for {ACCEPT_PAUSE:g} s)",
                              summary=f"cannot accept connection: {exc.strerror}")
                return
            if self.gate is not None:
                self.gate.admit(conn, peer)     # then the lobby, once its PROXY header is complete
            else:
                self._admit(conn, peer)

    def _admit(self, conn: socket.socket, peer, probe: bool = False) -> None:
        """--peer-hosts: other addresses are closed before a byte is read; no A-ASSOCIATE-RJ, which
        would tell a stranger a DICOM node listens here (and cannot be sent before a TLS handshake).
        A PROXY LOCAL probe is the balancer itself, already checked against --proxy-trust."""
        if self.peer_hosts is not None and not probe and not access.address_in(peer[0], self.peer_hosts):
            conn.close()
            self.throttle("peer-hosts", "W", f"closing connection from {peer[0]}: not in --peer-hosts",
                          summary="connections closed: not in --peer-hosts")
            self.telemetry.event("connection_closed", reason="peer-hosts", peer=peer[0])
            return
        self.lobby.admit(conn, peer, probe)

    def _closed_in_lobby(self, reason: str, peer) -> None:
        """A connection closed before it sent a whole A-ASSOCIATE-RQ: logged (rate-limited), counted."""
        if reason in (lobby.TIMEOUT, lobby.PEER_CLOSED):
            # dcmrecv's lines, as the worker wrote them when it waited for the request itself
            text = ({lobby.TIMEOUT: TLS_TIMEOUT_TEXT, lobby.PEER_CLOSED: "TLS error: unexpected eof while reading"}
                    if self.tls is not None else
                    {lobby.TIMEOUT: "DUL network read timeout", lobby.PEER_CLOSED: "DUL network closed"})[reason]
            self.throttle(reason, "E", f"Could not receive association request: {text}",
                          summary=f"connections closed: no A-ASSOCIATE-RQ within {self.options.acse_timeout} s"
                          if reason == lobby.TIMEOUT else "connections closed by the peer before an A-ASSOCIATE-RQ")
        else:
            why = {lobby.PER_HOST: f"--max-pending-per-host {self.lobby.per_host} reached",
                   lobby.TOTAL: f"--max-pending {self.lobby.total} reached",
                   lobby.FD_LIMIT: "out of file descriptors"}[reason]
            self.throttle(reason, "W", f"closing a connection from {peer[0]} that sent no A-ASSOCIATE-RQ: {why}",
                          summary=f"connections without an A-ASSOCIATE-RQ closed: {why}")
        self.telemetry.event("connection_closed", reason=reason, peer=peer[0])

    def _dispatch(self, conn: socket.socket, peer, probe: bool = False) -> None:
        """`peer` is the client's address (from the PROXY header when there is one); a `probe`
        (PROXY LOCAL: the balancer's own health check) is exempt from --max-associations."""
        if self.space is not None and self.space.low and not probe:
            self.throttle("min-free-space", "W", f"Refusing Association from {peer[0]}: less than "
                          f"--min-free-space {self.options.min_free_space} free",
                          summary="associations refused: --min-free-space")
            self.rejector.reject(conn, CONGESTION_RJ)
            self.telemetry.event("association_rejected", reason="min-free-space", peer=peer[0])
            return
        if not self._room() and not probe:
            if self.stopping or not self.limit_wait.hold(conn, peer):
                self._refuse_over_limit(conn, peer)
            return
        for slot in sorted((s for s in self.slots if s.ready), key=lambda s: s.active):
            try:
                fdpass.send_connection(slot.channel, conn, peer)
            except (BlockingIOError, OSError):
                continue
            slot.active += 1
            self.probes += probe
            conn.close()
            self.telemetry.event("association_dispatched", worker=slot.index, peer=peer[0], probe=probe)
            return
        self.throttle("no-worker", "W", f"no worker ready for the connection from {peer[0]}, refusing it",
                      summary="connections refused: no worker ready")
        self.rejector.reject(conn)
        self.telemetry.event("association_rejected", reason="no-worker", peer=peer[0])

    def _room(self) -> bool:
        return sum(slot.active for slot in self._all_slots()) < self.options.max_associations

    def _refuse_over_limit(self, conn: socket.socket, peer) -> None:
        limit = self.options.max_associations
        self.throttle("max-associations", "W", f"Refusing Association from {peer[0]}: --max-associations "
                      f"{limit} reached", summary=f"associations refused: --max-associations {limit} reached")
        self.rejector.reject(conn)
        self.telemetry.event("association_rejected", reason="max-associations", peer=peer[0])

    def _settle_held(self) -> None:
        """Connections held at --max-associations (supervisor/limitwait.py): admitted or refused."""
        for conn, peer, admit in self.limit_wait.settle(self._room):
            if admit:
                self._dispatch(conn, peer)
            else:
                self._refuse_over_limit(conn, peer)

    def _read_control(self) -> None:
        while True:
            try:
                identity, frame = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            slot = self.by_identity.get(identity)
            try:
                message = wire.decode(frame)
            except ValueError:
                continue
            if slot is None:
                continue
            kind = message["kind"]
            slot.last_heartbeat = time.monotonic()
            if kind == wire.CLOSED:
                slot.active = max(0, slot.active - 1)
                title = message.get("aet")
                if title is not None and slot.aets[title] > 0:
                    slot.aets[title] -= 1
                    self.aets[title] -= 1
                    if not self.aets[title]:
                        del self.aets[title]
                    if not slot.aets[title]:
                        del slot.aets[title]
            elif kind == wire.AET:
                title = str(message.get("title", ""))
                granted = self.aets[title] < (self.options.max_associations_per_aet or 0)
                if granted:
                    self.aets[title] += 1
                    slot.aets[title] += 1
                elif not self.aets[title]:
                    del self.aets[title]
                self.control.send_multipart([identity, wire.reply_ok(granted=granted)])
                self.telemetry.event("association_closed", worker=slot.index)
            elif kind == wire.NAME:
                self.control.send_multipart([identity, self._answer_name(message)])
            elif kind == wire.HELLO:
                slot.booted = True
                self.boot_failures = 0
                self.log.debug(f"worker {slot.index} (pid {message.get('pid')}) ready")
            elif kind == wire.BYE:
                self.log.debug(f"worker {slot.index} (pid {slot.pid}) done: {message.get('associations', 0)} "
                               f"association(s), {message.get('dropped_logs', 0)} log record(s) dropped")

    def _answer_name(self, message: dict) -> bytes:
        count = int(message.get("count", 1))
        if message.get("mode") == "unique":
            return wire.reply_ok(names=self.names.unique_uids(count))
        if message.get("mode") == "short":
            return wire.reply_ok(names=self.names.short_candidates(count))
        return wire.reply_error(22, f"unknown name mode {message.get('mode')!r}")

    def _read_logs(self) -> None:
        for _ in range(10_000):
            try:
                message = wire.decode(self.logs.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            except ValueError:
                continue
            if message["kind"] == wire.LOG:
                self.log.record(message["level"], message["text"], NET_LOGGER, message.get("t"),
                                message.get("p"), message.get("a", ""))
            elif message["kind"] == wire.STORED:
                self.telemetry.store(message)
                if self.hooks is not None:
                    self.hooks.stored(message)
            elif message["kind"] == wire.REJECTED:
                if message.get("text"):       # a refusal by policy: logged once, rate-limited
                    self.throttle(message.get("reason", "refused"), "W",
                                  f"Refusing Association from {message.get('peer')} "
                                  f"({message.get('calling')} -> {message.get('called')}): {message['text']}",
                                  summary=f"associations refused: {message.get('reason')}")
                self.telemetry.event("association_rejected", reason=message.get("reason", "unknown"),
                                     peer=message.get("peer"))

    # ---- signals and stopping -------------------------------------------------------
    def _handle_signals(self) -> None:
        try:
            while os.read(self.wakeup_r, 512):
                pass
        except BlockingIOError:
            pass
        while self.signals:
            signum = self.signals.popleft()
            if signum == signal.SIGCHLD:
                self._reap()
            elif signum == signal.SIGHUP:
                if not self.stopping:
                    self._reload()
            elif self.stopping or self.lifecycle.draining:
                self.log.warn(f"second {signal.Signals(signum).name}: stopping at once")
                self.exit_code = 128 + signum if self.exit_code == 0 else self.exit_code
                self._kill_all()
            elif self.notice > 0:
                self.log.info(f"received {signal.Signals(signum).name}, draining: accepting for {self.notice:g} s "
                              f"more, then finishing associations in flight (at most {GRACE_SECONDS:.0f} s)")
                self.lifecycle.drain(self.notice)
            else:
                self.log.info(f"received {signal.Signals(signum).name}, finishing associations in flight "
                              f"(at most {GRACE_SECONDS:.0f} s)")
                self._begin_stop()

    def _reload(self) -> None:
        """SIGHUP: new workers with the re-read profile and TLS material take new associations;
        the previous ones finish theirs and exit. The port stays open throughout."""
        if self.reload is None:
            return
        try:
            self.profile, self.tls = self.reload()
        except Exception as failure:  # noqa: BLE001 - a bad file on disk must not stop the service
            for letter, text in getattr(failure, "lines", [("E", str(failure))]):
                self.log.emit(letter, text)
            self.log.error("reload failed, keeping the current configuration")
            return
        old = [slot.pid for slot in self.slots]
        for slot in list(self.slots):
            self._retire(slot)
            self._spawn(slot.index)
        new = [slot.pid for slot in self.slots]
        what = f"association profile {self.profile.name}" + (" and TLS material" if self.tls is not None else "")
        self._notice(f"SIGHUP: reloaded {what}; workers (pids {_pids(old)}) finish their associations, "
                     f"new workers (pids {_pids(new)}) take new ones")

    def _retire(self, slot: WorkerSlot) -> None:
        self.retiring.append(slot)
        if slot.channel is not None:
            slot.channel.close()   # the worker sees end-of-channel: no new sockets, finishes, exits 0
            slot.channel = None

    def _begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.lifecycle.stop()
        for conn, peer in self.limit_wait.take_all():
            self._refuse_over_limit(conn, peer)
        self.stop_deadline = time.monotonic() + GRACE_SECONDS
        for slot in self._all_slots():
            if slot.channel is not None:
                slot.channel.close()   # the worker sees end-of-channel: no new sockets, finish, exit 0
                slot.channel = None
            elif slot.pid:
                _kill(slot.pid, signal.SIGTERM)   # not connected yet: nothing in flight to finish

    def _kill_all(self) -> None:
        self.stopping = True
        for slot in self._all_slots():
            if slot.pid:
                _kill(slot.pid, signal.SIGKILL)
        for slot in self._all_slots():
            if slot.process is not None:
                slot.process.join(5)
                self._forget(slot, slot.process.exitcode if slot.process.exitcode is not None else -9)

    # ---- the loop ---------------------------------------------------------------------
    def run(self) -> int:
        self._open_channels()
        self._install_signals()
        self._remove_leftover_temp_files()
        try:
            for index in range(self.options.workers):
                self._spawn(index)
            self._loop()
        finally:
            self._kill_all()
            self._read_logs()
            for conn, _ in self.limit_wait.take_all():
                conn.close()
            self.rejector.close_all()
            self.lobby.close_all()
            if self.gate is not None:
                self.gate.close_all()
            if self.agent is not None:
                self.agent.close()
            if self.hooks is not None:
                self.hooks.close()
            self.telemetry.close()
            self._close_channels()
        return self.exit_code

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        poller.register(self.logs, zmq.POLLIN)
        poller.register(self.handoff.fileno(), zmq.POLLIN)
        poller.register(self.wakeup_r, zmq.POLLIN)
        listening = self.listener.fileno()
        accepting = False
        self.rejector.attach(poller)
        self.lobby.attach(poller)
        if self.gate is not None:
            self.gate.attach(poller)
        if self.agent is not None:
            poller.register(self.agent.fileno(), zmq.POLLIN)
        while True:
            # Connections wait in the kernel backlog while no worker is ready (at boot, or
            # while every worker is being replaced), rather than being refused.
            wanted = (self.listener is not None and any(slot.ready for slot in self.slots)
                      and time.monotonic() >= self.accept_paused_until)
            if wanted != accepting:
                if wanted:
                    poller.register(listening, zmq.POLLIN)
                else:
                    poller.unregister(listening)
                accepting = wanted
            events = dict(poller.poll(self.limit_wait.wait_at_most(TICK) * 1000))
            if self.wakeup_r in events or self.signals:
                self._handle_signals()
            if self.logs in events:
                self._read_logs()
            if self.control in events:
                self._read_control()
            if self.handoff.fileno() in events:
                self._accept_handoff()
            if accepting and listening in events:
                self._accept_connections()
            if self.gate is not None:
                for conn, peer, header in self.gate.service(events):
                    self._admit(conn, peer, probe=header.local)
            self._settle_held()
            for conn, peer, probe in self.lobby.service(events):
                self._dispatch(conn, peer, probe=probe)
            if accepting:
                self.lifecycle.ready()
            if self.agent is not None and self.agent.fileno() in events:
                self.agent.service()
            if self.lifecycle.notice_over():
                self._begin_stop()
            if self.stopping and self.listener is not None:
                if accepting:
                    poller.unregister(listening)
                    accepting = False
                self.listener.close()   # stop accepting: the first step of a graceful stop
                self.listener = None
            self.rejector.service(events)
            self.throttle.flush()
            if self.space is not None and self.space.check():
                self.lifecycle.low_space = self.space.low     # the agent check says drain meanwhile
            self.telemetry.tick(self)
            if self.hooks is not None:
                self.hooks.tick()
            self._reap()
            self._check_liveness()
            if self.stopping:
                if all(slot.process is None for slot in self._all_slots()):
                    return
                if time.monotonic() > self.stop_deadline:
                    self.log.warn("grace period over, killing workers with associations still in flight")
                    self._kill_all()
                    return

    def _close_channels(self) -> None:
        signal.set_wakeup_fd(-1)
        for sock in (self.control, self.logs):
            sock.close()
        self.zmq.term()
        self.handoff.close()
        for fd in (self.wakeup_r, self.wakeup_w):
            os.close(fd)
        if self.listener is not None:
            self.listener.close()
        self.rundir.remove()


class ThrottledLog:
    """The log for the PROXY gate: its per-connection warnings go through the throttle, one key per
    reason (the text after the peer), so a flood of bad headers is a few lines and a count."""

    def __init__(self, log: LogSink, throttle: Throttle) -> None:
        self.log, self.throttle = log, throttle

    def warn(self, text: str) -> None:
        reason = text.split(": ", 1)[-1]
        self.throttle(f"gate: {reason[:48]}", "W", text, summary=f"connections closed: {reason}")

    def __getattr__(self, name):
        return getattr(self.log, name)


class NullTelemetry:
    """What the arbiter tells an observer (metrics, event stream); this one listens to nothing."""

    def event(self, name: str, **fields) -> None:
        pass

    def store(self, message: dict) -> None:
        pass

    def hook(self, kind: str, outcome: str, seconds: float | None) -> None:
        pass

    def study(self, uid: str, files: list, first: dict) -> None:
        pass

    def tick(self, arbiter: Arbiter) -> None:
        pass

    def close(self) -> None:
        pass


def _pids(pids: list[int]) -> str:
    return ", ".join(str(pid) for pid in pids)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
