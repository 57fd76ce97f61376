"""The dcmrecv-cluster command line against the real /usr/bin/dcmrecv (DCMTK 3.6.7).

Differential: each invocation runs through dcmrecv and through our parser; exit codes, stdout and
stderr must match once the program name/version lines are swapped.  Where dcmrecv gets past its
command line it is pointed at a port we hold open, so it exits 64 instead of listening (or at an
unloadable TLS key: 71); there we check that our parser accepts and resolves the fields.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess

import pytest

from dcmrecv_cluster.shared import exitcodes
from dcmrecv_cluster.shared.cmdline import (
    CommandLineExit,
    Options,
    arguments_message,
    parse_command_line,
    usage_text,
)
from dcmrecv_cluster.shared.settings import (
    EVALUATION_ORDER,
    EXCLUSIVE_OPTIONS,
    IDENTIFICATION,
    PORT,
    REGISTRY,
    SETTINGS,
    Group,
)

from .support.tools import DCMRECV, STORESCP_CFG

REF_IDENTIFICATION = "$dcmtk: dcmrecv v3.6.7 2022-04-22 $"

pytestmark = pytest.mark.skipif(not os.access(DCMRECV, os.X_OK), reason="DCMTK dcmrecv not installed")


@pytest.fixture(scope="module")
def busy_port():
    """A port held in LISTEN state, so that a dcmrecv that gets that far exits 64 at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("0.0.0.0", 0))
    sock.listen(1)
    yield str(sock.getsockname()[1])
    sock.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Command files and log configs used by the table below."""
    d = tmp_path_factory.mktemp("cmdline")
    (d / "quotes.txt").write_text(
        "-v --arguments\n-aet 'MY AE'  -fe ab\"c d\" -od \"\" -fe '' \t-xf x\"\"y\r\n+ssd 'it\"s' @nested\n")
    (d / "valid.txt").write_text(f"--arguments -v -xf {STORESCP_CFG} default +fu\n")
    (d / "tail.txt").write_text("-fe\n")
    (d / "empty.txt").write_text("")
    (d / "lc_empty").write_text("")
    (d / "lc_nolog4").write_text("a=b\n")
    (d / "lc_noroot").write_text("log4cplus.x=b\n")
    (d / "lc_info").write_text("  # comment\nlog4cplus.rootLogger = INFO, A\n"
                               "log4cplus.appender.A=log4cplus::ConsoleAppender\n")
    (d / "lc_warn").write_text("log4cplus.rootLogger = WARN, A\n"
                               "log4cplus.appender.A=log4cplus::ConsoleAppender\n")
    (d / "lc_fatal").write_text("log4cplus.rootLogger=FATAL, A\n"
                                "log4cplus.appender.A=log4cplus::ConsoleAppender\n")
    (d / "subdir").mkdir()
    return d


def run_dcmrecv(argv: list[str], cwd) -> subprocess.CompletedProcess:
    # argv[0] "dcmrecv" so that --arguments prints the same name shape as ours
    return subprocess.run(["dcmrecv", *argv], executable=DCMRECV, cwd=cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=20)


def normalise(text: str) -> str:
    """dcmrecv's output with our program name and identification in place of its own."""
    return (text.replace(REF_IDENTIFICATION, IDENTIFICATION)
                .replace("dcmrecv: Simple DICOM", "dcmrecv-cluster: Simple DICOM")
                .replace("usage: dcmrecv ", "usage: dcmrecv-cluster ")
                .replace("calling 'dcmrecv'", "calling 'dcmrecv-cluster'"))


def without_cluster_section(text: str) -> str:
    head, sep, tail = text.partition("cluster options:\n")
    if not sep:
        return text
    rest = tail.split("\n")
    while rest and rest[0].startswith(" "):
        rest.pop(0)
    return head + "\n".join(rest)


# {P}: the busy port, {F}: the directory of `files`.  Each case is one differential run.
CASES = [
    [],
    ["--help"], ["-h", "1", "2", "3"], ["--version"], ["--version", "0"], ["--help", "--version"],
    ["--version", "--help"], ["--version", "-ta", "0"], ["+cc", "--version"],
    ["--help", "--foo"], ["--foo", "--help"], ["--help", "-od"], ["-h", "@{F}/missing.txt"],
    # parse errors
    ["--foo"], ["+pb", "{P}"], ["--", "5"], ["-", "5"], ["-od"], ["-xf", "storescp.cfg"],
    ["-xf", "storescp.cfg", "11112"], ["1", "2"], ["-v"], ["", "5"], ["@{F}/empty.txt"],
    ["@{F}/tail.txt"], ["@{F}/missing.txt"], ["@{F}/missing.txt", "--help"],
    # port
    ["0"], ["70000"], ["abc"], ["-5"], [""], ["+0"], ["{P}abc"], [" {P}"], ["+{P}"],
    # option values
    ["-ta", "0", "{P}"], ["-ta", "abc", "{P}"], ["-ta", "", "{P}"], ["-ta", "-5", "{P}"],
    ["-ta", " -5", "{P}"], ["-ta", "\t-5", "{P}"], ["-ta", "+5", "{P}"], ["-ta", "5x", "{P}"],
    ["-ta", "99999999999999999999999", "{P}"], ["-td", "0", "{P}"], ["-td", "7", "{P}"],
    ["-pdu", "131073", "{P}"], ["-pdu", "4095", "{P}"], ["-pdu", "\t-5", "{P}"], ["-pdu", "4097", "{P}"],
    ["-pdu", "x", "-ta", "0", "{P}"], ["-ta", "0", "-pdu", "x", "{P}"], ["-ta", "0", "0"],
    # logging
    ["-ll", "foo", "{P}"], ["-ll", "", "{P}"], ["-ll", "Info", "{P}"], ["-ll", "ALL", "+v", "{P}"],
    ["-ll", "off", "+v", "{P}"], ["-v", "-ll", "info", "{P}"], ["-ll", "info", "-v", "{P}"],
    ["-q", "-ll", "info", "{P}"], ["+v", "{P}"], ["-v", "+v", "{P}"], ["-q", "-d", "+v", "{P}"],
    ["-d", "-q", "+v", "{P}"], ["-v", "-q", "-d", "+v", "{P}"], ["-ll", "warn", "+v", "{P}"],
    ["-q", "-ta", "0", "{P}"], ["-ll", "fatal", "-ta", "0", "{P}"], ["-ll", "OFF", "+B", "+ssd", "{P}"],
    ["-ll", "error", "-ta", "0", "{P}"], ["-q", "+v", "{P}"],
    ["-lc", "/nonexistent", "{P}"], ["-lc", "{F}", "{P}"], ["-lc", "", "{P}"],
    ["-ll", "trace", "-lc", "/nonexistent", "{P}"], ["-lc", "/nonexistent", "-v", "{P}"],
    ["-lc", "{F}/lc_empty", "{P}"], ["-lc", "{F}/lc_nolog4", "{P}"], ["-lc", "{F}/lc_noroot", "{P}"],
    ["-lc", "{F}/lc_info", "+v", "-ta", "0", "{P}"], ["-lc", "{F}/lc_warn", "+v", "{P}"],
    ["-lc", "{F}/lc_fatal", "-ta", "0", "{P}"],
    # --arguments (printed before later errors, and even in quiet mode)
    ["--arguments", "-v", "-aet", "MY AE", "-od", "out dir", "+fd", "-ta", "0", "{P}"],
    ["--arguments", "-q", "-ta", "0", "{P}"], ["--arguments", "+v", "{P}"],
    ["--arguments", "-ll", "foo", "{P}"], ["--arguments", "-xf", STORESCP_CFG, "default", "{P}"],
    ["@{F}/quotes.txt", "{P}"], ["@{F}/valid.txt", "{P}"], ["-od", "@{F}/valid.txt", "{P}"],
    ["@{F}/subdir", "{P}"], ["@", "{P}"],
    # blocks: rightmost wins, but every member met on the way is checked
    ["+ssd", "+B", "{P}"], ["+B", "+ssd", "{P}"], ["+ssd", "+B", "--ignore", "{P}"],
    ["+ssd", "--ignore", "+B", "{P}"], ["+ssd", "-B", "+B", "{P}"], ["+ssd", "+B", "-B", "{P}"],
    ["+B", "+ssd", "-s", "{P}"], ["-aet", "A", "-uca", "{P}"], ["-uca", "-aet", "", "{P}"],
    ["+fu", "+fsu", "+fst", "+fd", "{P}"], ["-od", "", "{P}"], ["-od", "/nonexistent", "{P}"],
    ["-xf", "/nonexistent", "x", "{P}"], ["-xf", STORESCP_CFG, "nosuchprofile", "{P}"],
    # TLS dependencies and conflicts
    ["+pw", "x", "{P}"], ["+ps", "{P}"], ["-pw", "{P}"], ["-pem", "{P}"], ["-der", "{P}"],
    ["+cf", "f", "{P}"], ["+cd", "d", "{P}"], ["+crl", "c", "{P}"], ["+crv", "{P}"], ["+cra", "{P}"],
    ["+px", "{P}"], ["+py", "{P}"], ["+pz", "{P}"], ["+pa", "{P}"], ["+pn", "{P}"], ["+cs", "X", "{P}"],
    ["+dp", "f", "{P}"], ["+rs", "f", "{P}"], ["+ws", "{P}"], ["+wf", "f", "{P}"], ["-rc", "{P}"],
    ["-vc", "{P}"], ["-ic", "{P}"], ["-vc", "-ic", "{P}"], ["-ic", "-vc", "{P}"],
    ["+ps", "+pw", "x", "{P}"], ["+pw", "x", "+ps", "{P}"], ["+tls", "k", "c", "-pw", "-tls", "{P}"],
    ["-tls", "{P}"], ["+tls", "k", "{P}"], ["+tls", "k", "c", "{P}"], ["-tls", "+tls", "k", "c", "{P}"],
    ["+tls", "k", "c", "-tls", "{P}"], ["+crv", "+cra", "+tls", "k", "c", "{P}"],
    ["+cra", "+tls", "k", "c", "+crv", "{P}"], ["+pz", "+cs", "X", "+tls", "k", "c", "{P}"],
    ["+cs", "X", "+pz", "+px", "+tls", "k", "c", "{P}"], ["+ws", "+tls", "k", "c", "{P}"],
    ["+ws", "+wf", "f", "+tls", "k", "c", "{P}"], ["+wf", "f", "+rs", "f", "+tls", "k", "c", "{P}"],
    ["+tls", "k", "c", "+pw", "pw", "-der", "+cf", "a", "+cf", "b", "+cd", "d", "+crl", "l", "+pa",
     "+cs", "TLS_RSA_WITH_AES_128_CBC_SHA", "+dp", "dh", "+rs", "s", "+ws", "-vc", "{P}"],
    ["+tls", "k", "c", "+pw", "x", "0"], ["+cc"], ["+cc", "--foo"], ["--list-ciphers", "1", "2"],
]


def _fill(argv, port, folder):
    return [a.replace("{P}", port).replace("{F}", str(folder)) for a in argv]


@pytest.mark.parametrize("case", CASES, ids=lambda c: " ".join(c) or "<none>")
def test_same_as_dcmrecv(case, busy_port, files, tmp_path):
    argv = _fill(case, busy_port, files)
    ref = run_dcmrecv(argv, tmp_path)
    try:
        options = parse_command_line(argv)
    except CommandLineExit as done:
        assert ref.returncode == done.code, (ref.stdout, ref.stderr)
        assert done.stderr == normalise(ref.stderr)
        if "--version" in argv and "--help" not in argv and "-h" not in argv:
            assert done.stdout.startswith(normalise(ref.stdout).split("\n\n")[0])
        else:
            assert without_cluster_section(done.stdout) == normalise(ref.stdout)
        return
    if options.list_ciphers:
        assert ref.returncode == 0 and "Supported TLS ciphersuites are:" in ref.stdout
        return
    # dcmrecv got past its command line: config (66), output dir (45), TLS (71) or listen (64)
    assert ref.returncode in (45, 64, 66, 71), ref.stderr
    assert options.port == int(busy_port)
    if options.print_arguments:
        expected = "".join(f"I: {line}\n" for line in arguments_message(options.expanded_arguments).split("\n"))
        assert normalise(ref.stderr).startswith(expected)


def _ok(*argv: str) -> Options:
    return parse_command_line(list(argv))


def _exit(*argv: str) -> CommandLineExit:
    with pytest.raises(CommandLineExit) as info:
        parse_command_line(list(argv))
    return info.value


def test_defaults():
    o = _ok("104")
    assert (o.port, o.log_level, o.aetitle, o.use_called_aetitle, o.acse_timeout, o.dimse_timeout,
            o.max_pdu) == (104, "warn", "DCMRECV", False, 30, None, 16384)
    assert (o.output_directory, o.subdir_mode, o.filename_mode, o.filename_extension,
            o.storage_mode) == (".", "none", "default", "", "normal")
    assert (o.tls_enabled, o.tls_password_mode, o.tls_key_format, o.tls_profile, o.tls_peer_cert,
            o.tls_crl_mode, o.list_ciphers) == (False, "prompt", "pem", "bcp195-nd", "require", None, False)
    assert o.workers == (os.cpu_count() or 1) and o.max_associations == 256
    assert (o.bind_address, o.metrics_port, o.events_endpoint, o.node_id, o.fsync) == (
        "0.0.0.0", None, None, None, True)
    assert o.expanded_arguments == ("104",) and not o.print_arguments


def test_short_and_long_forms_are_equivalent():
    short = _ok("-v", "+v", "-xf", "f", "p", "-aet", "AE", "-ta", "5", "-td", "6", "-pdu", "8192", "-dhl",
                "-od", "out", "+ssd", "+fsu", "-fe", ".dcm", "-B", "11112")
    long = _ok("--verbose", "--verbose-pc", "--config-file", "f", "p", "--aetitle", "AE", "--acse-timeout",
               "5", "--dimse-timeout", "6", "--max-pdu", "8192", "--disable-host-lookup",
               "--output-directory", "out", "--series-date-subdir", "--short-unique-names",
               "--filename-extension", ".dcm", "--normal", "11112")
    assert short == long
    assert (short.log_level, short.verbose_pc, short.config_file, short.config_profile, short.aetitle,
            short.acse_timeout, short.dimse_timeout, short.max_pdu, short.disable_host_lookup,
            short.output_directory, short.subdir_mode, short.filename_mode, short.filename_extension) == (
        "info", True, "f", "p", "AE", 5, 6, 8192, True, "out", "series-date", "short-unique", ".dcm")


@pytest.mark.parametrize("argv, field, value", [
    (["-v", "-q", "-d"], "log_level", "debug"), (["-d", "-v"], "log_level", "info"),
    (["-q"], "log_level", "fatal"), (["-ll", "TRACE"], "log_level", "trace"),
    (["-ll", "all"], "log_level", "trace"), (["-ll", "off"], "log_level", "off"),
    (["-aet", "A", "-aet", "B"], "aetitle", "B"), (["-aet", "A", "-uca"], "use_called_aetitle", True),
    (["-uca", "-aet", "A"], "use_called_aetitle", False), (["+fu", "+fd"], "filename_mode", "default"),
    (["+fd", "+fst"], "filename_mode", "system-time"), (["+fsu", "+fu"], "filename_mode", "unique"),
    (["+ssd", "-s"], "subdir_mode", "none"), (["+B", "--ignore"], "storage_mode", "ignore"),
    (["--ignore", "+B"], "storage_mode", "bit-preserving"), (["-ta", "5", "-ta", "7"], "acse_timeout", 7),
    (["-ta", "5x"], "acse_timeout", 5), (["-ta", "4294967297"], "acse_timeout", 1),
    (["-od", ""], "output_directory", ""), (["-fe", ""], "filename_extension", ""),
    (["--workers", "3"], "workers", 3), (["--max-associations", "9"], "max_associations", 9),
    (["--bind", "127.0.0.1"], "bind_address", "127.0.0.1"), (["--metrics-port", "9100"], "metrics_port", 9100),
    (["--events", "ipc:///tmp/x"], "events_endpoint", "ipc:///tmp/x"), (["--node-id", "0"], "node_id", 0),
    (["--no-fsync"], "fsync", False),
])
def test_resolved_field(argv, field, value):
    assert getattr(_ok(*argv, "11112"), field) == value


def test_tls_fields():
    o = _ok("+tls", "key.pem", "cert.pem", "+pw", "secret", "-der", "+cf", "a", "+cf", "b", "+cd", "d",
            "+crl", "r1", "+crl", "r2", "+px", "+cs", "C1", "+cs", "C2", "+dp", "dh", "+rs", "seed", "+ws",
            "-ic", "104")
    assert (o.tls_enabled, o.tls_key, o.tls_cert, o.tls_password_mode, o.tls_password, o.tls_key_format) == (
        True, "key.pem", "cert.pem", "given", "secret", "der")
    assert (o.tls_ca_files, o.tls_ca_dirs, o.tls_crl_files, o.tls_crl_mode) == (("a", "b"), ("d",), ("r1", "r2"),
                                                                                  "leaf")
    assert (o.tls_profile, o.tls_ciphers, o.tls_dhparam, o.tls_seed, o.tls_write_seed,
            o.tls_write_seed_file, o.tls_peer_cert) == ("bcp195", ("C1", "C2"), "dh", "seed", True, "seed", "ignore")
    o = _ok("+tls", "k", "c", "-pw", "+cra", "+pn", "+rs", "s", "+wf", "w", "-vc", "104")
    assert (o.tls_password_mode, o.tls_password, o.tls_crl_mode, o.tls_profile, o.tls_write_seed_file,
            o.tls_peer_cert) == ("null", "", "all", "null", "w", "verify")
    o = _ok("+tls", "k", "c", "+pw", "x", "+ps", "+pz", "+pa", "104")
    assert (o.tls_password_mode, o.tls_password, o.tls_profile) == ("prompt", None, "aes")
    assert _ok("+tls", "k", "c", "+crv", "104").tls_crl_mode == "leaf"


def test_options_swallow_their_values_whatever_they_look_like():
    o = _ok("-xf", "-v", "+B", "-od", "--help", "104")
    assert (o.config_file, o.config_profile, o.output_directory, o.log_level) == ("-v", "+B", "--help", "warn")
    assert o.expanded_arguments == ("--config-file", "-v", "+B", "--output-directory", "--help", "104")


def test_command_file_tokens(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("-aet 'A \"B' -fe ab\"c d\"\n-od \"\"\t-xf x\"\"y @nested\n")
    other = tmp_path / "p.txt"
    other.write_text("104")
    e = _exit(f"@{f}", f"@{other}")  # "@nested" stays a parameter (no recursion): too many
    assert e.stderr.endswith("error: Too many parameters\n")
    f.write_text("-aet 'A \"B' -fe ab\"c d\"\n-od \"\"\t-xf x\"\"y\n")
    o = _ok(f"@{f}", f"@{other}")
    assert o.expanded_arguments == ("--aetitle", 'A "B', "--filename-extension", "abc d", "--output-directory",
                                    "", "--config-file", "x", "y", "104")
    assert _exit("@/nonexistent/c.txt").stderr.endswith("error: Cannot open command file '/nonexistent/c.txt'\n")


def test_arguments_message_format():
    o = _ok("--arguments", "-v", "-aet", "MY AE", "-od", "", "11250")
    assert o.print_arguments
    assert arguments_message(o.expanded_arguments) == (
        "calling 'dcmrecv-cluster' with 7 arguments: '--arguments' '--verbose' '--aetitle' 'MY AE' "
        "'--output-directory' '11250' \n")


def test_error_layout_and_exit_codes():
    e = _exit("--max-pdu", "100", "104")
    assert e.code == exitcodes.COMMANDLINE_SYNTAX_ERROR and e.stdout == ""
    assert e.stderr == (f"{IDENTIFICATION}\n\ndcmrecv-cluster: Simple DICOM storage SCP (receiver)\n"
                        "error: Invalid value for option --max-pdu (underflow: 100)\n")
    for argv in ([], ["--help"], ["--version"]):
        e = _exit(*argv)
        assert (e.code, e.stderr) == (exitcodes.NO_ERROR, "")
    assert _exit().stdout == usage_text() == _exit("-h").stdout
    version = _exit("--version").stdout
    for library in ("pynetdicom", "pydicom", "pyzmq", "OpenSSL"):
        assert f"- {library}" in version
    assert _ok("+cc").list_ciphers and _ok("--list-ciphers", "x", "y").port == 0


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0", "104"], "Invalid value for option --workers (underflow: 0)"),
    (["--workers", "x", "104"], "Invalid value for option --workers (x)"),
    (["--max-associations", "0", "104"], "Invalid value for option --max-associations (underflow: 0)"),
    (["--metrics-port", "65536", "104"], "Invalid value for option --metrics-port (overflow: 65536)"),
    (["--bind", "104"], "Missing parameter port"),
    (["-ta", "0", "--workers", "0", "104"], "Invalid value for option --acse-timeout (underflow: 0)"),
])
def test_our_option_errors(argv, message):
    assert _exit(*argv).stderr.endswith(f"error: {message}\n")


STORESCP_EVENT_OPTIONS = {"-xcr", "-xcs", "-tos", "-xs"}


def test_help_lists_our_section_last_with_long_names_only():
    text = usage_text()
    section = text.split("cluster options:\n")[1]
    for name in ("--workers", "--max-associations", "--bind", "--metrics-port", "--events", "--node-id",
                 "--no-fsync"):
        assert name in section
    ours = [s for s in SETTINGS.values() if s.ours]
    # Short forms only for storescp's event options, with storescp's spellings.
    assert all(s.long.startswith("--") and (not s.short or s.short in STORESCP_EVENT_OPTIONS) for s in ours)


@pytest.mark.parametrize("option", sorted(STORESCP_EVENT_OPTIONS))
def test_storescp_event_options_are_ours_not_dcmrecvs(option, tmp_path):
    argv = [option, "echo", "104"] if option in ("-xcr", "-xcs") else (
        [option, "5", "104"] if option == "-tos" else [option, "104"])
    ref = run_dcmrecv(argv, tmp_path)
    assert ref.returncode == 1 and f"Unknown option {option}" in ref.stderr
    assert parse_command_line(argv).port == 104


def test_registry_is_consistent():
    assert set(EVALUATION_ORDER) == (set(SETTINGS) - set(EXCLUSIVE_OPTIONS)) | {PORT}
    assert {s.long for s in SETTINGS.values() if s.exclusive} == set(EXCLUSIVE_OPTIONS)
    assert len(EVALUATION_ORDER) == len(set(EVALUATION_ORDER))
    seen, previous = set(), None
    for name in EVALUATION_ORDER:  # members of one block are evaluated together
        block = SETTINGS[name].block if name in SETTINGS else None
        if block and block != previous:
            assert block not in seen, block
            seen.add(block)
        previous = block
    longs = [e.long for e in REGISTRY if not isinstance(e, Group)]
    shorts = [e.short for e in REGISTRY if not isinstance(e, Group) and e.short]
    assert len(longs) == len(set(longs)) and len(shorts) == len(set(shorts))
    assert not set(longs) & set(shorts)


def test_options_pickle_and_frozen():
    o = _ok("+tls", "k", "c", "+cf", "a", "--workers", "2", "104")
    assert pickle.loads(pickle.dumps(o)) == o
    with pytest.raises(AttributeError):
        o.port = 1  # type: ignore[misc]
