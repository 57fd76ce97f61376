"""The start-up checks dcmrecv makes before listening, each with its message and exit code."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dcmrecv_cluster.shared import exitcodes
from dcmrecv_cluster.shared.asconfig import VERIFICATION_ONLY, AssociationConfigError, load_profile


@dataclass
class StartupError(Exception):
    exit_code: int
    lines: list[tuple[str, str]]


def load_association_profile(options, log):
    if options.config_file is None and options.embedded_profile:
        from dcmrecv_cluster.shared.default_profile import default_profile

        return default_profile()
    if options.config_file is None:
        log.warn("no configuration file specified, SCP will only support the Verification SOP Class")
        return VERIFICATION_ONLY
    try:
        return load_profile(options.config_file, options.config_profile)
    except AssociationConfigError as error:
        raise StartupError(exitcodes.INVALID_ASSOCIATION_CONFIG, list(error.log_lines)) from error


def check_output_directory(directory: str) -> None:
    directory = directory or "."
    if not os.path.isdir(directory):
        raise StartupError(exitcodes.INVALID_OUTPUT_DIRECTORY,
                           [("F", "cannot specify output directory: Directory does not exist")])
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartupError(exitcodes.INVALID_OUTPUT_DIRECTORY,
                           [("F", "cannot specify output directory: Directory is not writable")])


def tls_settings_from(options):
    from dcmrecv_cluster.shared.tlscontext import TLSSettings

    return TLSSettings(
        key_file=options.tls_key, cert_file=options.tls_cert,
        password_mode=options.tls_password_mode, password=options.tls_password,
        key_format=options.tls_key_format, ca_files=options.tls_ca_files, ca_dirs=options.tls_ca_dirs,
        profile=options.tls_profile, ciphers=options.tls_ciphers, dhparam=options.tls_dhparam,
        seed=options.tls_seed, write_seed=options.tls_write_seed, write_seed_file=options.tls_write_seed_file,
        crl_files=options.tls_crl_files, crl_mode=options.tls_crl_mode, peer_cert=options.tls_peer_cert,
    )


def prepare_tls(options, log):
    """Build the TLS context once here, so a bad key or certificate fails before any worker starts.

    Workers rebuild it from the same settings (an SSLContext cannot cross a
    process boundary); a password typed at the prompt travels with them.
    """
    if not options.tls_enabled:
        return None
    from dcmrecv_cluster.shared.tlscontext import TransportLayerError, build_server_context, resolve_password

    settings = tls_settings_from(options)
    try:
        settings = resolve_password(settings)
        _context, warnings = build_server_context(settings)
    except TransportLayerError as error:
        raise StartupError(error.exit_code, list(error.log_lines)) from error
    for letter, text in warnings:
        log.emit(letter, text)
    return settings


def reloader(options, log, tls_settings):
    """What SIGHUP re-reads: the association profile and the TLS files, with the start-up checks."""

    def reload():
        profile = load_association_profile(options, log)
        if tls_settings is not None:
            from dcmrecv_cluster.shared.tlscontext import TransportLayerError, build_server_context

            try:
                build_server_context(tls_settings)
            except TransportLayerError as error:
                raise StartupError(error.exit_code, list(error.log_lines)) from error
        return profile, tls_settings

    return reload
