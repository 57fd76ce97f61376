"""Shared fixtures: a real dcmrecv-cluster on a free loopback port, stopped by PID afterwards."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from service import Receiver, free_port

STORESCP_CFG = "/etc/dcmtk/storescp.cfg"


@pytest.fixture
def receiver_factory(tmp_path):
    started: list[Receiver] = []

    def start(*args: str, output: Path | None = None, ready: bool = True, command=None, env=None) -> Receiver:
        out = output or tmp_path / "out"
        out.mkdir(exist_ok=True)
        receiver = Receiver(["-od", str(out), *args], tmp_path, free_port(), command=command, env=env)
        receiver.output = out
        started.append(receiver)
        if ready:
            receiver.wait_ready()
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture(scope="module")
def live_receiver(tmp_path_factory):
    """One receiver for a whole module of tests that only need it to keep serving."""
    directory = tmp_path_factory.mktemp("live")
    out = directory / "out"
    out.mkdir()
    receiver = Receiver(["-od", str(out), "-ta", "3", "-td", "3", "--workers", "2", "-xf", STORESCP_CFG, "Default"],
                        directory, free_port())
    receiver.output = out
    receiver.wait_ready()
    yield receiver
    receiver.stop()
