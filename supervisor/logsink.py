"""The one log an operator reads: records from every worker, rendered as dcmrecv prints them."""

from __future__ import annotations

import sys

from dcmrecv_cluster.shared import logwire


class LogSink:
    def __init__(self, level: str, stream=None) -> None:
        self.level = level
        self.stream = stream or sys.stderr

    def enabled(self, letter: str) -> bool:
        return logwire.enabled(letter, self.level)

    def emit(self, letter: str, text: str, force: bool = False) -> None:
        if force or self.enabled(letter):
            self.stream.write(logwire.render(letter, text))
            self.stream.flush()

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
