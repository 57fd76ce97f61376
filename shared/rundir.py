"""The private run directory that holds the ipc endpoints and the hand-off socket."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class RunDirectory:
    path: str

    @classmethod
    def create(cls) -> RunDirectory:
        # mkdtemp creates the directory 0700: only our user can reach the endpoints.
        return cls(tempfile.mkdtemp(prefix="dcmrecv-cluster-"))

    @property
    def control_endpoint(self) -> str:
        return f"ipc://{self.path}/control"

    @property
    def log_endpoint(self) -> str:
        return f"ipc://{self.path}/log"

    @property
    def handoff_path(self) -> str:
        return os.path.join(self.path, "handoff")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
