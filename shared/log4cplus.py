"""log4cplus property files as DCMTK's oflog reads them (`-lc FILE`, e.g. /etc/dcmtk/logger.cfg).

Shared because the command line checks a file's shape (dcmrecv's error texts) while the supervisor
builds its appenders from the same properties: one reader, so both see the same keys.
"""

from __future__ import annotations

import datetime
import os
import re
import socket

C_SPACE = " \t\n\v\f\r"
# log4cplus level names -> our --log-level names ("ALL" is TRACE, as in log4cplus).
LEVEL_NAMES = {"ALL": "trace", "TRACE": "trace", "DEBUG": "debug", "INFO": "info",
               "WARN": "warn", "ERROR": "error", "FATAL": "fatal", "OFF": "off"}
APP_LOGGER = "dcmtk.apps.dcmrecv"     # what dcmrecv itself logs to (start-up, +v checks)
NET_LOGGER = "dcmtk.dcmnet"           # what DcmSCP logs to: every line of an association

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def read_properties(path: str) -> dict[str, str]:
    """log4cplus::helpers::Properties: `key = value` lines, `#` comments; values unexpanded."""
    props: dict[str, str] = {}
    try:
        with open(path, "rb") as f:
            text = os.fsdecode(f.read())
    except OSError:
        return props
    for raw in text.split("\n"):
        line = raw.lstrip(C_SPACE)
        if not line or line[0] == "#":
            continue
        line = line.removesuffix("\r")
        key, eq, value = line.partition("=")
        if eq:
            props[key.rstrip(C_SPACE)] = value.strip(C_SPACE)
    return props


def predefined(appname: str) -> dict[str, str]:
    """The variables oflog defines before reading a file (see the head of DCMTK's logger.cfg)."""
    now = datetime.datetime.now()
    return {"appname": appname, "date": now.strftime("%Y-%m-%d"), "time": now.strftime("%H:%M:%S"),
            "pid": str(os.getpid()), "hostname": socket.gethostname()}


def expand(value: str, props: dict[str, str], variables: dict[str, str], depth: int = 0) -> str:
    """`${name}`: another property, else an oflog variable, else the environment, else empty."""
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name in props and depth < 8:
            return expand(props[name], props, variables, depth + 1)
        if name in variables:
            return variables[name]
        return os.environ.get(name, "")
    return _VARIABLE.sub(one, value)


def configured_level(props: dict[str, str], logger: str) -> str:
    """Effective level of `logger` (INHERIT or no entry: the parent's; root default: DEBUG)."""
    parts = logger.split(".") if logger else []
    for n in range(len(parts), -1, -1):
        key = "log4cplus.rootLogger" if n == 0 else "log4cplus.logger." + ".".join(parts[:n])
        token = props.get(key, "").split(",")[0].strip(C_SPACE).upper()
        if token in LEVEL_NAMES:
            return LEVEL_NAMES[token]
    return "debug"
