"""Start a Storage SCP under test on a free loopback port, and stop it by process group.

A server is described by a command template; `{port}`, `{outdir}`, `{cfg}` and
`{workers}` are filled in, leading ``KEY=VALUE`` words become environment.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

STORESCP_CFG = "/etc/dcmtk/storescp.cfg"
PROJECT = "dcmrecv-cluster"


def project_command() -> str:
    """This installation's server: the console script beside the running interpreter, else PATH's.

    ``make bench`` runs ``.venv/bin/python -m ...`` without the venv's bin on PATH, so PATH alone
    would miss (or pick another installation of) the project being measured.
    """
    beside = os.path.join(os.path.dirname(sys.executable), PROJECT)
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which(PROJECT) or PROJECT


# name -> template; "+nodelay" variants set DCMTK's TCP_NODELAY switch
DEFAULT_SERVERS = {
    PROJECT: f"TCP_NODELAY=1 {shlex.quote(project_command())} --workers {{workers}} -od {{outdir}} "
             "-xf {cfg} Default {port}",
    PROJECT + "-nofsync": f"TCP_NODELAY=1 {shlex.quote(project_command())} --workers {{workers}} --no-fsync "
                          "-od {outdir} -xf {cfg} Default {port}",
    # One worker: on a machine whose senders share its few cores, a worker per core competes with them.
    PROJECT + "-1worker": f"TCP_NODELAY=1 {shlex.quote(project_command())} --workers 1 "
                          "-od {outdir} -xf {cfg} Default {port}",
    PROJECT + "-nofsync-1worker": f"TCP_NODELAY=1 {shlex.quote(project_command())} --workers 1 --no-fsync "
                                  "-od {outdir} -xf {cfg} Default {port}",
    "dcmrecv": "/usr/bin/dcmrecv -od {outdir} -xf {cfg} Default {port}",
    "dcmrecv+nodelay": "TCP_NODELAY=1 /usr/bin/dcmrecv -od {outdir} -xf {cfg} Default {port}",
    "storescp": "/usr/bin/storescp --fork -od {outdir} -xf {cfg} Default {port}",
    "storescp+nodelay": "TCP_NODELAY=1 /usr/bin/storescp --fork -od {outdir} "
                        "-xf {cfg} Default {port}",
}


class ServerError(RuntimeError):
    """The server did not start, or its command is missing."""


@dataclass
class ServerSpec:
    name: str
    template: str

    def argv_env(self, **values) -> tuple[list[str], dict[str, str]]:
        words = shlex.split(self.template.format(**values))
        env: dict[str, str] = {}
        while words and "=" in words[0] and not words[0].startswith(("-", "/")):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        return words, env

    def available(self) -> bool:
        argv, _ = self.argv_env(workers=1, outdir="x", cfg=STORESCP_CFG, port=1)
        return bool(argv) and shutil.which(argv[0]) is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, deadline_s: float) -> None:
    """Poll until a Verification association is accepted, the process dies, or the deadline passes.

    An open port is not enough: a pre-fork server may listen before its workers
    can serve, and their start-up would then be counted in the first cell.
    """
    from dcmrecv_cluster.loadtest.scu import Association, AssociationFailure, Target

    target = Target("127.0.0.1", port, connect_timeout=0.5, acse_timeout=2.0)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"server exited with {proc.returncode} before listening")
        try:
            Association(target, [(1, "1.2.840.10008.1.1", ["1.2.840.10008.1.2"])]).release()
            return
        except (OSError, AssociationFailure):
            time.sleep(0.05)
    raise ServerError(f"server did not listen on port {port} within {deadline_s} s")


@dataclass
class RunningServer:
    spec: ServerSpec
    proc: subprocess.Popen
    port: int
    outdir: str
    log_path: str
    extra: dict = field(default_factory=dict)

    @property
    def pgid(self) -> int:
        return self.proc.pid

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM to the whole group, SIGKILL after `grace` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # the group may outlive its leader (forked children): make sure it is gone
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.proc.returncode

    def log_tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as fh:
                return "".join(fh.readlines()[-n:])
        except OSError:
            return ""


# Both DCMTK and dcmrecv-cluster exit 64 when the port cannot be listened on.
_CANNOT_LISTEN = 64
_PORT_TRIES = 3


def start(spec: ServerSpec, workdir: str, workers: int, cfg: str = STORESCP_CFG,
          listen_deadline: float = 30.0) -> RunningServer:
    """Start `spec` with a fresh output directory under `workdir`.

    A free port can be taken by another process between the probe and the server's
    bind (other test runs on the machine): on exit 64 the start is retried on another.
    """
    if not spec.available():
        raise ServerError(f"{spec.name}: command not found")
    outdir = tempfile.mkdtemp(prefix=f"{spec.name.replace('+', '-')}-", dir=workdir)
    log_path = outdir + ".log"
    for attempt in range(_PORT_TRIES):
        port = free_port()
        argv, env = spec.argv_env(workers=workers, outdir=outdir, cfg=cfg, port=port)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        server = RunningServer(spec, proc, port, outdir, log_path)
        try:
            wait_listening(port, proc, listen_deadline)
            return server
        except ServerError as exc:
            server.stop()
            if proc.returncode == _CANNOT_LISTEN and attempt + 1 < _PORT_TRIES:
                continue
            raise ServerError(f"{spec.name}: {exc}\n{server.log_tail()}") from None
    raise AssertionError("unreachable")
