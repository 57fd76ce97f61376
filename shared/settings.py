"""The one declaration of dcmrecv-cluster's command line, and the frozen Options it resolves to.

Every option is declared here exactly once (names, values, range, default, help text, option block,
dependencies); `cmdline.py` derives both the parser and the `--help` text from REGISTRY, so the two
cannot disagree.  The dcmrecv part mirrors `dcmrecv --help` of DCMTK 3.6.7 on the reference build
(OpenSSL 3 without 3DES, so `--profile-basic`/`+pb` does not exist, like there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata

PROGRAM_NAME = "dcmrecv-cluster"
DESCRIPTION = "Simple DICOM storage SCP (receiver)"
EMULATES = "dcmrecv v3.6.7 2022-04-22"


def _own_version() -> str:
    """Version of the installed distribution (pyproject is the single source)."""
    try:
        return metadata.version("dcmrecv-cluster")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


VERSION = _own_version()
# Same shape as DCMTK's rcsid line ("$dcmtk: dcmrecv v3.6.7 2022-04-22 $").
IDENTIFICATION = f"${PROGRAM_NAME}: {PROGRAM_NAME} v{VERSION} $"

# Parameter (the only one): position in EVALUATION_ORDER is marked with this name.
PORT = "port"
PORT_HELP = "tcp/ip port number to listen on"

DEFAULT_WORKERS = os.cpu_count() or 1


@dataclass(frozen=True)
class Group:
    """A help section header.  `sub` marks a sub group; the columns are the minimum widths
    of the short/long option columns of the options that follow (OFCommandLine's addGroup)."""

    title: str
    sub: bool = False
    long_col: int = 21
    short_col: int = 4


@dataclass(frozen=True)
class Ref:
    """In Setting.sets: copy the current value of another Options field (used by --write-seed)."""

    field: str


@dataclass(frozen=True)
class Setting:
    """One command-line option.

    values:    kind of each value the option consumes ("string" or "uint"); the count is what the
               parser swallows, whatever the following arguments look like.
    fields:    the Options field receiving each value (repeatable options collect into a tuple).
    sets:      constant (field, value) assignments made when the option is evaluated.
    block:     option-block id: of the members present, the rightmost wins (OFCommandLine blocks).
    repeat:    every occurrence counts (DCMTK's FOM_First/FOM_Next loop) instead of the rightmost.
    requires:  condition names (see cmdline.REQUIREMENTS) checked in order when the option is seen.
    conflicts: condition names (see cmdline.CONFLICTS) checked after `requires`.
    label:     the name dcmrecv prints in dependency errors (differs from `long` for one quirk).
    handler:   name of a special evaluation in cmdline (log level/config, --arguments).
    """

    long: str
    short: str = ""
    help: str = ""
    value_help: str = ""
    values: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    sets: tuple[tuple[str, object], ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    wrap32: bool = False
    block: str | None = None
    exclusive: bool = False
    repeat: bool = False
    requires: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    label: str = ""
    handler: str = ""
    ours: bool = False

    @property
    def message_name(self) -> str:
        return self.label or self.long


_TLS = ("tls",)


def _ours_integer(long: str, short: str, text: str, field: str, minimum: int, maximum: int,
                  value: str = "[n]umber", note: str = "") -> Setting:
    """One of our integer options: its range is declared once, for the parser and for --help."""
    return Setting(long, short, text, f"{value}: integer ({minimum}..{maximum}{note})", values=("uint",),
                   fields=(field,), minimum=minimum, maximum=maximum, ours=True)


# Help order.  Texts are dcmrecv 3.6.7's, byte for byte (including the trailing blank of +pw).
REGISTRY: tuple[Group | Setting, ...] = (
    Group("general options:", long_col=21, short_col=6),
    Setting("--help", "-h", "print this help text and exit", exclusive=True),
    Setting("--version", "", "print version information and exit", exclusive=True),
    Setting("--arguments", "", "print expanded command line arguments",
            sets=(("print_arguments", True),), handler="arguments"),
    Setting("--quiet", "-q", "quiet mode, print no warnings and errors", block="log",
            sets=(("log_level", "fatal"), ("_level_set", True))),
    Setting("--verbose", "-v", "verbose mode, print processing details", block="log",
            sets=(("log_level", "info"), ("_level_set", True))),
    Setting("--debug", "-d", "debug mode, print debug information", block="log",
            sets=(("log_level", "debug"), ("_level_set", True))),
    Setting("--log-level", "-ll", "(fatal, error, warn, info, debug, trace)\nuse level l for the logger",
            "[l]evel: string constant", values=("string",), conflicts=("level-set",),
            handler="log-level"),
    Setting("--log-config", "-lc", "use config file f for the logger", "[f]ilename: string",
            values=("string",), conflicts=("log-level-given", "level-set"), handler="log-config"),
    Setting("--verbose-pc", "+v", "show presentation contexts in verbose mode",
            sets=(("verbose_pc", True),), requires=("verbose",)),

    Group("network options:"),
    Group("association negotiation profile from configuration file:", sub=True),
    Setting("--config-file", "-xf", "use profile p from configuration file f",
            "[f]ilename, [p]rofile: string", values=("string", "string"),
            fields=("config_file", "config_profile")),
    Group("application entity title:", sub=True),
    Setting("--aetitle", "-aet", "set my AE title (default: DCMRECV)", "[a]etitle: string",
            values=("string",), fields=("aetitle",), sets=(("use_called_aetitle", False),),
            block="aet"),
    Setting("--use-called-aetitle", "-uca", "always respond with called AE title",
            sets=(("use_called_aetitle", True),), block="aet"),
    Group("other network options:", sub=True),
    Setting("--acse-timeout", "-ta", "timeout for ACSE messages", "[s]econds: integer (default: 30)",
            values=("uint",), fields=("acse_timeout",), minimum=1, wrap32=True),
    Setting("--dimse-timeout", "-td", "timeout for DIMSE messages",
            "[s]econds: integer (default: unlimited)",
            values=("uint",), fields=("dimse_timeout",), minimum=1, wrap32=True),
    Setting("--max-pdu", "-pdu", "set max receive pdu to n bytes (default: 16384)",
            "[n]umber of bytes: integer (4096..131072)",
            values=("uint",), fields=("max_pdu",), minimum=4096, maximum=131072),
    Setting("--disable-host-lookup", "-dhl", "disable hostname lookup",
            sets=(("disable_host_lookup", True),)),

    Group("transport layer security (TLS) options:"),
    Group("transport protocol stack:", sub=True),
    Setting("--disable-tls", "-tls", "use normal TCP/IP connection (default)", block="tls",
            sets=(("tls_enabled", False),)),
    Setting("--enable-tls", "+tls", "use authenticated secure TLS connection",
            "[p]rivate key file, [c]ertificate file: string", values=("string", "string"),
            fields=("tls_key", "tls_cert"), sets=(("tls_enabled", True),), block="tls"),
    Group("private key password (only with --enable-tls):", sub=True),
    Setting("--std-passwd", "+ps", "prompt user to type password on stdin (default)", block="passwd",
            sets=(("tls_password_mode", "prompt"), ("tls_password", None)), requires=_TLS),
    Setting("--use-passwd", "+pw", "use specified password", "[p]assword: string ",
            values=("string",), fields=("tls_password",), block="passwd",
            sets=(("tls_password_mode", "given"),), requires=_TLS),
    Setting("--null-passwd", "-pw", "use empty string as password", block="passwd",
            sets=(("tls_password_mode", "null"), ("tls_password", "")), requires=_TLS),
    Group("key and certificate file format:", sub=True),
    Setting("--pem-keys", "-pem", "read keys and certificates as PEM file (default)", block="keyfmt",
            sets=(("tls_key_format", "pem"),), requires=_TLS),
    Setting("--der-keys", "-der", "read keys and certificates as DER file", block="keyfmt",
            sets=(("tls_key_format", "der"),), requires=_TLS),
    Group("certification authority:", sub=True),
    Setting("--add-cert-file", "+cf", "add certificate file to list of certificates",
            "[f]ilename: string", values=("string",), fields=("tls_ca_files",), repeat=True,
            requires=_TLS),
    Setting("--add-cert-dir", "+cd", "add certificates in d to list of certificates",
            "[d]irectory: string", values=("string",), fields=("tls_ca_dirs",), repeat=True,
            requires=_TLS),
    Setting("--add-crl-file", "+crl", "add certificate revocation list file\n(implies --enable-crl-vfy)",
            "[f]ilename: string", values=("string",), fields=("tls_crl_files",), repeat=True,
            sets=(("tls_crl_mode", "leaf"),), requires=_TLS),
    Setting("--enable-crl-vfy", "+crv", "enable leaf CRL verification", repeat=True,
            sets=(("tls_crl_mode", "leaf"),), requires=_TLS),
    Setting("--enable-crl-all", "+cra", "enable full chain CRL verification", repeat=True,
            sets=(("tls_crl_mode", "all"),), requires=_TLS, conflicts=("crl-vfy",)),
    Group("security profile:", sub=True),
    Setting("--profile-bcp195-nd", "+py", "Non-downgrading BCP 195 TLS Profile (default)",
            block="profile", sets=(("tls_profile", "bcp195-nd"),), requires=_TLS),
    Setting("--profile-bcp195", "+px", "BCP 195 TLS Profile",
            block="profile", sets=(("tls_profile", "bcp195"),), requires=_TLS),
    Setting("--profile-bcp195-ex", "+pz", "Extended BCP 195 TLS Profile",
            block="profile", sets=(("tls_profile", "bcp195-ex"),), requires=_TLS),
    # dcmrecv 3.6.7 names the wrong option in this dependency error; we keep its text.
    Setting("--profile-aes", "+pa", "AES TLS Secure Transport Connection Profile\n(retired)",
            block="profile", sets=(("tls_profile", "aes"),), requires=_TLS, label="--profile-basic"),
    Setting("--profile-null", "+pn",
            "Authenticated unencrypted communication\n(retired, was used in IHE ATNA)",
            block="profile", sets=(("tls_profile", "null"),), requires=_TLS),
    Group("ciphersuite:", sub=True),
    Setting("--list-ciphers", "+cc", "show list of supported TLS ciphersuites and exit",
            exclusive=True),
    Setting("--cipher", "+cs", "add ciphersuite to list of negotiated suites\n(not with --profile-bcp195-ex)",
            "[c]iphersuite name: string", values=("string",), fields=("tls_ciphers",), repeat=True,
            requires=_TLS, conflicts=("profile-ex",)),
    Setting("--dhparam", "+dp", "read DH parameters for DH/DSS ciphersuites", "[f]ilename: string",
            values=("string",), fields=("tls_dhparam",), requires=_TLS),
    Group("pseudo random generator:", sub=True),
    Setting("--seed", "+rs", "seed random generator with contents of f", "[f]ilename: string",
            values=("string",), fields=("tls_seed",), requires=_TLS),
    Setting("--write-seed", "+ws", "write back modified seed (only with --seed)", block="wseed",
            sets=(("tls_write_seed", True), ("tls_write_seed_file", Ref("tls_seed"))),
            requires=("tls", "seed")),
    Setting("--write-seed-file", "+wf", "write modified seed to file f",
            "[f]ilename: string (only with --seed)", values=("string",),
            fields=("tls_write_seed_file",), sets=(("tls_write_seed", True),), block="wseed",
            requires=("tls", "seed")),
    Group("peer authentication:", sub=True),
    Setting("--require-peer-cert", "-rc", "verify peer certificate, fail if absent (default)",
            block="peer", sets=(("tls_peer_cert", "require"),), requires=_TLS),
    Setting("--verify-peer-cert", "-vc", "verify peer certificate if present",
            block="peer", sets=(("tls_peer_cert", "verify"),), requires=_TLS),
    Setting("--ignore-peer-cert", "-ic", "don't verify peer certificate",
            block="peer", sets=(("tls_peer_cert", "ignore"),), requires=_TLS),

    Group("output options:"),
    Group("general:", sub=True),
    Setting("--output-directory", "-od", "write received objects to existing directory d",
            '[d]irectory: string (default: ".")', values=("string",), fields=("output_directory",)),
    Group("subdirectory generation:", sub=True),
    Setting("--no-subdir", "-s", "do not generate any subdirectories (default)", block="subdir",
            sets=(("subdir_mode", "none"),)),
    Setting("--series-date-subdir", "+ssd", "generate subdirectories from series date", block="subdir",
            sets=(("subdir_mode", "series-date"),)),
    Group("filename generation:", sub=True),
    Setting("--default-filenames", "+fd", "generate filename from instance UID (default)", block="fname",
            sets=(("filename_mode", "default"),)),
    Setting("--unique-filenames", "+fu", "generate unique filename based on new UID", block="fname",
            sets=(("filename_mode", "unique"),)),
    Setting("--short-unique-names", "+fsu", "generate short pseudo-random unique filename", block="fname",
            sets=(("filename_mode", "short-unique"),)),
    Setting("--system-time-names", "+fst", "generate filename from current system time", block="fname",
            sets=(("filename_mode", "system-time"),)),
    Setting("--filename-extension", "-fe", "append e to all generated filenames",
            "[e]xtension: string (default: none)", values=("string",), fields=("filename_extension",)),
    Group("storage mode:", sub=True),
    Setting("--normal", "-B", "allow implicit format conversions (default)", block="storage",
            sets=(("storage_mode", "normal"),)),
    Setting("--bit-preserving", "+B", "write dataset exactly as received", block="storage",
            sets=(("storage_mode", "bit-preserving"),), conflicts=("series-date",)),
    Setting("--ignore", "", "ignore dataset, receive but do not store it", block="storage",
            sets=(("storage_mode", "ignore"),)),

    # Ours: long names only, evaluated after everything dcmrecv checks.
    Group("cluster options:"),
    _ours_integer("--workers", "", "number of worker processes receiving associations",
                  "workers", 1, 1024, note=", default: number of CPUs"),
    _ours_integer("--max-associations", "", "admit at most n concurrent associations (default: 256)",
                  "max_associations", 1, 65535),
    _ours_integer("--max-pending", "", "keep at most n connections that have not sent\n"
                  "their A-ASSOCIATE-RQ yet (default: 512; at most\nhalf the file descriptors left)",
                  "max_pending", 1, 65535),
    _ours_integer("--max-pending-per-host", "", "of those, at most n from one peer address\n(default: 64)",
                  "max_pending_per_host", 1, 65535),
    Setting("--calling-aets", "", "accept only these calling AE titles, others get\n"
            "A-ASSOCIATE-RJ 1/1/3; @f: one 'TITLE [HOST-OR-CIDR]'\nper line of file f (default: any)",
            "[t]itles: string (TITLE[,TITLE...] or @f)", values=("string",), fields=("calling_aets",),
            ours=True),
    Setting("--require-called-aet", "", "the called AE title must be the -aet title,\n"
            "else A-ASSOCIATE-RJ 1/1/7 (default: any)",
            sets=(("require_called_aet", True),), ours=True),
    Setting("--peer-hosts", "", "accept connections only from these addresses\n"
            "(behind PROXY v2: the client's); others are\nclosed unread (default: any)",
            "[c]idrs: string (CIDR[,CIDR...])", values=("string",), fields=("peer_hosts",), ours=True),
    _ours_integer("--max-associations-per-aet", "", "admit at most n concurrent associations per\n"
                  "calling AE title on this node; beyond,\nA-ASSOCIATE-RJ 2/3/2 (default: no limit)",
                  "max_associations_per_aet", 1, 65535),
    Setting("--min-free-space", "", "below s free bytes in the output directory,\n"
            "new associations get A-ASSOCIATE-RJ transient\n(default: off)",
            "[s]ize: string (e.g. 2G, 500M)", values=("string",), fields=("min_free_space",), ours=True),
    Setting("--bind", "", "listen on IPv4 address a only", '[a]ddress: string (default: "0.0.0.0")',
            values=("string",), fields=("bind_address",), ours=True),
    _ours_integer("--metrics-port", "", "serve metrics on tcp/ip port n (default: off)", "metrics_port", 1, 65535),
    Setting("--metrics-bind", "", "serve metrics and status on IPv4 address a\n"
            "(default: the --bind address)",
            "[a]ddress: string", values=("string",), fields=("metrics_bind",), ours=True),
    Setting("--events", "", "publish events to ZeroMQ endpoint e (default: off)",
            "[e]ndpoint: string", values=("string",), fields=("events_endpoint",), ours=True),
    Setting("--events-curve-key", "", "encrypt the event stream with CURVE, server\n"
            "secret key from certificate file f (with\n--events-curve-clients)",
            "[f]ilename: string", values=("string",), fields=("events_curve_key",), ours=True),
    Setting("--events-curve-clients", "", "only subscribers whose public key certificate\n"
            "is in directory d get events",
            "[d]irectory: string", values=("string",), fields=("events_curve_clients",), ours=True),
    _ours_integer("--node-id", "", "identify this node as n in a multi-node setup\n"
                  "(enters +fsu names: unique across nodes)", "node_id", 0, 255),
    Setting("--proxy-protocol", "", "every connection starts with a PROXY protocol\n"
            "header from a trusted balancer (default: off)",
            "[v]ersion: string (v2)", values=("string",), fields=("proxy_protocol",), ours=True),
    Setting("--proxy-trust", "", "accept PROXY headers only from these peers",
            "[c]idrs: string (CIDR[,CIDR...])", values=("string",), fields=("proxy_trust",), ours=True),
    _ours_integer("--agent-port", "", "answer HAProxy agent checks on tcp/ip port n\n(default: off)",
                  "agent_port", 1, 65535),
    _ours_integer("--drain-notice", "", "on SIGTERM report draining and keep accepting\n"
                  "for s seconds (default: 2 with --agent-port\nor --proxy-protocol, else 0)",
                  "drain_notice", 0, 3600, value="[s]econds"),
    Setting("--no-fsync", "", "do not fsync received files (default: durable writes)",
            sets=(("fsync", False),), ours=True),
    Setting("--embedded-profile", "", "without -xf: accept Verification and every storage\n"
            "SOP class (default: Verification only, as dcmrecv)",
            sets=(("embedded_profile", True),), ours=True),
    Setting("--association-ids", "", "start each line of an association with its id\n"
            "(A<worker>.<n>; -lc patterns: %x)",
            sets=(("association_ids", True),), ours=True),
    # storescp's event options (its spellings; dcmrecv has none of them), run by the supervisor.
    Setting("--exec-on-reception", "-xcr", "execute command c after each stored instance\n"
            "(#p #f #a #c #r as storescp; never delays a store)",
            "[c]ommand: string", values=("string",), fields=("exec_on_reception",), ours=True),
    Setting("--exec-on-eostudy", "-xcs", "execute command c once per completed study\n"
            "(#p #a #c #r; the study's files on stdin)",
            "[c]ommand: string (only with -tos)", values=("string",), fields=("exec_on_eostudy",), ours=True),
    _ours_integer("--eostudy-timeout", "-tos", "a study is complete after t seconds without\n"
                  "an instance of it on any worker", "eostudy_timeout", 1, 86400, value="[t]imeout"),
    Setting("--exec-sync", "-xs", "execute commands synchronously (not supported:\n"
            "hooks never delay a C-STORE response)", sets=(("exec_sync", True),), ours=True),
    _ours_integer("--hook-timeout", "", "kill a hook still running after s seconds\n(default: 60)",
                  "hook_timeout", 1, 86400, value="[s]econds"),
    _ours_integer("--hook-queue", "", "at most n hooks waiting to run; more are dropped\nand counted (default: 1000)",
                  "hook_queue", 1, 1000000),
)

SETTINGS: dict[str, Setting] = {s.long: s for s in REGISTRY if isinstance(s, Setting)}

# The order dcmrecv 3.6.7 evaluates its options in (dcmrecv.cc, OFLog, DcmTLSOptions::parseArguments):
# it decides which error is reported when several are present.  Consecutive entries that share a
# `block` form one option block.  The exclusive options are handled before this sequence.
EVALUATION_ORDER: tuple[str, ...] = (
    "--debug", "--verbose", "--quiet",
    "--log-level", "--log-config", "--arguments", "--verbose-pc",
    "--config-file",
    "--aetitle", "--use-called-aetitle",
    "--acse-timeout", "--dimse-timeout", "--max-pdu", "--disable-host-lookup",
    "--output-directory",
    "--no-subdir", "--series-date-subdir",
    "--default-filenames", "--unique-filenames", "--short-unique-names", "--system-time-names",
    "--filename-extension",
    "--normal", "--bit-preserving", "--ignore",
    PORT,
    "--disable-tls", "--enable-tls",
    "--std-passwd", "--use-passwd", "--null-passwd",
    "--pem-keys", "--der-keys",
    "--dhparam", "--seed",
    "--write-seed", "--write-seed-file",
    "--require-peer-cert", "--ignore-peer-cert", "--verify-peer-cert",
    "--profile-bcp195", "--profile-bcp195-nd", "--profile-bcp195-ex", "--profile-aes", "--profile-null",
    "--add-cert-file", "--add-cert-dir", "--add-crl-file",
    "--enable-crl-vfy", "--enable-crl-all",
    "--cipher",
    "--workers", "--max-associations", "--max-pending", "--max-pending-per-host",
    "--calling-aets", "--require-called-aet",
    "--peer-hosts", "--max-associations-per-aet",
    "--min-free-space", "--bind", "--metrics-port", "--metrics-bind",
    "--events", "--events-curve-key", "--events-curve-clients", "--node-id",
    "--proxy-protocol", "--proxy-trust", "--agent-port", "--drain-notice", "--no-fsync",
    "--embedded-profile", "--association-ids",
    "--exec-on-reception", "--exec-on-eostudy", "--eostudy-timeout", "--exec-sync", "--hook-timeout",
    "--hook-queue",
)

EXCLUSIVE_OPTIONS = ("--help", "--version", "--list-ciphers")


@dataclass(frozen=True)
class Options:
    """The resolved command line: what the supervisor and every worker receive (picklable).

    Notes beyond the dcmrecv man page:
      log_level        "off" is possible too (`-ll off`); `-ll all` gives "trace".  With --log-config
                       it is the root logger level of that file.
      output_directory "" (from `-od ""`) means the current directory, as in dcmrecv.
      tls_password     None with "prompt", "" with "null".
      tls_write_seed_file  with --write-seed, the --seed file (dcmrecv itself never writes it).
      acse/dimse_timeout   reduced modulo 2**32 like dcmrecv's cast to Uint32.
      tls_*_files/dirs/ciphers  in command-line order (left to right).
    """

    port: int
    log_level: str = "warn"
    log_config: str | None = None
    verbose_pc: bool = False
    print_arguments: bool = False
    expanded_arguments: tuple[str, ...] = ()
    config_file: str | None = None
    config_profile: str | None = None
    aetitle: str = "DCMRECV"
    use_called_aetitle: bool = False
    acse_timeout: int = 30
    dimse_timeout: int | None = None
    max_pdu: int = 16384
    disable_host_lookup: bool = False
    tls_enabled: bool = False
    tls_key: str | None = None
    tls_cert: str | None = None
    tls_password_mode: str = "prompt"
    tls_password: str | None = None
    tls_key_format: str = "pem"
    tls_ca_files: tuple[str, ...] = ()
    tls_ca_dirs: tuple[str, ...] = ()
    tls_profile: str = "bcp195-nd"
    list_ciphers: bool = False
    tls_ciphers: tuple[str, ...] = ()
    tls_dhparam: str | None = None
    tls_seed: str | None = None
    tls_write_seed: bool = False
    tls_write_seed_file: str | None = None
    tls_crl_files: tuple[str, ...] = ()
    tls_crl_mode: str | None = None
    tls_peer_cert: str = "require"
    output_directory: str = "."
    subdir_mode: str = "none"
    filename_mode: str = "default"
    filename_extension: str = ""
    storage_mode: str = "normal"
    workers: int = field(default=DEFAULT_WORKERS)
    max_associations: int = 256
    max_pending: int | None = None
    max_pending_per_host: int | None = None
    calling_aets: str | None = None
    require_called_aet: bool = False
    peer_hosts: str | None = None
    max_associations_per_aet: int | None = None
    min_free_space: str | None = None
    bind_address: str = "0.0.0.0"
    metrics_port: int | None = None
    metrics_bind: str | None = None
    events_endpoint: str | None = None
    events_curve_key: str | None = None
    events_curve_clients: str | None = None
    node_id: int | None = None
    proxy_protocol: str | None = None
    proxy_trust: str | None = None
    agent_port: int | None = None
    drain_notice: int | None = None
    fsync: bool = True
    embedded_profile: bool = False
    association_ids: bool = False
    exec_on_reception: str | None = None
    exec_on_eostudy: str | None = None
    eostudy_timeout: int | None = None
    exec_sync: bool = False
    hook_timeout: int = 60
    hook_queue: int = 1000
