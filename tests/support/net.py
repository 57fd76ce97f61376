"""Loopback ports for the servers the tests start."""

from __future__ import annotations

import socket


def free_port(*hosts: str, family: socket.AddressFamily = socket.AF_INET) -> int:
    """A TCP port that is free on every one of ``hosts`` (default: 127.0.0.1) right now.

    Several hosts: cluster nodes listen on one port number, each on its own loopback address.
    """
    hosts = hosts or ("127.0.0.1",)
    while True:
        with socket.socket(family) as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket(family) as s:
                    s.bind((host, port))
            return port
        except OSError:
            continue
