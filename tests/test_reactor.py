"""The worker's loop: the deadlines it keeps stay bounded however many waits an association makes."""

from __future__ import annotations

import socket
import time

from dcmrecv_cluster.workers import pdu
from dcmrecv_cluster.workers.reactor import Reactor, Task


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = pdu.SocketReader(sock)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A loopback TCP connection (the reader sets TCP options an AF_UNIX pair would refuse)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        peer = socket.create_connection(server.getsockname())
        ours, _ = server.accept()
    ours.setblocking(False)
    return ours, peer


def waiting_forever(connection: Connection):
    """Waits for data again each time it is resumed, every wait with a far deadline (as an association's)."""
    while True:
        yield pdu.Wait(pdu.DATA, time.monotonic() + 600)


def test_cancelled_deadlines_do_not_pile_up_behind_an_idle_connection():
    reactor = Reactor(durable=False)
    idle_ours, idle_peer = tcp_pair()
    busy_ours, busy_peer = tcp_pair()
    try:
        idle = Connection(idle_ours)
        # Its deadline, the earliest, stays at the heap's top: nothing above it is ever popped.
        reactor.start(Task(waiting_forever(idle), idle, lambda error: None))
        busy = Connection(busy_ours)
        task = Task(waiting_forever(busy), busy, lambda error: None)
        reactor.start(task)
        for _ in range(50_000):          # as many resumes of a busy association (a few per store)
            reactor._step(task, None, None)
        assert len(reactor.timers) < 2 * 4096 + 10
        assert reactor.active == 2
    finally:
        reactor.close()
        for sock in (idle_ours, idle_peer, busy_ours, busy_peer):
            sock.close()
