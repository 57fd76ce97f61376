"""The one log an operator reads: records from every worker, rendered as dcmrecv prints them.

Without `-lc` that is dcmrecv's console (``I: text`` on stderr at the command line's level; with
`--association-ids` an association's lines start with its id).  With `-lc FILE` the records go
through the file's loggers and appenders (supervisor/logconfig.py).  Hook threads log too, hence
the lock.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from dcmrecv_cluster.shared import logwire
from dcmrecv_cluster.shared.log4cplus import APP_LOGGER, NET_LOGGER


class LogSink:
    def __init__(self, level: str, stream=None, config=None, association_ids: bool = False) -> None:
        self.level = level
        self.stream = stream or sys.stderr
        self.config = config              # logconfig.LogConfig with -lc, else None
        self.association_ids = association_ids
        self.pid = os.getpid()
        self._lock = threading.Lock()

    @classmethod
    def for_options(cls, options) -> LogSink:
        if options.log_config:
            from dcmrecv_cluster.supervisor import logconfig

            return cls(options.log_level, config=logconfig.load(options.log_config))
        return cls(options.log_level, association_ids=getattr(options, "association_ids", False))

    def enabled(self, letter: str) -> bool:
        if self.config is not None:
            return logwire.enabled(letter, self.config.wanted_level(APP_LOGGER))
        return logwire.enabled(letter, self.level)

    def worker_level(self) -> str:
        """The least severe level a worker's records must have to be written somewhere."""
        if self.config is not None:
            return self.config.wanted_level(NET_LOGGER)
        return self.level

    def emit(self, letter: str, text: str, force: bool = False) -> None:
        """A supervisor record (dcmrecv's own logger)."""
        self.record(letter, text, force=force)

    def record(self, letter: str, text: str, logger: str = APP_LOGGER, when: float | None = None,
               pid: int | None = None, association: str = "", force: bool = False) -> None:
        if self.config is not None:
            from dcmrecv_cluster.supervisor.logconfig import Record

            when = time.time() if when is None else when
            with self._lock:
                for line in text.split("\n"):   # oflog writes a multi-line message line by line
                    self.config.write(Record(letter, line, logger, when, pid or self.pid, association), force)
            return
        if force or logwire.enabled(letter, self.level):
            if association and self.association_ids:
                text = "\n".join(f"[{association}] {line}" for line in text.split("\n"))
            with self._lock:
                self.stream.write(logwire.render(letter, text))
                self.stream.flush()

    def close(self) -> None:
        if self.config is not None:
            self.config.close()

    def fatal(self, text: str) -> None:
        self.emit("F", text)

    def error(self, text: str) -> None:
        self.emit("E", text)

    def warn(self, text: str) -> None:
        self.emit("W", text)

    def info(self, text: str) -> None:
        self.emit("I", text)

    def debug(self, text: str) -> None:
        self.emit("D", text)
