"""dcmrecv's command line (DCMTK OFCommandLine semantics), driven by settings.REGISTRY.

Why an emulation instead of argparse: dcmrecv's rules are unusual and scripts depend on them —
`+`/`-` options where `+5` is a parameter, options swallowing N values whatever they look like,
rightmost-wins option blocks whose intermediate members are still checked, checks in dcmrecv's
source order (which decides the one error reported), `@file` command files, exact error texts,
and "quiet mode" (-q) silencing later errors while still exiting 1.

Public API: parse_command_line(argv) -> Options, usage_text(), version_text(), error_text(),
arguments_message(), CommandLineExit.
"""

from __future__ import annotations

import os
import platform
import ssl
import sys
from dataclasses import fields as dataclass_fields
from importlib import metadata

from dcmrecv_cluster.shared import exitcodes
from dcmrecv_cluster.shared.log4cplus import APP_LOGGER, LEVEL_NAMES, configured_level, read_properties
from dcmrecv_cluster.shared.settings import (
    DESCRIPTION,
    EMULATES,
    EVALUATION_ORDER,
    IDENTIFICATION,
    PORT,
    PORT_HELP,
    PROGRAM_NAME,
    REGISTRY,
    SETTINGS,
    Group,
    Options,
    Ref,
    Setting,
)

__all__ = [
    "CommandLineExit",
    "Options",
    "arguments_message",
    "error_text",
    "parse_command_line",
    "usage_text",
    "version_text",
]

ULONG_MAX = 2**64 - 1
_C_SPACE = " \t\n\v\f\r"
_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal", "off")  # log4cplus order
_LEVEL_NAMES = LEVEL_NAMES


class CommandLineExit(Exception):
    """The program must end now: help/version/no arguments (code 0) or a syntax error (code 1).
    The caller writes `stdout` and `stderr` verbatim and exits with `code`."""

    def __init__(self, code: int, stdout: str = "", stderr: str = ""):
        super().__init__(code, stdout, stderr)
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


class _Fail(Exception):
    """A syntax error with dcmrecv's message text (without the `error: ` prefix)."""


# ---------------------------------------------------------------------------------------------
# texts

def _title() -> str:
    return f"{IDENTIFICATION}\n\n{PROGRAM_NAME}: {DESCRIPTION}\n"


def error_text(message: str) -> str:
    """stderr of a syntax error, laid out like OFConsoleApplication::printError."""
    return f"{_title()}error: {message}\n"


def _options_help() -> str:
    """The option list, laid out like OFCommandLine::getOptionString (per-group column widths)."""
    out: list[str] = []
    short_size, long_size, indent = 4, 21, 0
    for k, entry in enumerate(REGISTRY):
        if isinstance(entry, Group):
            short_size, long_size = entry.short_col, entry.long_col
            for follower in REGISTRY[k + 1:]:
                if isinstance(follower, Group):
                    break
                short_size = max(short_size, len(follower.short))
                long_size = max(long_size, len(follower.long))
            indent = 4 if entry.sub else 2
            out.append(("  " if entry.sub else "") + entry.title + "\n")
            continue
        line = " " * indent + entry.short.ljust(short_size) + "  " + entry.long.ljust(long_size) + "  "
        if entry.value_help:
            line += entry.value_help + "\n" + " " * (indent + short_size + long_size + 4)
        line += entry.help.replace("\n", "\n" + " " * (indent + short_size + long_size + 4))
        out.append(line + "\n")
    return "".join(out)


def usage_text() -> str:
    """What `--help` (and no arguments at all) prints on stdout."""
    params = "parameters:\n  " + PORT.ljust(29) + "  " + PORT_HELP + "\n"
    return (f"{_title()}usage: {PROGRAM_NAME} [options] {PORT}\n"
            f"\n{params}\n{_options_help()}\n")


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def version_text() -> str:
    """What `--version` prints on stdout: our identity plus the libraries doing the work."""
    try:
        import zmq  # only here: --version is the one place that needs libzmq's version
        zmq_line = f"- pyzmq {zmq.__version__} (libzmq {zmq.zmq_version()})"
    except ImportError:  # pragma: no cover
        zmq_line = "- pyzmq (not installed)"
    return (f"{_title()}\n"
            f"Host type: {platform.system()}-{platform.machine()}\n"
            f"Python: {platform.python_version()}\n"
            f"Emulates: {EMULATES}\n"
            f"\nExternal libraries used:\n"
            f"- pynetdicom {_dist_version('pynetdicom')}\n"
            f"- pydicom {_dist_version('pydicom')}\n"
            f"{zmq_line}\n"
            f"- {ssl.OPENSSL_VERSION}\n")


def arguments_message(expanded: tuple[str, ...] | list[str]) -> str:
    """The `--arguments` message, logged at forced INFO, one `I: ` line per text line.
    Like DCMTK, empty arguments are counted but not shown; the message ends with a newline."""
    shown = "".join(f"'{a}' " for a in expanded if a)
    return f"calling '{PROGRAM_NAME}' with {len(expanded)} arguments: {shown}\n"


def _as_log_lines(message: str, prefix: str = "I: ") -> str:
    return "".join(prefix + line + "\n" for line in message.split("\n"))


# ---------------------------------------------------------------------------------------------
# stage 1: command files

def _split_command_file(text: str) -> list[str]:
    """Tokens of an @file, by OFCommandLine::parseCommandFile's rules: blanks separate, '…' and
    "…" quote (the other quote is literal inside), a closing quote ends the token (so `""` is an
    empty argument and `a"b c"d` gives `ab c` and `d`)."""
    tokens: list[str] = []
    value, block = "", ""
    for c in text:
        if c in "\"'":
            if block == c:
                tokens.append(value)
                value, block = "", ""
            elif not block:
                block = c
            else:
                value += c
        elif c in " \t\n\r" and not block:
            if value:
                tokens.append(value)
                value = ""
        else:
            value += c
    if value:
        tokens.append(value)
    return tokens


def _expand_command_files(argv: list[str]) -> list[str]:
    expanded: list[str] = []
    for index, arg in enumerate(argv):
        if index and argv[index - 1] == "--calling-aets":
            expanded.append(arg)    # ours: `--calling-aets @FILE` names a list of titles, not a command file
        elif len(arg) > 1 and arg[0] == "@":
            name = arg[1:]
            try:
                with open(name, "rb") as f:
                    data = f.read()
            except IsADirectoryError:  # C++ ifstream opens a directory and reads nothing
                data = b""
            except OSError:
                raise _Fail(f"Cannot open command file '{name}'") from None
            expanded.extend(_split_command_file(os.fsdecode(data)))
        else:
            expanded.append(arg)
    return expanded


# ---------------------------------------------------------------------------------------------
# stage 2: the argument list (OFCommandLine::parseArgumentList)

_LOOKUP: dict[str, Setting] = {}
for _s in SETTINGS.values():
    _LOOKUP[_s.long] = _s
    if _s.short:
        _LOOKUP[_s.short] = _s


def _is_option(arg: str) -> bool:
    return len(arg) >= 2 and arg[0] in "+-" and not ("0" <= arg[1] <= "9")


class _Line:
    """The parsed argument list: options converted to long form, followed by their values."""

    def __init__(self, argv: list[str]):
        self.args: list[str] = []
        self.options: list[int] = []  # indices into args of the options
        self.params: list[int] = []   # indices into args of the parameters
        self.exclusive = False
        self._block_active = False
        self._block_k: int | None = None
        i = 0
        while i < len(argv):
            arg = argv[i]
            if not _is_option(arg):
                self.params.append(len(self.args))
                self.args.append(arg)
            else:
                setting = _LOOKUP.get(arg)
                if setting is None:
                    raise _Fail(f"Unknown option {arg}")
                self.options.append(len(self.args))
                self.args.append(setting.long)
                self.exclusive |= setting.exclusive
                count = len(setting.values)
                if count >= len(argv) - i:
                    raise _Fail(f"Missing value for option {setting.long}")
                self.args.extend(argv[i + 1:i + 1 + count])
                i += count
            i += 1

    def has(self, long: str) -> bool:
        return any(self.args[p] == long for p in self.options)

    def begin_block(self) -> None:
        self._block_active, self._block_k = True, None

    def end_block(self) -> None:
        self._block_active = False

    def find(self, long: str) -> int | None:
        """Rightmost occurrence; inside a block, only right of the block's last hit (findOption)."""
        for k in range(len(self.options) - 1, -1, -1):
            if self._block_active and k == self._block_k:
                return None
            if self.args[self.options[k]] == long:
                self._block_k = k
                return self.options[k]
        return None

    def find_all(self, long: str) -> list[int]:
        return [p for p in self.options if self.args[p] == long]


# ---------------------------------------------------------------------------------------------
# stage 3: evaluation in dcmrecv's order

def _scan_ulong(text: str) -> int | None:
    """C `sscanf("%lu")` on glibc: blanks, optional sign, decimal digits, trailing junk ignored;
    a minus sign wraps modulo 2**64, too many digits saturate."""
    rest = text.lstrip(_C_SPACE)
    negative = rest[:1] == "-"
    if rest[:1] in "+-" and rest:
        rest = rest[1:]
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if digits == 0:
        return None
    number = int(rest[:digits])
    if number > ULONG_MAX:
        return ULONG_MAX
    return (-number) % 2**64 if negative else number


def _range_suffix(text: str, what: str) -> str:
    return f" ({what}: {text})" if text else ""


def _uint_value(setting: Setting, text: str) -> int:
    """OFCommandLine::getValueAndCheckMinMax for unsigned values, with its messages."""
    number = _scan_ulong(text)
    if number is None or text.lstrip(" ")[:1] == "-":
        raise _Fail(f"Invalid value for option {setting.long}" + (f" ({text})" if text else ""))
    if setting.minimum is not None and number < setting.minimum:
        raise _Fail(f"Invalid value for option {setting.long}" + _range_suffix(text, "underflow"))
    if setting.maximum is not None and number > setting.maximum:
        raise _Fail(f"Invalid value for option {setting.long}" + _range_suffix(text, "overflow"))
    return number & 0xFFFFFFFF if setting.wrap32 else number


def _port_value(text: str) -> int:
    """getParamAndCheckMinMax(1, port, 1, 65535): no minus check here, unlike option values."""
    number = _scan_ulong(text)
    if number is None:
        raise _Fail(f"Invalid parameter value {text}")
    if number < 1:
        raise _Fail(f"Invalid parameter value {text} (underflow)")
    if number > 65535:
        raise _Fail(f"Invalid parameter value {text} (overflow)")
    return number


def _enabled(level: str, wanted: str) -> bool:
    return _LEVELS.index(level) <= _LEVELS.index(wanted)


# condition name -> (test on the evaluation state, text dcmrecv prints)
REQUIREMENTS = {
    "tls": (lambda st: st["tls_enabled"], "--enable-tls"),
    "verbose": (lambda st: _enabled(st["_app_level"], "info"), "verbose mode"),
    "seed": (lambda st: st["tls_seed"] is not None, "--seed"),
}
CONFLICTS = {
    "level-set": (lambda st, line: st["_level_set"], "--verbose, --debug or --quiet"),
    "log-level-given": (lambda st, line: st["_log_level_given"], "--log-level"),
    "series-date": (lambda st, line: st["subdir_mode"] == "series-date", "--series-date-subdir"),
    "crl-vfy": (lambda st, line: line.has("--enable-crl-vfy"), "--enable-crl-vfy"),
    "profile-ex": (lambda st, line: st["tls_profile"] == "bcp195-ex", "--profile-bcp195-ex"),
}


def _handle_log_level(state: dict, value: str) -> None:
    level = _LEVEL_NAMES.get(value.upper())
    if level is None:
        raise _Fail("Invalid log level for --log-level option")
    state["log_level"] = state["_app_level"] = level
    state["_log_level_given"] = True


def _handle_log_config(state: dict, path: str) -> None:
    if not (os.path.exists(path) and not os.path.isdir(path)):
        raise _Fail("Specified --log-config file does not exist")
    if not os.access(path, os.R_OK):
        raise _Fail("Specified --log-config file cannot be read")
    props = read_properties(path)
    if not props:
        raise _Fail("Specified --log-config file does not contain any settings")
    if not any(key.startswith("log4cplus.") for key in props):
        raise _Fail("Specified --log-config file does not contain any valid settings")
    if "log4cplus.rootLogger" not in props:
        raise _Fail("Specified --log-config file does not set up log4cplus.rootLogger")
    state["log_config"] = path
    state["log_level"] = configured_level(props, "")
    state["_app_level"] = configured_level(props, APP_LOGGER)


def _evaluate(setting: Setting, line: _Line, state: dict) -> None:
    """Check and apply one option, if present, the way dcmrecv does at this point."""
    if setting.repeat:
        positions = line.find_all(setting.long)
    else:
        found = line.find(setting.long)
        positions = [] if found is None else [found]
    if not positions:
        return
    for cond in setting.requires:
        test, text = REQUIREMENTS[cond]
        if not test(state):
            raise _Fail(f"{setting.message_name} only allowed with {text}")
    for cond in setting.conflicts:
        test, text = CONFLICTS[cond]
        if test(state, line):
            raise _Fail(f"{setting.message_name} not allowed with {text}")
    for name, value in setting.sets:
        state[name] = state[value.field] if isinstance(value, Ref) else value
    for pos in positions:
        fields = setting.fields or (None,) * len(setting.values)
        for n, (kind, name) in enumerate(zip(setting.values, fields, strict=False)):
            text = line.args[pos + 1 + n]
            value = _uint_value(setting, text) if kind == "uint" else text
            if setting.repeat:
                state[name] = state[name] + (value,)
            elif name:
                state[name] = value
    if setting.handler == "log-level":
        _handle_log_level(state, line.args[positions[0] + 1])
    elif setting.handler == "log-config":
        _handle_log_config(state, line.args[positions[0] + 1])
    elif setting.handler == "arguments":
        state["_prefix"] += _as_log_lines(arguments_message(line.args))


def _resolve(line: _Line, state: dict) -> None:
    """Walk EVALUATION_ORDER; consecutive members of one block are evaluated as a block."""
    current_block = None
    for name in EVALUATION_ORDER:
        setting = SETTINGS.get(name)
        block = setting.block if setting else None
        if block != current_block:
            if current_block:
                line.end_block()
            if block:
                line.begin_block()
            current_block = block
        if name == PORT:
            state["port"] = _port_value(line.args[line.params[0]])
        else:
            _evaluate(setting, line, state)
        if name == "--log-config":
            if state["log_config"] is None:
                state["_app_level"] = state["log_level"]
            # OFLog: a logger that does not even show errors puts the application in quiet mode
            state["_quiet"] = not _enabled(state["log_level"], "error")
    if current_block:
        line.end_block()


def _initial_state() -> dict:
    state = {f.name: f.default for f in dataclass_fields(Options) if f.name != "port"}
    state.update(port=0, _level_set=False, _log_level_given=False, _app_level="warn",
                 _quiet=False, _prefix="")
    return state


def _options_from(state: dict, line: _Line) -> Options:
    names = {f.name for f in dataclass_fields(Options)}
    values = {k: v for k, v in state.items() if k in names}
    values["expanded_arguments"] = tuple(line.args)
    return Options(**values)


def parse_command_line(argv: list[str]) -> Options:
    """Resolve `dcmrecv-cluster [options] port` (argv without the program name) like dcmrecv.

    Raises CommandLineExit for --help, --version, no arguments (code 0) and any error (code 1).
    `--list-ciphers` returns Options(list_ciphers=True, port=0) and the caller prints the list.
    """
    state = _initial_state()
    try:
        line = _Line(_expand_command_files(list(argv)))
        if not line.args:
            raise CommandLineExit(exitcodes.NO_ERROR, stdout=usage_text())
        if line.exclusive:
            if line.has("--help"):
                raise CommandLineExit(exitcodes.NO_ERROR, stdout=usage_text())
            if line.has("--version"):
                raise CommandLineExit(exitcodes.NO_ERROR, stdout=version_text())
            state["list_ciphers"] = True
            return _options_from(state, line)
        if not line.params:
            raise _Fail(f"Missing parameter {PORT}")
        if len(line.params) > 1:
            raise _Fail("Too many parameters")
        _resolve(line, state)
    except _Fail as fail:
        stderr = state["_prefix"] + ("" if state["_quiet"] else error_text(str(fail)))
        raise CommandLineExit(exitcodes.COMMANDLINE_SYNTAX_ERROR, stderr=stderr) from None
    return _options_from(state, line)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a debugging aid
    """Print the resolved Options (or what dcmrecv would print) for a command line."""
    try:
        options = parse_command_line(sys.argv[1:] if argv is None else argv)
    except CommandLineExit as done:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return done.code
    print(options)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
