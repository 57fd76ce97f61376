"""A worker process: adopt sockets from the supervisor, run their associations, report.

Signals: SIGINT is ignored (a terminal's Ctrl-C reaches the whole process
group; the supervisor decides), SIGTERM and a closed hand-off channel both mean
"take no new sockets, finish the associations in flight, say bye and exit".
All associations of the process run on one reactor thread (workers/reactor.py);
finished stores are made durable and named in batches that share their syncs
(workers/committer.py).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading

from dcmrecv_cluster.shared import exitcodes, fdpass, part10, wire
from dcmrecv_cluster.shared.runconfig import WorkerConfig
from dcmrecv_cluster.workers.association import Association, AssociationSettings
from dcmrecv_cluster.workers.link import SupervisorLink
from dcmrecv_cluster.workers.negotiation import Negotiator
from dcmrecv_cluster.workers.reactor import Reactor, Task
from dcmrecv_cluster.workers.storage import Namer, StorageSettings

UNIQUE_UID_LEASE = 32
GC_THRESHOLD = 20_000

# Exit codes the supervisor understands (gunicorn's contract: a worker that cannot boot halts the service).


def build_settings(config: WorkerConfig) -> AssociationSettings:
    options = config.options
    max_pdu = options.max_pdu - (options.max_pdu % 2)
    tls_context = None
    if config.tls is not None:
        from dcmrecv_cluster.shared.tlscontext import build_server_context

        tls_context, _warnings = build_server_context(config.tls)
    return AssociationSettings(
        negotiator=Negotiator(config.profile),
        max_pdu=max_pdu,
        acse_timeout=float(options.acse_timeout),
        dimse_timeout=float(options.dimse_timeout) if options.dimse_timeout else None,
        host_lookup=not options.disable_host_lookup,
        verbose_pc=options.verbose_pc,
        implementation_class_uid=part10.IMPLEMENTATION_CLASS_UID,
        implementation_version_name=part10.IMPLEMENTATION_VERSION_NAME,
        storage=StorageSettings(
            output_directory=options.output_directory,
            subdir_mode=options.subdir_mode,
            filename_mode=options.filename_mode,
            extension=options.filename_extension,
            storage_mode=options.storage_mode,
            fsync=options.fsync,
        ),
        tls_context=tls_context,
        access=config.access,
        odd_pdu_warning=(f"ASSOC: PDV receive length {options.max_pdu} is odd (using {max_pdu})"
                         if options.max_pdu % 2 else None),
    )


class Worker:
    """The hand-off channel and every association of this process, on one reactor."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.link = SupervisorLink(config.identity, config.control_endpoint, config.log_endpoint,
                                   config.log_level or config.options.log_level, reports=config.store_reports)
        self.settings = build_settings(config)
        self.unique_uids: list[str] = []
        self.lease_lock = threading.Lock()
        self.namer = Namer(self._unique_uid, self._short_candidates)
        self.reactor = Reactor(durable=config.options.fsync)
        self.channel = None
        self.taking = True
        self.associations = 0

    def _unique_uid(self) -> str:
        # Leased in blocks: +fu names need no order, and a round trip per store would stall the loop.
        # The loop (naming a store) and the sync thread (a name found taken) both draw on the lease.
        with self.lease_lock:
            if not self.unique_uids:
                self.unique_uids = self.link.request(wire.NAME, mode="unique", count=UNIQUE_UID_LEASE)["names"][::-1]
            return self.unique_uids.pop()

    def _short_candidates(self, count: int) -> list[str]:
        return self.link.request(wire.NAME, mode="short", count=count)["names"]

    def stop_taking(self) -> None:
        """No new sockets; the associations in flight finish, then the loop ends."""
        if self.taking:
            self.taking = False
            self.reactor.unwatch(self.channel.fileno())
            self.channel.close()

    def serve(self) -> None:
        self.channel = fdpass.connect_handoff(self.config.handoff_path, self.config.identity.encode())
        self.reactor.watch(self.channel.fileno(), self._adopt)
        signal.set_wakeup_fd(self.reactor.wakeup_w)
        signal.signal(signal.SIGTERM, lambda signum, frame: self.reactor.call_soon_threadsafe(self.stop_taking))
        self.link.send(wire.HELLO, pid=os.getpid())
        self.link.start_heartbeat(lambda: self.reactor.active)
        self.reactor.run_until(lambda: not self.taking and self.reactor.active == 0)
        self.reactor.close()
        self.link.send(wire.BYE, associations=self.associations, dropped_logs=self.link.dropped)
        self.link.close()

    def _adopt(self) -> None:
        try:
            received = fdpass.receive_connection(self.channel)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            received = None
        if received is None:        # the supervisor closed the channel: stop taking sockets
            self.stop_taking()
            return
        sock, peer = received
        sock.setblocking(False)
        self.associations += 1
        # "A<spawn serial>.<n>": unique in the node for the supervisor's life, even across respawns
        link = self.link.for_association(f"A{self.config.identity.rpartition('.')[2]}.{self.associations}")
        association = Association(sock, peer, self.settings, link, self.namer)
        association.on_over = lambda: self._tell_closed(association)
        self.reactor.start(Task(association.run(), association, lambda error: self._ended(association, error)))

    def _ended(self, association: Association, error: BaseException | None) -> None:
        if error is not None:
            # One association's bug must not take the worker down.
            self.link.log("E", f"internal error in association with {association.peer[0]}: {error!r}")
        if association.on_over is not None:
            self._tell_closed(association)

    def _tell_closed(self, association: Association) -> None:
        """The supervisor's count of associations (and of the calling AE title's) drops: once each."""
        association.on_over = None
        held = getattr(association, "held_aet", None)    # set by workers/access.py
        if held is None:
            self.link.send(wire.CLOSED)
        else:
            self.link.send(wire.CLOSED, aet=held)


def run(config: WorkerConfig) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        worker = Worker(config)
    except Exception as exc:  # noqa: BLE001 - reported, then the supervisor halts instead of respawning
        sys.stderr.write(f"F: worker {config.index} cannot boot: {exc}\n")
        sys.stderr.flush()
        os._exit(exitcodes.WORKER_BOOT_FAILURE)
    # What booting made lives as long as the process: out of the collector's sight. The data path
    # makes few reference cycles, so collections are rare rather than every 700 allocations.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)
    worker.serve()
    sys.exit(0)
