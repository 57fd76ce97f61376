"""`-lc FILE`: the appenders, layouts and logger levels of a log4cplus file, as dcmrecv applies them.

Only the supervisor writes (workers send records over ZeroMQ), so a log file has one writer and
rotation needs no locking between processes.  What is covered is what DCMTK's own files and
documentation use: root and per-logger levels with additivity, Console/File/RollingFile/Null/
SysLog appenders with Threshold, SimpleLayout and PatternLayout (`%D{...}` with `%q`/`%Q`, `%d`,
`%p`, `%P`, `%m`, `%n`, `%c{n}`, `%i`, `%h`, `%H`, `%r`, `%t`, `%x`, `%X{...}`, `%%`, with
`-min.max` modifiers) and level-range/match and deny-all filters.  Our records carry the
association id, shown by `%x` (log4cplus's diagnostic context) and `%X{association}`.
"""

from __future__ import annotations

import datetime
import os
import socket
import sys
import time
from dataclasses import dataclass, field

from dcmrecv_cluster.shared import log4cplus
from dcmrecv_cluster.shared.log4cplus import C_SPACE

APPNAME = "dcmrecv-cluster"
LETTERS = "TDIWEF"                                   # log4cplus order, least severe first
LEVEL_TEXT = {"T": "TRACE", "D": "DEBUG", "I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL"}
RANK_OF_NAME = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4, "fatal": 5, "off": 6}
NAME_OF_RANK = {rank: name for name, rank in RANK_OF_NAME.items()}
MIN_ROLLING_SIZE = 200 * 1024                        # log4cplus's floor for MaxFileSize
DEFAULT_DATE = "%Y-%m-%d %H:%M:%S"
START = time.time()


@dataclass
class Record:
    """One line to log: level letter, message, logger name, time, process and association."""

    letter: str
    text: str
    logger: str = log4cplus.APP_LOGGER
    when: float = 0.0
    pid: int = 0
    association: str = ""

    @property
    def rank(self) -> int:
        return LETTERS.index(self.letter)


def _rank(text: str, default: int = 0) -> int:
    name = log4cplus.LEVEL_NAMES.get(text.strip(C_SPACE).upper())
    return RANK_OF_NAME[name] if name else default


# ---- layouts ---------------------------------------------------------------------------------

def _strftime(fmt: str, when: float, utc: bool) -> str:
    """strftime plus log4cplus's %q (milliseconds) and %Q (fractional milliseconds)."""
    moment = datetime.datetime.fromtimestamp(when, datetime.timezone.utc if utc else None)
    micros = moment.microsecond
    fmt = fmt.replace("%q", f"{micros // 1000:03d}").replace("%Q", f"{micros // 1000:03d}.{micros % 1000:03d}")
    return moment.strftime(fmt)


def _logger_tail(name: str, option: str) -> str:
    try:
        keep = int(option)
    except ValueError:
        return name
    return ".".join(name.split(".")[-keep:]) if keep > 0 else name


_HOST = socket.gethostname()


def _converter(char: str, option: str):
    if char == "m":
        return lambda r: r.text
    if char == "n":
        return lambda r: "\n"
    if char == "p":
        return lambda r: LEVEL_TEXT[r.letter]
    if char == "P":
        return lambda r: r.letter
    if char == "c":
        return lambda r: _logger_tail(r.logger, option)
    if char in "dD":
        fmt, utc = option or DEFAULT_DATE, char == "d"
        return lambda r: _strftime(fmt, r.when, utc)
    if char == "i":
        return lambda r: str(r.pid)
    if char == "h":
        return lambda r: _HOST.split(".")[0]
    if char == "H":
        return lambda r: socket.getfqdn()
    if char == "r":
        return lambda r: str(int((r.when - START) * 1000))
    if char == "t":
        return lambda r: str(r.pid)
    if char == "x":
        return lambda r: r.association
    if char == "X":
        return lambda r: r.association if option in ("association", "") else ""
    return lambda r: ""      # %F %L %l %M %b: source locations we do not have


def compile_pattern(pattern: str):
    """A PatternLayout's conversion pattern -> a function from Record to text."""
    parts: list = []
    i, n = 0, len(pattern)
    literal = ""
    while i < n:
        c = pattern[i]
        if c != "%" or i + 1 >= n:
            literal += c
            i += 1
            continue
        if pattern[i + 1] == "%":
            literal += "%"
            i += 2
            continue
        j = i + 1
        left = pattern[j] == "-"
        j += left
        start = j
        while j < n and pattern[j].isdigit():
            j += 1
        minimum = int(pattern[start:j]) if j > start else 0
        maximum = 0
        if j < n and pattern[j] == ".":
            j += 1
            start = j
            while j < n and pattern[j].isdigit():
                j += 1
            maximum = int(pattern[start:j]) if j > start else 0
        if j >= n:
            literal += pattern[i:]
            break
        char = pattern[j]
        j += 1
        option = ""
        if j < n and pattern[j] == "{":
            close = pattern.find("}", j)
            if close > 0:
                option, j = pattern[j + 1:close], close + 1
        if literal:
            parts.append(literal)
            literal = ""
        parts.append((_converter(char, option), left, minimum, maximum))
        i = j
    if literal:
        parts.append(literal)

    def render(record: Record) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            convert, left, minimum, maximum = part
            text = convert(record)
            if maximum and len(text) > maximum:
                text = text[len(text) - maximum:]        # log4cplus keeps the end
            if len(text) < minimum:
                text = text.ljust(minimum) if left else text.rjust(minimum)
            out.append(text)
        return "".join(out)
    return render


def _layout(props: dict[str, str], prefix: str):
    kind = props.get(prefix + ".layout", "log4cplus::SimpleLayout")
    if kind.endswith("PatternLayout"):
        return compile_pattern(props.get(prefix + ".layout.ConversionPattern", "%m%n"))
    if kind.endswith("TTCCLayout"):
        return compile_pattern("%r [%t] %p %c %x - %m%n")
    return compile_pattern("%p - %m%n")


# ---- filters and appenders ---------------------------------------------------------------------

def _filters(props: dict[str, str], prefix: str):
    """log4cplus filter chain: each says accept, deny or neutral; neutral at the end accepts."""
    chain = []
    keys = sorted({k[len(prefix) + 9:].split(".")[0] for k in props if k.startswith(prefix + ".filters.")},
                  key=lambda s: (len(s), s))
    for key in keys:
        base = f"{prefix}.filters.{key}"
        kind = props.get(base, "")
        accept = props.get(base + ".acceptOnMatch", "true").lower() != "false"
        if kind.endswith("DenyAllFilter"):
            chain.append(lambda rank: False)
        elif kind.endswith("LogLevelRangeFilter"):
            low = _rank(props.get(base + ".logLevelMin", "ALL"))
            high = _rank(props.get(base + ".logLevelMax", "FATAL"), 5)
            chain.append(lambda rank, low=low, high=high, accept=accept:
                         (True if accept else None) if low <= rank <= high else False)
        elif kind.endswith("LogLevelMatchFilter"):
            match = _rank(props.get(base + ".logLevelToMatch", ""), -1)
            chain.append(lambda rank, match=match, accept=accept: (accept if rank == match else None))
    return chain


class Appender:
    """Threshold, filters, layout; subclasses write the text."""

    def __init__(self, name: str, props: dict[str, str], prefix: str) -> None:
        self.name = name
        self.threshold = _rank(props.get(prefix + ".Threshold", "ALL"))
        self.filters = _filters(props, prefix)
        self.layout = _layout(props, prefix)

    def accepts(self, rank: int) -> bool:
        if rank < self.threshold:
            return False
        for decide in self.filters:
            verdict = decide(rank)
            if verdict is not None:
                return verdict
        return True

    def append(self, record: Record) -> None:
        self.write(self.layout(record), record)

    def write(self, text: str, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ConsoleAppender(Appender):
    def __init__(self, name, props, prefix, stderr=None, stdout=None) -> None:
        super().__init__(name, props, prefix)
        to_stderr = props.get(prefix + ".logToStderr", "false").lower() == "true"
        self.stream = (stderr or sys.stderr) if to_stderr else (stdout or sys.stdout)

    def write(self, text: str, record: Record) -> None:
        self.stream.write(text)
        self.stream.flush()


def _size(text: str) -> int:
    """MaxFileSize: bytes, or a number with KB/MB/GB (log4cplus's suffixes)."""
    text = text.strip(C_SPACE).upper()
    scale = 1
    for suffix, factor in (("KB", 1024), ("MB", 1024 ** 2), ("GB", 1024 ** 3)):
        if text.endswith(suffix):
            text, scale = text[:-2].strip(), factor
            break
    try:
        return int(text) * scale
    except ValueError:
        return 10 * 1024 ** 2


class FileAppender(Appender):
    def __init__(self, name, props, prefix, errors) -> None:
        super().__init__(name, props, prefix)
        self.path = props.get(prefix + ".File", "")
        self.append_mode = props.get(prefix + ".Append", "false").lower() == "true"
        self.errors = errors
        self.file = None
        self._open("a" if self.append_mode else "w")

    def _open(self, mode: str) -> None:
        try:
            self.file = open(self.path, mode, encoding="utf-8", errors="replace")
        except OSError as exc:
            self.file = None
            self.errors.write(f"log4cplus:ERROR Unable to open file: {self.path}: {exc.strerror}\n")

    def write(self, text: str, record: Record) -> None:
        if self.file is not None:
            self.file.write(text)
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class RollingFileAppender(FileAppender):
    """Rolls to FILE.1 .. FILE.<MaxBackupIndex> once FILE would exceed MaxFileSize."""

    def __init__(self, name, props, prefix, errors) -> None:
        super().__init__(name, props, prefix, errors)
        self.max_size = max(MIN_ROLLING_SIZE, _size(props.get(prefix + ".MaxFileSize", "10MB")))
        try:
            self.backups = max(1, int(props.get(prefix + ".MaxBackupIndex", "1")))
        except ValueError:
            self.backups = 1

    def write(self, text: str, record: Record) -> None:
        if self.file is not None and self.file.tell() + len(text) > self.max_size and self.file.tell() > 0:
            self._roll()
        super().write(text, record)

    def _roll(self) -> None:
        self.file.close()
        for k in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{k}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{k + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._open("w")


class NullAppender(Appender):
    def write(self, text: str, record: Record) -> None:
        pass


class SysLogAppender(Appender):
    """The local syslog (ident from `ident`, facility from `facility`, default USER)."""

    PRIORITY = {"T": 7, "D": 7, "I": 6, "W": 4, "E": 3, "F": 2}

    def __init__(self, name, props, prefix) -> None:
        super().__init__(name, props, prefix)
        import syslog

        self.syslog = syslog
        facility = getattr(syslog, "LOG_" + props.get(prefix + ".facility", "USER").upper(), syslog.LOG_USER)
        syslog.openlog(props.get(prefix + ".ident", APPNAME), syslog.LOG_PID, facility)

    def write(self, text: str, record: Record) -> None:
        self.syslog.syslog(self.PRIORITY[record.letter], text.rstrip("\n"))


def _appender(name: str, props: dict[str, str], errors, stderr, stdout) -> Appender | None:
    prefix = "log4cplus.appender." + name
    kind = props.get(prefix, "")
    if kind.endswith("::ConsoleAppender"):
        return ConsoleAppender(name, props, prefix, stderr, stdout)
    if kind.endswith("RollingFileAppender"):
        if "Daily" in kind:
            errors.write(f"W: log appender {name}: {kind} rotates by size here (MaxFileSize)\n")
        return RollingFileAppender(name, props, prefix, errors)
    if kind.endswith("::FileAppender"):
        return FileAppender(name, props, prefix, errors)
    if kind.endswith("::NullAppender"):
        return NullAppender(name, props, prefix)
    if kind.endswith("SysLogAppender"):
        return SysLogAppender(name, props, prefix)
    errors.write(f"log4cplus:ERROR Cannot find appender: {name} ({kind or 'undefined'})\n")
    return None


# ---- the logger tree ---------------------------------------------------------------------------

@dataclass
class LogConfig:
    """Which appenders a record of a logger reaches, and from which level."""

    props: dict[str, str]
    appenders: dict[str, Appender] = field(default_factory=dict)
    _routes: dict[str, tuple[int, list[Appender]]] = field(default_factory=dict)

    def route(self, logger: str) -> tuple[int, list[Appender]]:
        """(level rank, appenders) for `logger`: its own appenders and its ancestors' up to the
        first one whose additivity is false."""
        cached = self._routes.get(logger)
        if cached is not None:
            return cached
        level = RANK_OF_NAME[log4cplus.configured_level(self.props, logger)]
        reached: list[Appender] = []
        parts = logger.split(".") if logger else []
        for n in range(len(parts), -1, -1):
            name = ".".join(parts[:n])
            key = "log4cplus.rootLogger" if n == 0 else "log4cplus.logger." + name
            for appender in self.props.get(key, "").split(",")[1:]:
                found = self.appenders.get(appender.strip(C_SPACE))
                if found is not None and found not in reached:
                    reached.append(found)
            if n and self.props.get("log4cplus.additivity." + name, "true").strip().lower() == "false":
                break
        self._routes[logger] = (level, reached)
        return level, reached

    def wanted_level(self, logger: str) -> str:
        """The least severe level of `logger` that some appender would write: what workers send."""
        level, reached = self.route(logger)
        if not reached:
            return "off"
        return NAME_OF_RANK[max(level, min(a.threshold for a in reached))]

    def write(self, record: Record, force: bool = False) -> None:
        level, reached = self.route(record.logger)
        if record.rank < level and not force:
            return
        for appender in reached:
            if appender.accepts(record.rank):
                appender.append(record)

    def close(self) -> None:
        for appender in self.appenders.values():
            appender.close()


def load(path: str, errors=None, stderr=None, stdout=None) -> LogConfig:
    """Read FILE (already checked by the command line) and open its appenders."""
    errors = errors or sys.stderr
    raw = log4cplus.read_properties(path)
    variables = log4cplus.predefined(APPNAME)
    props = {key: log4cplus.expand(value, raw, variables) for key, value in raw.items()}
    config = LogConfig(props)
    names: list[str] = []
    for key, value in props.items():
        if key == "log4cplus.rootLogger" or key.startswith("log4cplus.logger."):
            names += [n.strip(C_SPACE) for n in value.split(",")[1:] if n.strip(C_SPACE)]
    for name in dict.fromkeys(names):
        appender = _appender(name, props, errors, stderr, stdout)
        if appender is not None:
            config.appenders[name] = appender
    return config
