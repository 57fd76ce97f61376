"""supervisor/limitwait.py alone: first come first served, a bounded number held, refusal after the grace."""

from __future__ import annotations

import socket

from dcmrecv_cluster.supervisor import limitwait

from .support.service import wait_until


def held_sockets(count: int) -> list[socket.socket]:
    pairs = [socket.socketpair() for _ in range(count)]
    return [a for a, _ in pairs] + [b for _, b in pairs]


def test_held_in_arrival_order_and_no_more_than_the_bound():
    wait = limitwait.LimitWait()
    socks = held_sockets(limitwait.MOST_HELD + 1)
    mine = socks[: limitwait.MOST_HELD + 1]
    try:
        assert all(wait.hold(sock, ("127.0.0.1", n)) for n, sock in enumerate(mine[:-1]))
        assert wait.hold(mine[-1], ("127.0.0.1", 0)) is False      # refused at once
        assert list(wait.settle(lambda: False)) == []              # no place, grace not over
        places = iter([True, True, False])
        admitted = list(wait.settle(lambda: next(places)))
        assert [(peer[1], admit) for _, peer, admit in admitted] == [(0, True), (1, True)]
        assert len(wait.take_all()) == limitwait.MOST_HELD - 2
    finally:
        for sock in socks:
            sock.close()


def test_refused_once_the_grace_is_over():
    wait = limitwait.LimitWait()
    socks = held_sockets(1)
    try:
        wait.hold(socks[0], ("127.0.0.1", 1))
        assert 0 < wait.wait_at_most(5.0) <= limitwait.GRACE
        settled = wait_until(lambda: list(wait.settle(lambda: False)), 5, 0.02, "the grace to end")
        assert [admit for _, _, admit in settled] == [False]
        assert wait.wait_at_most(5.0) == 5.0
    finally:
        for sock in socks:
            sock.close()
