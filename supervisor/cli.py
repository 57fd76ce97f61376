"""`dcmrecv-cluster [options] port`: dcmrecv's start-up, in dcmrecv's order, then the arbiter.

Check order as in dcmrecv's main(): command line (1) -> association
configuration (66) -> output directory (45) -> TLS transport layer (71) ->
listen (64). Everything is checked here, once, before any worker exists, so a
bad invocation fails with dcmrecv's message and code.
"""

from __future__ import annotations

import sys

from dcmrecv_cluster.shared import access, exitcodes
from dcmrecv_cluster.shared.cmdline import CommandLineExit, arguments_message, error_text, parse_command_line
from dcmrecv_cluster.supervisor import drain, events, hooks, proxyproto, space
from dcmrecv_cluster.supervisor.listener import ListenError, open_listener
from dcmrecv_cluster.supervisor.logsink import LogSink
from dcmrecv_cluster.supervisor.startup import (
    StartupError,
    check_output_directory,
    load_association_profile,
    prepare_tls,
    reloader,
)


def run(argv: list[str]) -> int:
    try:
        options = parse_command_line(argv)
    except CommandLineExit as exit_request:
        sys.stdout.write(exit_request.stdout)
        sys.stderr.write(exit_request.stderr)
        return exit_request.code
    problem = (proxyproto.option_problem(options) or drain.option_problem(options)
               or hooks.option_problem(options) or access.option_problem(options)
               or space.option_problem(options) or events.option_problem(options))
    if problem:
        sys.stderr.write(error_text(problem))
        return exitcodes.COMMANDLINE_SYNTAX_ERROR
    log = LogSink.for_options(options)
    if options.print_arguments:
        log.emit("I", arguments_message(options.expanded_arguments).rstrip("\n") + "\n", force=True)
    if options.list_ciphers:
        from dcmrecv_cluster.shared.tlscontext import list_ciphers_text

        sys.stdout.write(list_ciphers_text())
        return exitcodes.NO_ERROR
    try:
        log.info("configuring service class provider ...")
        profile = load_association_profile(options, log)
        check_output_directory(options.output_directory)
        tls = prepare_tls(options, log)
        listener = open_listener(options.port, options.bind_address)
        agent = drain.open_agent(options)     # --agent-port: HAProxy's agent-check (exit 64 if taken)
        from dcmrecv_cluster.supervisor.telemetry import open_telemetry

        telemetry = open_telemetry(options)   # --metrics-port / --events: bound before any worker exists
    except StartupError as failure:
        for letter, text in failure.lines:
            log.emit(letter, text)
        return failure.exit_code
    except ListenError as failure:
        for letter, text in failure.lines:
            log.emit(letter, text)
        return exitcodes.CANNOT_START_SCP_AND_LISTEN
    log.info("starting service class provider and listening ...")
    from dcmrecv_cluster.supervisor.arbiter import Arbiter

    try:
        return Arbiter(options, profile, tls, listener, log, reload=reloader(options, log, tls),
                       telemetry=telemetry, agent=agent).run()
    finally:
        log.close()


def main() -> None:
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
