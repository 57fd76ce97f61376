"""Operations: a real Prometheus scrape after real stores, the event stream, the status command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
import zmq

from dcmrecv_cluster.shared import part10
from dcmrecv_cluster.supervisor.events import DROP_SLOW_SUBSCRIBER, EventPublisher
from dcmrecv_cluster.workers.dimse import C_STORE_RQ, Command
from dcmrecv_cluster.workers.storage import InstanceWriter, Namer, StorageSettings

from .support.instances import CT_IMAGE, make_instance, make_series
from .support.metrics import scrape, status_page
from .support.net import free_port
from .support.rawscu import associate, associate_rq, dataset_bytes, read_pdu, release, store
from .support.service import BIN, stored_files, storescu, wait_until

CLUSTER = ("--workers", "2", "--embedded-profile", "--bind", "127.0.0.1")
STATUS = str(BIN / "dcmrecv-cluster-status")


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((f"dcmrecv_cluster_{name}", tuple(sorted(labels.items()))), 0.0)


def test_metrics_scrape_after_real_stores(receiver_factory, tmp_path):
    metrics_port = free_port()
    receiver = receiver_factory("--max-associations", "1", "--metrics-port", str(metrics_port), *CLUSTER)
    before = scrape(metrics_port)
    files = make_series(tmp_path / "in", 5)
    result = storescu(receiver.port, files)
    assert result.returncode == 0, result.stderr
    sock = associate(receiver.port, CT_IMAGE)       # one empty dataset: C-STORE-RSP 0xC000
    assert store(sock, CT_IMAGE, "1.2.3.4", b"") == 0xC000
    refused = socket.create_connection(("127.0.0.1", receiver.port), timeout=10)   # past --max-associations 1
    refused.sendall(associate_rq([(1, CT_IMAGE, ["1.2.840.10008.1.2.1"])]))
    assert read_pdu(refused)[0] == 0x03
    refused.close()
    release(sock)
    stored = stored_files(receiver.output)
    assert len(stored) == 5

    def settled():
        samples = scrape(metrics_port)
        done = (metric(samples, "instances_stored_total") == 5 and metric(samples, "associations_active") == 0
                and metric(samples, "cstore_latency_seconds_count") == 6)
        return samples if done else None

    samples = wait_until(settled, 15, 0.1, "the scrape to show the stores")
    assert metric(samples, "associations_total") - metric(before, "associations_total") == 2
    assert metric(samples, "associations_rejected_total", reason="max-associations") == 1
    assert metric(samples, "instances_failed_total", status="0xc000") == 1
    assert metric(samples, "stored_bytes_total") == sum(p.stat().st_size for p in stored)
    assert metric(samples, "cstore_latency_seconds_bucket", le="10.0") == 6
    # A worker may still be booting on a loaded machine (the other one served): poll, don't assume.
    wait_until(lambda: (lambda s: metric(s, "worker_up", worker="0") == metric(s, "worker_up", worker="1") == 1)(
        scrape(metrics_port)), 30, 0.2, "both workers up")
    assert metric(samples, "worker_restarts_total") == 0
    assert 0 < time.time() - metric(samples, "start_time_seconds") < 300

    # The status command reads the same node.
    shown = subprocess.run([STATUS, "--port", str(metrics_port)], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert "workers: 2/2 up" in shown.stdout and "instances: 5 stored" in shown.stdout
    assert "1 rejected (max-associations 1)" in shown.stdout and "1 failed (0xc000 1)" in shown.stdout
    page = json.loads(subprocess.run([STATUS, "--port", str(metrics_port), "--json"], capture_output=True,
                                     text=True, timeout=30, check=True).stdout)
    assert page["instances"]["stored"] == 5 and page["associations"]["active"] == 0
    assert page["pid"] == receiver.process.pid and page["port"] == receiver.port
    assert [w["pid"] for w in page["workers"]] and all(w["up"] for w in page["workers"])

    # A worker killed outright is replaced, and counted.
    os.kill(page["workers"][0]["pid"], signal.SIGKILL)
    wait_until(lambda: (lambda s: metric(s, "worker_restarts_total") == 1 and metric(s, "worker_up", worker="0") == 1)(
        scrape(metrics_port)), 60, 0.2, "the restart to be counted and the worker up again")


def test_status_command_without_a_node_says_so():
    shown = subprocess.run([STATUS, "--port", str(free_port())], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 1 and "no status from 127.0.0.1" in shown.stderr


def test_event_stream_carries_exactly_the_stored_instances(receiver_factory, tmp_path):
    metrics_port, events_port = free_port(), free_port()
    endpoint = f"tcp://127.0.0.1:{events_port}"
    receiver = receiver_factory("--metrics-port", str(metrics_port), "--events", endpoint, *CLUSTER)

    # Nobody listens yet: the store succeeds, its event is dropped and counted.
    early = make_instance(tmp_path / "early.dcm")
    assert storescu(receiver.port, [early]).returncode == 0
    wait_until(lambda: metric(scrape(metrics_port), "events_dropped_total", reason="no-subscriber") == 1,
               15, 0.1, "the unheard event to be counted")

    context = zmq.Context()
    subscriber = context.socket(zmq.SUB)
    subscriber.setsockopt(zmq.LINGER, 0)
    subscriber.connect(endpoint)
    subscriber.subscribe(b"")
    try:
        # No slow-joiner guess: the node reports each subscription it has seen.
        wait_until(lambda: status_page(metrics_port).get("events", {}).get("subscriptions") == 1,
                   15, 0.05, "the subscription to reach the node")
        files = make_series(tmp_path / "in", 6)
        result = storescu(receiver.port, files)
        assert result.returncode == 0, result.stderr
        sock = associate(receiver.port, CT_IMAGE)      # a failed store publishes nothing
        assert store(sock, CT_IMAGE, "1.2.3.4", b"") == 0xC000
        release(sock)

        received = []
        deadline = time.monotonic() + 15
        while len(received) < len(files) and time.monotonic() < deadline:
            if subscriber.poll(100):
                received.append(json.loads(subscriber.recv()))
        wait_until(lambda: metric(scrape(metrics_port), "cstore_latency_seconds_count") == 8, 15, 0.1,
                   "every C-STORE to be counted")
        samples = scrape(metrics_port)
        assert metric(samples, "events_published_total") == len(received) == len(files)
        assert not subscriber.poll(200), "an event beyond the stored instances"
    finally:
        subscriber.close()
        context.term()

    sent = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in files}
    assert sorted(event["sop_instance_uid"] for event in received) == sorted(sent)
    for event in received:
        source = pydicom.dcmread(sent[event["sop_instance_uid"]], stop_before_pixels=True)
        path = Path(event["path"])
        assert path.is_absolute() and path.parent == receiver.output.resolve()
        assert path.stat().st_size == event["bytes"]
        assert dataset_bytes(path.read_bytes()) == dataset_bytes(sent[event["sop_instance_uid"]].read_bytes())
        assert event["event"] == "stored" and event["sop_class_uid"] == CT_IMAGE
        assert event["study_instance_uid"] == source.StudyInstanceUID
        assert event["series_instance_uid"] == source.SeriesInstanceUID
        assert event["calling_ae_title"] == "STORESCU" and event["peer"] == "127.0.0.1"
        assert event["transfer_syntax"] == pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        assert abs(event["timestamp"] - time.time()) < 120 and event["time"].endswith("+00:00")


def test_a_subscriber_that_does_not_read_neither_blocks_the_publisher_nor_starves_others():
    publisher = EventPublisher("tcp://127.0.0.1:0", queue_limit=50)
    publisher.socket.setsockopt(zmq.SNDBUF, 8192)       # small kernel buffers: the stalled queue fills soon
    context = zmq.Context()
    stalled = context.socket(zmq.SUB)                  # connected, subscribed, never reads
    stalled.setsockopt(zmq.RCVHWM, 10)
    stalled.setsockopt(zmq.RCVBUF, 4096)
    reader = context.socket(zmq.SUB)
    reader.setsockopt(zmq.RCVHWM, 1_000_000)
    for sock in (stalled, reader):
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(publisher.bound)
        sock.subscribe(b"")
    try:
        wait_until(lambda: publisher.poll_subscriptions() or publisher.subscriptions == 2, 10, 0.02,
                   "the subscriptions")
        outcomes, received, elapsed = [], [], 0.0
        for n in range(5000):
            started = time.monotonic()
            outcomes.append(publisher.publish_stored({"status": 0, "path": f"/x/{n}", "time": time.time(),
                                                      "sop_instance_uid": "1.2" + ".9" * 1000}))
            elapsed += time.monotonic() - started
            while reader.poll(0):
                received.append(json.loads(reader.recv())["path"])
            if n % 10 == 0:
                time.sleep(0.001)                       # the pace of a busy node, not a flood
        while reader.poll(500):
            received.append(json.loads(reader.recv())["path"])
        first_drop = outcomes.index(DROP_SLOW_SUBSCRIBER)
        assert publisher.published == 5000 and publisher.dropped[DROP_SLOW_SUBSCRIBER] >= 1
        assert elapsed < 5, f"{elapsed:.1f} s spent in 5000 publishes"
        # The reader goes on receiving long after the stalled queue filled up.
        assert first_drop < 4000 and "/x/4999" in received and len(received) > 4900, (first_drop, len(received))
    finally:
        stalled.close()
        reader.close()
        context.term()
        publisher.close()


@pytest.mark.parametrize("flag,value,message", [
    ("--metrics-port", "taken", "cannot serve metrics on port"),
    ("--events", "nonsense://x", "cannot publish events on nonsense://x"),
])
def test_an_unusable_metrics_port_or_events_endpoint_stops_start_up(tmp_path, flag, value, message):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        value = str(taken.getsockname()[1]) if value == "taken" else value
        result = subprocess.run([str(BIN / "dcmrecv-cluster"), "--bind", "127.0.0.1", "-od", str(tmp_path),
                                 flag, value, str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 64 and message in result.stderr + result.stdout


@pytest.mark.parametrize("mode", ["normal", "bit-preserving", "ignore"])
def test_study_and_series_uids_reach_the_store_record(tmp_path, mode):
    source = make_instance(tmp_path / "in.dcm")
    dataset = dataset_bytes(source.read_bytes())
    sent = pydicom.dcmread(source, stop_before_pixels=True)
    out = tmp_path / "out"
    out.mkdir()
    settings = StorageSettings(str(out), "none", "default", "", mode, fsync=False)
    command = Command(C_STORE_RQ, 1, True, sent.SOPClassUID, sent.SOPInstanceUID)
    writer = InstanceWriter(settings, command, "1.2.840.10008.1.2.1", "SCU", Namer(lambda: "2.25.1", lambda n: []),
                            lambda level, text: None)
    for offset in range(0, len(dataset), 100):
        writer.write(dataset[offset:offset + 100])
    outcome = writer.finish()
    assert outcome.status == 0
    assert writer.event_facts() == {"study_instance_uid": sent.StudyInstanceUID,
                                     "series_instance_uid": sent.SeriesInstanceUID}
    if mode != "ignore":
        assert dataset_bytes(Path(outcome.path).read_bytes()) == dataset


def test_scanner_facts_are_ready_where_they_were_and_uids_later(tmp_path):
    source = make_instance(tmp_path / "in.dcm")
    dataset = dataset_bytes(source.read_bytes())
    sent = pydicom.dcmread(source, stop_before_pixels=True)
    scanner = part10.DatasetScanner("1.2.840.10008.1.2.1")
    facts_at = uids_at = None
    for offset in range(0, len(dataset), 2):
        scanner.feed(dataset[offset:offset + 2])
        if scanner.facts_ready and facts_at is None:
            facts_at = offset
            assert scanner.facts().sop_instance_uid == sent.SOPInstanceUID
        if scanner.uids_ready and uids_at is None:
            uids_at = offset
    scanner.close()
    assert facts_at < uids_at < len(dataset) - 1000   # naming does not wait for group 0020; pixels not needed
    facts = scanner.facts()
    assert (facts.study_instance_uid, facts.series_instance_uid) == (sent.StudyInstanceUID, sent.SeriesInstanceUID)
