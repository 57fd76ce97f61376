"""storescp's hooks on the real service: -xcr per stored instance, -xcs/-tos once per study on the node.

Senders are DCMTK's storescu; the hooks are real `/bin/sh -c` commands writing files that the tests
poll for (with deadlines).  storescp itself is the oracle for the placeholders.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pydicom
import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families
from pydicom.uid import generate_uid

from .support.instances import make_series
from .support.net import free_port
from .support.service import BIN, descendants_of, storescu, wait_until
from .support.tools import STORESCP

CLUSTER = ("--embedded-profile", "--bind", "127.0.0.1")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _study(directory: Path, count: int, uid: str | None = None) -> tuple[str, list[Path]]:
    """`count` instances of one study (make_series gives each its own study)."""
    uid = uid or generate_uid()
    files = make_series(directory, count)
    for path in files:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = uid
        ds.save_as(path)
    return uid, files


def _hook_counts(port: int) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.labels["hook"], s.labels["outcome"]): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "dcmrecv_cluster_hooks_total"}


def test_reception_hook_placeholders_as_storescp(receiver_factory, tmp_path):
    ours_log, ref_log = tmp_path / "ours.log", tmp_path / "ref.log"
    hook = "echo '#a|#c|#r|#p|#f' >> {}"
    ours = receiver_factory("--workers", "2", "-xcr", hook.format(ours_log), *CLUSTER, output=tmp_path / "ours")
    ref = receiver_factory("-xcr", hook.format(ref_log), output=tmp_path / "ref", command=[STORESCP])
    files = make_series(tmp_path / "in", 3)
    for receiver in (ours, ref):
        result = storescu(receiver.port, files, "-aet", "SENDER AE", "-aec", "THE_SCP")
        assert result.returncode == 0, result.stderr
    wait_until(lambda: len(_lines(ours_log)) == 3, 30, what="three reception hooks")
    wait_until(lambda: len(_lines(ref_log)) == 3, 30, what="storescp's three reception hooks")
    normalised = sorted(line.replace(str(ours.output), "DIR") for line in _lines(ours_log))
    assert normalised == sorted(line.replace(str(ref.output), "DIR") for line in _lines(ref_log))
    names = sorted(p.name for p in ours.output.iterdir())
    assert normalised == sorted(f'"SENDER AE"|"THE_SCP"|"localhost"|DIR|{name}' for name in names)


def test_a_slow_hook_never_delays_stores(receiver_factory, tmp_path):
    done = tmp_path / "done.log"
    receiver = receiver_factory("--workers", "1", "-v", "-xcr", f"sleep 3; echo '#f' >> {done}", *CLUSTER)
    files = make_series(tmp_path / "in", 6)
    started = time.monotonic()
    result = storescu(receiver.port, files)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 3.0, f"6 stores took {elapsed:.2f} s with a 3 s hook"
    assert len(list(receiver.output.iterdir())) == 6
    wait_until(lambda: len(_lines(done)) == 6, 30, what="six hooks to finish")
    # -v: exit status and duration of each
    wait_until(lambda: len(re.findall(r"I: reception hook for CT\.[0-9.]+: exit status 0 in 3\.\d{3} s",
                                      receiver.log)) == 6, 10, what="six hook lines")


def test_a_hanging_hook_is_killed_at_its_timeout_and_ingest_continues(receiver_factory, tmp_path):
    marks = tmp_path / "marks.log"
    receiver = receiver_factory("--workers", "1", "--hook-timeout", "1",
                                "-xcr", f"echo start >> {marks}; sleep 300; echo end >> {marks}", *CLUSTER)
    assert storescu(receiver.port, make_series(tmp_path / "a", 2)).returncode == 0
    wait_until(lambda: receiver.log.count("killed after 1 s") == 2, 30, what="two hooks killed")
    assert _lines(marks) == ["start", "start"]
    assert storescu(receiver.port, make_series(tmp_path / "b", 1)).returncode == 0   # still serving
    wait_until(lambda: receiver.log.count("killed after 1 s") == 3, 30, what="the third hook killed")
    assert len(list(receiver.output.iterdir())) == 3

    def no_sleepers():
        for pid in descendants_of(receiver.process.pid):
            try:
                if b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return False
            except (FileNotFoundError, ProcessLookupError):
                pass
        return True
    wait_until(no_sleepers, 10, what="the killed hooks' sleep processes to be gone")
    assert "end" not in _lines(marks)


def test_a_flood_with_a_slow_hook_drops_and_counts(receiver_factory, tmp_path):
    metrics_port = free_port()
    receiver = receiver_factory("--workers", "2", "--hook-queue", "2", "--metrics-port", str(metrics_port),
                                "-xcr", "sleep 2", *CLUSTER)
    files = make_series(tmp_path / "in", 30, rows=8, columns=8)
    assert storescu(receiver.port, files).returncode == 0
    # at most 4 running + 2 queued while the 30 reports arrive within 2 s: the rest is dropped
    counts = wait_until(lambda: (c := _hook_counts(metrics_port)) and
                        c[("reception", "ok")] + c[("reception", "dropped")] == 30 and c, 30,
                        what="every hook run or dropped")
    assert counts[("reception", "dropped")] >= 20, counts
    assert counts[("reception", "ok")] >= 4, counts
    assert "reception hook queue full (2 waiting)" in receiver.log
    assert len(list(receiver.output.iterdir())) == 30


STUDY_HOOK = "f=$(mktemp -p {dir} study.XXXXXX); echo '#a|#c|#r|#p' > $f; cat >> $f"


def _executions(directory: Path) -> list[list[str]]:
    return [p.read_text().splitlines() for p in sorted(directory.glob("study.*"))]


def test_two_studies_in_a_row_give_two_executions(receiver_factory, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    receiver = receiver_factory("--workers", "2", "-tos", "2", "-xcs", STUDY_HOOK.format(dir=runs), *CLUSTER)
    uid_a, files_a = _study(tmp_path / "a", 3)
    uid_b, files_b = _study(tmp_path / "b", 2)
    started = time.monotonic()
    assert storescu(receiver.port, files_a + files_b, "-aet", "MODALITY").returncode == 0
    wait_until(lambda: len(_executions(runs)) == 2, 30, what="two end-of-study executions")
    assert time.monotonic() - started >= 2.0
    receiver.stop()                   # open studies would complete now: none may be left
    executions = _executions(runs)
    assert len(executions) == 2
    stored = {p.name: p for p in receiver.output.iterdir()}
    by_count = sorted(executions, key=len)
    for execution, files in zip(by_count, (files_b, files_a), strict=True):
        assert execution[0] == f'"MODALITY"|"ANY-SCP"|"localhost"|{receiver.output}'
        names = sorted(Path(line).name for line in execution[1:])
        assert names == sorted(f"CT.{pydicom.dcmread(f).SOPInstanceUID}" for f in files)
        assert all(Path(line).is_absolute() and Path(line).name in stored for line in execution[1:])


def test_one_study_over_three_concurrent_associations_runs_once(receiver_factory, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    metrics_port = free_port()
    receiver = receiver_factory("--workers", "2", "-tos", "2", "-xcs", STUDY_HOOK.format(dir=runs),
                                "--events", endpoint, "--metrics-port", str(metrics_port), *CLUSTER)
    uid = generate_uid()
    parts = [_study(tmp_path / f"part{k}", 4, uid)[1] for k in range(3)]
    context = zmq.Context()
    subscriber = context.socket(zmq.SUB)
    subscriber.setsockopt(zmq.LINGER, 0)
    subscriber.connect(endpoint)
    subscriber.subscribe(b'{"event":"study"')
    try:
        def joined():
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/status", timeout=10) as answer:
                return json.loads(answer.read())["events"]["subscriptions"] == 1
        wait_until(joined, 15, what="the subscription to reach the node")
        results = []
        senders = [threading.Thread(target=lambda f=f: results.append(storescu(receiver.port, f)))
                   for f in parts]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        assert [r.returncode for r in results] == [0, 0, 0]
        assert subscriber.poll(30_000), "no study event"
        event = json.loads(subscriber.recv())
        wait_until(lambda: len(_executions(runs)) == 1, 30, what="the end-of-study execution")
        receiver.stop()
        assert not subscriber.poll(500), "a second study event"
    finally:
        subscriber.close()
        context.term()
    executions = _executions(runs)
    assert len(executions) == 1
    assert len(executions[0]) == 1 + 12
    assert event["event"] == "study" and event["study_instance_uid"] == uid and event["instances"] == 12
    assert sorted(event["files"]) == sorted(executions[0][1:])
    assert sorted(Path(f).name for f in event["files"]) == sorted(p.name for p in receiver.output.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["-xs", "104"], "--exec-sync not supported: hooks run in the supervisor after the C-STORE response"),
    (["-xcs", "true", "104"], "--exec-on-eostudy only allowed with --eostudy-timeout"),
    (["-tos", "5", "104"], "--eostudy-timeout only allowed with --exec-on-eostudy or --events"),
])
def test_hook_option_errors_exit_1(argv, message):
    result = subprocess.run([str(BIN / "dcmrecv-cluster"), *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"error: {message}" in result.stderr


def test_readme_forward_study_example_with_dcmsend(receiver_factory, tmp_path):
    """The README's worked example, as printed there, forwarding to a second receiver (the "PACS")."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    script = readme.split("`/usr/local/bin/forward-study`:\n\n```sh\n", 1)[1].split("```", 1)[0]
    pacs = receiver_factory("--workers", "1", *CLUSTER, output=tmp_path / "pacs")
    script = script.replace("pacs.example.org 104", f"127.0.0.1 {pacs.port}")
    forward = tmp_path / "forward-study"
    forward.write_text(script)
    forward.chmod(0o755)
    ingest = receiver_factory("--workers", "2", "-v", "-tos", "1", "-xcs", f'{forward} "#p"', *CLUSTER,
                              output=tmp_path / "ingest")
    _, files = _study(tmp_path / "in", 5)
    assert storescu(ingest.port, files).returncode == 0
    wait_until(lambda: len(list(pacs.output.iterdir())) == 5, 30, what="the study forwarded to the PACS")
    assert sorted(p.name for p in pacs.output.iterdir()) == sorted(p.name for p in ingest.output.iterdir())
    wait_until(lambda: "(5 instance(s)): exit status 0" in ingest.log, 10, what="the hook's log line")
