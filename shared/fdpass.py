"""Handing accepted TCP sockets from the supervisor to a worker.

ZeroMQ cannot carry file descriptors, so each worker holds one AF_UNIX
SOCK_SEQPACKET connection to the supervisor's hand-off socket: message
boundaries are kept, so one message is exactly one socket plus its peer address.
"""

from __future__ import annotations

import socket

MAX_MESSAGE = 512


def handoff_listener(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    return listener


def connect_handoff(path: str, identity: bytes) -> socket.socket:
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    channel.connect(path)
    channel.sendall(identity)
    return channel


def send_connection(channel: socket.socket, conn: socket.socket, peer: tuple[str, int]) -> None:
    """Pass ``conn`` on; raises BlockingIOError when the worker is not draining its channel."""
    note = f"{peer[0]} {peer[1]}".encode()
    socket.send_fds(channel, [note], [conn.fileno()], socket.MSG_DONTWAIT)


def receive_connection(channel: socket.socket) -> tuple[socket.socket, tuple[str, int]] | None:
    """Block for the next socket; None when the supervisor closed the channel."""
    note, fds, flags, _ = socket.recv_fds(channel, MAX_MESSAGE, 4)
    if not note and not fds:
        return None
    for extra in fds[1:]:  # never expected; never leak one
        socket.close(extra)
    if not fds:
        raise ConnectionError("hand-off message without a socket")
    host, port = note.decode().rsplit(" ", 1)
    return socket.socket(fileno=fds[0]), (host, int(port))
