"""A node's life as a balancer sees it, and the HAProxy agent-check port that reports it.

One state machine, STARTING -> READY -> DRAINING -> STOPPED, owned by the
supervisor's loop and shown three ways: the agent port (HAProxy `agent-check`),
`healthz()` for the metrics HTTP port, and the log. The agent answers one line
and closes, as HAProxy expects (configuration.txt, `agent-check`):

    STARTING  down#starting        not ready yet: HAProxy marks the server DOWN
    READY     ready up <w>%        first answer to each balancer, and every answer in the first
                                   READY_WINDOW s: lifts the drain this node's previous run set
              up <w>%              later answers: weight = free association slots, 1..100 %
    DRAINING  drain                SIGTERM: no new connections, in-flight ones continue
    STOPPED   down#stopping        listener closed, finishing what is in flight

`ready` is not said on every poll: the agent's `drain` and an operator's
`set server ... state drain` are the same flag in HAProxy, so a `ready` on
every poll would undo the operator's drain (verified with HAProxy 2.6), while
`up <w>%` leaves it alone. It is said to each peer address once (two balancers
each get theirs; a monitoring probe cannot use it up) and during the first
seconds of READY. The weight never drops to 0 %, which HAProxy treats as drain:
a full node still queues rather than vanishing from the pool.
"""

from __future__ import annotations

import enum
import errno
import os
import socket
import time

DEFAULT_NOTICE = 2          # seconds: 2 x HAProxy's agent-inter 1s in deploy/haproxy.cfg
READY_WINDOW = 5.0          # seconds after READY during which every answer says `ready`
MAX_PEERS = 1024            # peer addresses remembered as told `ready`


class State(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


_ORDER = [State.STARTING, State.READY, State.DRAINING, State.STOPPED]


class Lifecycle:
    """Moves only forward; `notice_over()` tells the loop when DRAINING should become STOPPED."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.state = State.STARTING
        self.since = clock()
        self.notice_ends: float | None = None
        self._told_ready: set = set()
        self._low_space = False

    @property
    def low_space(self) -> bool:
        return self._low_space

    @low_space.setter
    def low_space(self, low: bool) -> None:
        """--min-free-space: `drain` while low; afterwards `ready` once to each balancer, which
        lifts that drain (HAProxy keeps one drain flag)."""
        if self._low_space and not low:
            self._told_ready.clear()
        self._low_space = low

    def _move(self, state: State) -> bool:
        if _ORDER.index(state) <= _ORDER.index(self.state):
            return False
        self.state, self.since = state, self.clock()
        return True

    def ready(self) -> bool:
        return self._move(State.READY)

    def drain(self, notice: float) -> bool:
        """Enter DRAINING; the listener stays open for `notice` seconds more."""
        if not self._move(State.DRAINING):
            return False
        self.notice_ends = self.since + max(0.0, notice)
        return True

    def stop(self) -> bool:
        return self._move(State.STOPPED)

    @property
    def draining(self) -> bool:
        return self.state == State.DRAINING

    def notice_over(self) -> bool:
        return self.state == State.DRAINING and self.clock() >= (self.notice_ends or 0.0)

    def agent_reply(self, active: int = 0, capacity: int = 0, peer: str | None = None) -> bytes:
        if self.state == State.STARTING:
            return b"down#starting\n"
        if self.state == State.DRAINING:
            return b"drain\n"
        if self.state == State.STOPPED:
            return b"down#stopping\n"
        if self._low_space:
            return b"drain\n"
        weight = 100 if capacity <= 0 else max(1, min(100, (capacity - active) * 100 // capacity))
        first = peer not in self._told_ready
        if first and len(self._told_ready) < MAX_PEERS:
            self._told_ready.add(peer)
        if first or self.clock() - self.since < READY_WINDOW:
            return f"ready up {weight}%\n".encode()
        return f"up {weight}%\n".encode()

    def healthz(self) -> tuple[int, bytes]:
        """For GET /healthz on the metrics port: 200 only while READY (Kubernetes, cloud LBs)."""
        return (200 if self.state == State.READY else 503), f"{self.state.value}\n".encode()


class AgentServer:
    """A non-blocking TCP listener the arbiter polls: each connection gets one line, then close.

    Never blocks the loop: the reply is a few bytes into an empty send buffer;
    if even that cannot be sent, the connection is closed (HAProxy ignores a
    failed agent check, the C-ECHO check still decides UP/DOWN).
    """

    def __init__(self, sock: socket.socket, lifecycle: Lifecycle, load=lambda: (0, 0)) -> None:
        self.sock = sock
        self.lifecycle = lifecycle
        self.load = load            # () -> (active associations, capacity)
        self.answered = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def service(self) -> None:
        for _ in range(64):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                conn.setblocking(False)
                conn.send(self.lifecycle.agent_reply(*self.load(), peer=peer[0]))
                conn.shutdown(socket.SHUT_WR)
                self.answered += 1
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.sock.close()


def open_agent(options, lifecycle: Lifecycle | None = None) -> AgentServer | None:
    """The agent port from --agent-port on --bind's address; None when not asked for.

    Raises ListenError (exit 64, as the DICOM port) when it cannot listen.
    """
    port = getattr(options, "agent_port", None)
    if port is None:
        return None
    from dcmrecv_cluster.supervisor.listener import ListenError

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((options.bind_address, port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        reason = "Address already in use" if exc.errno == errno.EADDRINUSE else os.strerror(exc.errno or 0)
        raise ListenError([("F", f"cannot listen on agent port {port}: TCP Initialization Error: {reason}")]) from exc
    sock.setblocking(False)
    return AgentServer(sock, lifecycle or Lifecycle())


def notice_seconds(options) -> float:
    """--drain-notice, by default 2 s behind a balancer (agent port or PROXY) and 0 standalone,
    where SIGTERM keeps dcmrecv's behaviour: stop accepting at once."""
    notice = getattr(options, "drain_notice", None)
    if notice is not None:
        return float(notice)
    behind = getattr(options, "agent_port", None) is not None or getattr(options, "proxy_protocol", None)
    return float(DEFAULT_NOTICE) if behind else 0.0


def option_problem(options) -> str | None:
    port = getattr(options, "agent_port", None)
    if port is not None and port == options.port:
        return "--agent-port must differ from the DICOM port"
    return None
