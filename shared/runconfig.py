"""The frozen configuration a worker receives at spawn: everything it needs, nothing it must look up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WorkerConfig:
    index: int
    identity: str           # unique per spawned process ("w<index>.<serial>"): ROUTER routing and hand-off
    options: Any            # dcmrecv_cluster.shared.cmdline.Options (frozen, picklable)
    profile: Any            # dcmrecv_cluster.shared.asconfig.AssociationProfile
    tls: Any                # dcmrecv_cluster.shared.tlscontext.TLSSettings | None
    control_endpoint: str
    log_endpoint: str
    handoff_path: str
    log_level: str | None = None  # least severe level the supervisor writes (-lc: per logger/appender)
    store_reports: bool = True   # one record per C-STORE for metrics/events; off when nothing consumes them
    access: Any = None      # dcmrecv_cluster.shared.access.AccessPolicy | None (--calling-aets, ...)


def wants_store_reports(options: Any) -> bool:
    """Workers send a STORED report per C-STORE only when the supervisor consumes them: metrics,
    the event stream, or storescp's hooks (-xcr, and -tos for end of study).  The one place deciding."""
    return (options.metrics_port is not None or options.events_endpoint is not None
            or bool(getattr(options, "exec_on_reception", None))
            or getattr(options, "eostudy_timeout", None) is not None)


WORKER_ENTRY = ("dcmrecv_cluster.workers.main", "run")


def run_entry(module: str, function: str, *args: Any) -> None:
    """Spawn target: the supervisor names the worker's entry point instead of importing it.

    This keeps the dependency rule (supervisor never imports workers) while
    multiprocess still starts the worker with the spawn method.
    """
    import importlib

    getattr(importlib.import_module(module), function)(*args)
