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
    access: Any = None      # dcmrecv_cluster.shared.access.AccessPolicy | None (--calling-aets, ...)


WORKER_ENTRY = ("dcmrecv_cluster.workers.main", "run")


def run_entry(module: str, function: str, *args: Any) -> None:
    """Spawn target: the supervisor names the worker's entry point instead of importing it.

    This keeps the dependency rule (supervisor never imports workers) while
    multiprocess still starts the worker with the spawn method.
    """
    import importlib

    getattr(importlib.import_module(module), function)(*args)
