"""The suite's own receiver helper: a port taken between free_port() and the bind is not a failure."""

from __future__ import annotations

import socket

from .support.service import Receiver


def test_a_receiver_whose_port_was_taken_starts_again_on_another(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("0.0.0.0", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        (tmp_path / "out").mkdir()
        receiver = Receiver(["-od", str(tmp_path / "out")], tmp_path, taken)
        try:
            receiver.wait_ready()
            assert receiver.port != taken and receiver.restarts == 1
        finally:
            assert receiver.stop() == 0
