"""The secondary tools as a user meets them: versions, licence, wrong ports, a missing plotting library."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

from .support.service import BIN, stored_files

ROOT = Path(__file__).resolve().parent.parent
VERSION = importlib.metadata.version("dcmrecv-cluster")
# Runs the load driver with matplotlib unimportable, whether or not this venv has it.
WITHOUT_MATPLOTLIB = ("import sys; sys.modules['matplotlib'] = None; "
                      "from dcmrecv_cluster.loadtest.cli import main; main(sys.argv[1:])")


def run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


def test_both_tools_print_their_version() -> None:
    for tool in ("dcmrecv-cluster-loadtest", "dcmrecv-cluster-status"):
        done = run(str(BIN / tool), "--version")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"{tool}, version {VERSION}"


def test_mit_licence_is_shipped_and_declared() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    metadata = importlib.metadata.metadata("dcmrecv-cluster")
    assert metadata["License-Expression"] == "MIT"


def test_status_against_a_dicom_port_is_one_line_and_fails(receiver_factory) -> None:
    receiver = receiver_factory()
    done = run(str(BIN / "dcmrecv-cluster-status"), "--port", str(receiver.port), "--timeout", "10")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"no status from 127.0.0.1:{receiver.port}" in done.stderr and "--metrics-port" in done.stderr


def test_plot_without_matplotlib_fails_before_sending(receiver_factory) -> None:
    receiver = receiver_factory()
    done = run(sys.executable, "-c", WITHOUT_MATPLOTLIB, "127.0.0.1", str(receiver.port),
               "--preset", "mr", "-n", "3", "--plot", str(receiver.output.parent / "run.png"))
    assert done.returncode != 0
    assert f"{sys.executable} -m pip install matplotlib" in done.stderr, done.stderr
    assert "dcmrecv-cluster[bench]" not in done.stderr.replace("-e '.[bench]'", "")
    assert stored_files(receiver.output) == []
    assert "Association Received" not in receiver.log


def test_bench_finds_the_project_without_path_and_fails_loudly_without_it() -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    probe = ("from dcmrecv_cluster.loadtest.servers import DEFAULT_SERVERS, ServerSpec; "
             "print(ServerSpec('dcmrecv-cluster', DEFAULT_SERVERS['dcmrecv-cluster']).available())")
    done = run(sys.executable, "-c", probe, env=env)
    assert done.stdout.strip() == "True", done.stderr
    missing = run(sys.executable, "-m", "dcmrecv_cluster.loadtest.bench", "--servers", "dcmrecv-cluster",
                  "--server", "dcmrecv-cluster=/nonexistent/dcmrecv-cluster {port}", env=env)
    assert missing.returncode == 2
    assert "cannot find the project's server 'dcmrecv-cluster'" in missing.stderr


def test_sending_processes_do_not_import_pydicom(receiver_factory) -> None:
    """Payloads are built once in the driver's parent; its sending processes start without pydicom."""
    receiver = receiver_factory("--embedded-profile")
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = run(str(BIN / "dcmrecv-cluster-loadtest"), "127.0.0.1", str(receiver.port), "--preset", "mr",
               "-n", "4", "-a", "2", "-j", "2", env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    imports = [line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert imports.count("dcmrecv_cluster.loadtest.worker") == 3     # the parent and both sending processes
    assert imports.count("pydicom") == 1                            # the parent only
