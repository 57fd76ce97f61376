"""The load driver's -t with --retry: a re-send still pending when -t ends is finished, and said so."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import threading
import time

from .support.service import BIN, wait_until


class StallingProxy:
    """Forwards loopback TCP to the receiver. The first connection's answers stop after
    ``stall_after`` seconds and it is closed after ``close_after``: to the sender, a node killed
    while a C-STORE was in flight, just after its -t has ended."""

    def __init__(self, target_port: int, stall_after: float, close_after: float) -> None:
        self.target_port, self.stall_after, self.close_after = target_port, stall_after, close_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._pipe, args=(client, self.connections == 1), daemon=True).start()

    def _pipe(self, client: socket.socket, first: bool) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        opened = time.monotonic()
        with client, upstream:
            while not (first and time.monotonic() - opened > self.close_after):
                ready, _, _ = select.select([client, upstream], [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        upstream.sendall(data)
                    elif not (first and time.monotonic() - opened > self.stall_after):
                        client.sendall(data)

    def close(self) -> None:
        self.listener.close()


def test_pending_retry_finishes_after_duration(receiver_factory, tmp_path) -> None:
    receiver = receiver_factory("--embedded-profile")
    proxy = StallingProxy(receiver.port, stall_after=0.4, close_after=2.0)
    summary_path = tmp_path / "run.json"
    try:
        done = subprocess.run([str(BIN / "dcmrecv-cluster-loadtest"), "127.0.0.1", str(proxy.port),
                               "--preset", "mr", "-t", "1", "-a", "1", "-j", "1", "--retry", "2",
                               "--json", str(summary_path)],
                              capture_output=True, text=True, timeout=120)
    finally:
        proxy.close()
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["retry"]["resent_after_duration"] >= 1
    assert summary["retry"]["recovered"] >= 1
    assert summary["instances"]["failed"] == 0
    assert "finished after -t ended" in done.stdout
    wait_until(lambda: proxy.connections >= 2, 5, what="the re-send's own association")
