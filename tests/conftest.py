"""Shared fixtures: a real dcmrecv-cluster on a free loopback port, stopped by PID afterwards; a test PKI."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import tlsutil
from .support.net import free_port
from .support.service import Receiver
from .support.tools import STORESCP_CFG


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


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """The test PKI (tlsutil.make_pki), a hashed CA directory, DH parameters and a random seed file.

    One per module: modules write their own files next to it (output folders, other DH parameters).
    """
    root = tmp_path_factory.mktemp("pki")
    tlsutil.make_pki(root)
    tlsutil.make_hash_dir(root / "cadir", root / "ca.pem")
    tlsutil.write_dh_params(root / "dh2048.pem")
    (root / "seed.bin").write_bytes(bytes(range(256)) * 4)
    return root
