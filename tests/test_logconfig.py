"""`-lc FILE` against /usr/bin/dcmrecv -lc, and association ids on every line of an association.

The real service and the real dcmrecv run with DCMTK's own /etc/dcmtk/logger.cfg; lines are compared
by shape (timestamps by pattern) and by the association lines both print for the same C-ECHO.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import pytest

from dcmrecv_cluster.supervisor import logconfig
from dcmrecv_cluster.supervisor.logconfig import Record

from .support.instances import make_series
from .support.service import echo, storescu, wait_until
from .support.tools import DCMRECV

LOGGER_CFG = "/etc/dcmtk/logger.cfg"
CONSOLE = re.compile(r"^\d\d:\d\d:\d\d (TRACE|DEBUG| INFO| WARN|ERROR|FATAL): ")
LOGFILE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG| INFO| WARN|ERROR|FATAL): ")
SAME_LINES = ("INFO: Association Received localhost: ECHOSCU -> ANY-SCP",
              "INFO: Association Acknowledged (Max Send PDV: 16372)",
              "INFO: Received Association Release Request")

needs_dcmtk = pytest.mark.skipif(not Path(DCMRECV).exists() or not Path(LOGGER_CFG).exists(),
                                 reason="DCMTK with /etc/dcmtk/logger.cfg not installed")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def _stop_when_logged(receiver, path: Path, needle: str) -> None:
    wait_until(lambda: path.exists() and needle in path.read_text(), 30, what=f"{needle!r} in {path}")
    receiver.stop()


@needs_dcmtk
def test_logger_cfg_same_shape_as_dcmrecv(receiver_factory, tmp_path):
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref_dir.mkdir()
    ref = receiver_factory("-lc", LOGGER_CFG, output=ref_dir, command=[DCMRECV])
    ours = receiver_factory("-lc", LOGGER_CFG, "--workers", "1", output=our_dir)
    # The receivers run in tmp_path: ${appname}.log is dcmrecv.log there and dcmrecv-cluster.log here.
    ref_file, our_file = tmp_path / "dcmrecv.log", tmp_path / "dcmrecv-cluster.log"
    _stop_when_logged(ref, ref_file, "Received Association Release Request")
    _stop_when_logged(ours, our_file, "Received Association Release Request")
    for console, file in ((ref.log, ref_file.read_text()), (ours.log, our_file.read_text())):
        console_lines = [line for line in _lines(console) if CONSOLE.match(line)]
        assert console_lines, console
        assert not [line for line in console_lines if "DEBUG" in line[:15]], console   # Threshold = INFO
        assert [line[10:] for line in console_lines if line[10:] in SAME_LINES] == list(SAME_LINES), console
        file_lines = _lines(file)
        assert all(LOGFILE.match(line) for line in file_lines), file
        assert any(" DEBUG: " in line for line in file_lines)                         # root level DEBUG
        assert [line[25:] for line in file_lines if line[25:] in SAME_LINES] == list(SAME_LINES), file
    assert any(line[10:] == "INFO: configuring service class provider ..." for line in _lines(ours.log))


@needs_dcmtk
def test_per_logger_levels_rolling_file_and_association_pattern(receiver_factory, tmp_path):
    config = tmp_path / "cluster.cfg"
    config.write_text(
        "log4cplus.rootLogger = INFO, console\n"
        "log4cplus.logger.dcmtk.dcmnet = DEBUG, roll\n"
        "log4cplus.additivity.dcmtk.dcmnet = false\n"
        "log4cplus.appender.console = log4cplus::ConsoleAppender\n"
        "log4cplus.appender.console.logToStderr = true\n"
        "log4cplus.appender.console.layout = log4cplus::PatternLayout\n"
        "log4cplus.appender.console.layout.ConversionPattern = %-8c{1}|%5p| %m%n\n"
        "log4cplus.appender.roll = log4cplus::RollingFileAppender\n"
        "log4cplus.appender.roll.File = ${appname}-net.log\n"
        "log4cplus.appender.roll.MaxFileSize = 200KB\n"
        "log4cplus.appender.roll.MaxBackupIndex = 2\n"
        "log4cplus.appender.roll.layout = log4cplus::PatternLayout\n"
        "log4cplus.appender.roll.layout.ConversionPattern = %D{%H:%M:%S.%q} [%i] %x %P: %m%n\n")
    receiver = receiver_factory("-lc", str(config), "--workers", "2", "--embedded-profile")
    series = [make_series(tmp_path / f"in{k}", 4) for k in range(2)]
    results = []
    senders = [threading.Thread(target=lambda f=f: results.append(storescu(receiver.port, f))) for f in series]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert [r.returncode for r in results] == [0, 0]
    net_log = tmp_path / "dcmrecv-cluster-net.log"
    wait_until(lambda: net_log.exists() and net_log.read_text().count("Received Association Release") == 3,
               30, what="three released associations in the net log")
    receiver.stop()
    console = _lines(receiver.log)
    assert "dcmrecv | INFO| configuring service class provider ..." in console
    assert not [line for line in console if line.startswith("dcmnet")]     # additivity false: file only
    line = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \[(\d+)\] (A\d+\.\d+) ([TDIWEF]): (.*)$")
    parsed = [line.match(text) for text in _lines(net_log.read_text())]
    assert all(parsed), net_log.read_text()
    stores = {}
    for match in parsed:
        if match.group(4).startswith("Received C-STORE Request"):
            stores.setdefault(match.group(2), []).append(match.group(1))
    assert sorted(len(v) for v in stores.values()) == [4, 4]          # two ids, four stores each
    assert {m.group(3) for m in parsed} >= {"I", "D"}


def test_association_ids_on_the_console(receiver_factory, tmp_path):
    receiver = receiver_factory("-v", "--association-ids", "--workers", "1", "--embedded-profile")
    assert storescu(receiver.port, make_series(tmp_path / "in", 2)).returncode == 0
    wait_until(lambda: receiver.log.count("Received Association Release Request") == 2, 30,
               what="two released associations")
    lines = [line for line in _lines(receiver.log) if "Received C-STORE Request" in line]
    assert len(lines) == 2 and all(re.match(r"^I: \[A\d+\.2\] Received C-STORE Request", x) for x in lines), lines
    assert "I: configuring service class provider ..." in _lines(receiver.log)


def test_plain_verbose_console_has_no_ids(receiver_factory):
    receiver = receiver_factory("-v", "--workers", "1")
    assert echo(receiver.port) == 0
    wait_until(lambda: receiver.log.count("Received Association Release Request") == 2, 30,
               what="two released associations")
    assert "I: Association Acknowledged (Max Send PDV: 16372)" in _lines(receiver.log)
    assert "[A" not in receiver.log


def test_pattern_layout_conversions(tmp_path):
    render = logconfig.compile_pattern("%D{%Y-%m-%d %H:%M:%S.%q} %5p|%-6P|%.3m|%c{2}|%c|%x|%X{association}|%i|%%%n")
    record = Record("I", "abcdef", "dcmtk.apps.dcmrecv", 1700000000.042, 77, "A1.2")
    expected_time = subprocess.run(["date", "-d", "@1700000000", "+%Y-%m-%d %H:%M:%S"], capture_output=True,
                                   text=True).stdout.strip()
    assert render(record) == f"{expected_time}.042  INFO|I     |def|apps.dcmrecv|dcmtk.apps.dcmrecv|A1.2|A1.2|77|%\n"


def test_rolling_file_keeps_max_backup_index_files(tmp_path):
    config = tmp_path / "roll.cfg"
    config.write_text("log4cplus.rootLogger = DEBUG, roll\n"
                      "log4cplus.appender.roll = log4cplus::RollingFileAppender\n"
                      f"log4cplus.appender.roll.File = {tmp_path}/r.log\n"
                      "log4cplus.appender.roll.MaxFileSize = 1KB\n"
                      "log4cplus.appender.roll.MaxBackupIndex = 2\n"
                      "log4cplus.appender.roll.Threshold = INFO\n"
                      "log4cplus.appender.roll.layout = log4cplus::PatternLayout\n"
                      "log4cplus.appender.roll.layout.ConversionPattern = %m%n\n")
    loaded = logconfig.load(str(config))
    assert loaded.wanted_level("dcmtk.dcmnet") == "info"
    for n in range(30_000):
        loaded.write(Record("I" if n % 2 else "D", f"line {n:05d} " + "x" * 40))
    loaded.close()
    names = sorted(p.name for p in tmp_path.glob("r.log*"))
    assert names == ["r.log", "r.log.1", "r.log.2"]
    sizes = [(tmp_path / n).stat().st_size for n in names]
    assert all(size <= logconfig.MIN_ROLLING_SIZE for size in sizes) and sizes[1] > 190 * 1024
    assert (tmp_path / "r.log").read_text().splitlines()[-1].startswith("line 29999 ")
    assert "line 00000" not in "".join((tmp_path / n).read_text() for n in names)
    assert "line 29998" not in (tmp_path / "r.log").read_text()           # DEBUG under the Threshold
