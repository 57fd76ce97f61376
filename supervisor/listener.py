"""The listening TCP socket, opened as dcmrecv opens it (IPv4, SO_REUSEADDR, backlog 50)."""

from __future__ import annotations

import errno
import os
import socket

BACKLOG = 50  # DCMTK's PRV_LISTENBACKLOG


class ListenError(Exception):
    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__(lines[-1][1])
        self.lines = lines


def open_listener(port: int, bind_address: str = "0.0.0.0", backlog: int = BACKLOG) -> socket.socket:
    if port < 1024 and os.geteuid() != 0:
        raise ListenError([
            ("E", f"No privileges to open this network port ({port})"),
            ("F", f"cannot start SCP and listen on port {port}: Insufficient port privileges"),
        ])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind_address, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "Address already in use"
        text = f"cannot start SCP and listen on port {port}: TCP Initialization Error: {reason}"
        raise ListenError([("F", text)]) from exc
    sock.setblocking(False)
    return sock
