"""dcmrecv's TLS options turned into an ``ssl.SSLContext``, with dcmrecv's messages.

Why this module exists: the workers terminate TLS themselves (spawned processes), so
what travels is a picklable :class:`TLSSettings`; each process calls
:func:`build_server_context`.  The function follows the order and the messages of
DCMTK 3.6.7 ``DcmTLSOptions::createTransportLayer`` (``dcmtls/libsrc/tlsopt.cc``): trusted certificates, CRLs,
private key, certificate, profile, extra ciphersuites, DH parameters, verification.

DCMTK logs ``E: OpenSSL error <code>: <text>`` lines whose code is whatever sits first
in OpenSSL's per-thread error queue, including leftovers of earlier failures.
Python's ``ssl`` module hides that queue, so :class:`_ErrorQueue` replays the codes
OpenSSL 3.0 pushes for the failures met in practice (missing/unreadable files,
wrong password, undecodable key/certificate).  The codes were observed with Debian 12's
dcmrecv 3.6.7 and OpenSSL 3.0; rarer failures get the closest observed code.

Requires the ``cryptography`` package (key/certificate parsing, DER conversion).
"""

from __future__ import annotations

import errno as _errno
import functools
import getpass
import os
import secrets
import shutil
import ssl
import stat
import tempfile
import warnings as warnings_module
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from dcmrecv_cluster.shared import exitcodes

__all__ = [
    "TransportLayerError",
    "TLSSettings",
    "build_server_context",
    "list_ciphers_text",
    "peer_subject",
    "format_x509_name",
    "connection_details_lines",
    "key_is_encrypted",
    "resolve_password",
    "profile_available",
    "write_random_seed",
    "PROFILES",
]



class TransportLayerError(Exception):
    """TLS setup failed the way dcmrecv fails: print ``log_lines``, exit ``exit_code``.

    ``exit_code`` is 71 except for the one combination dcmrecv rejects while parsing
    the command line (``+cs`` with ``+pz``: exit 1, ``error: <str(self)>``).
    """

    def __init__(
        self, message: str, log_lines: list[tuple[str, str]], exit_code: int = exitcodes.CANNOT_CREATE_TRANSPORT_LAYER
    ) -> None:
        super().__init__(message)
        self.log_lines = list(log_lines)
        self.exit_code = exit_code


@dataclass(frozen=True)
class TLSSettings:
    """The TLS part of the parsed command line; repeatable options in command-line order."""

    key_file: str
    cert_file: str
    password_mode: str = "prompt"  # "prompt" (+ps) | "given" (+pw) | "null" (-pw)
    password: str | None = None
    key_format: str = "pem"  # "pem" (-pem) | "der" (-der)
    ca_files: tuple[str, ...] = ()
    ca_dirs: tuple[str, ...] = ()
    profile: str = "bcp195-nd"
    ciphers: tuple[str, ...] = ()
    dhparam: str | None = None
    seed: str | None = None
    write_seed: bool = False
    write_seed_file: str | None = None
    crl_files: tuple[str, ...] = ()
    crl_mode: str | None = None  # None | "leaf" (+crv) | "all" (+cra)
    peer_cert: str = "require"  # "require" (-rc) | "verify" (-vc) | "ignore" (-ic)


# --------------------------------------------------------------------------- ciphersuites

# DCMTK's ciphersuite table (tlsciphr.cc), weakest first: (RFC name, OpenSSL name,
# key size in bits (0 = no encryption), key transport is plain RSA).
_SUITES: tuple[tuple[str, str, int, bool], ...] = (
    ("TLS_RSA_WITH_NULL_SHA", "NULL-SHA", 0, True),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", 168, True),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", 128, True),
    ("TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", "CAMELLIA128-SHA", 128, True),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256", 128, True),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", 128, True),
    ("TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", "ECDH-ECDSA-AES128-SHA", 128, False),
    ("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", "ECDH-RSA-AES128-SHA", 128, False),
    ("TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", "ECDH-ECDSA-AES128-SHA256", 128, False),
    ("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", "ECDH-RSA-AES128-SHA256", 128, False),
    ("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", "ECDH-ECDSA-AES128-GCM-SHA256", 128, False),
    ("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "ECDH-RSA-AES128-GCM-SHA256", 128, False),
    ("TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", "CAMELLIA256-SHA", 256, True),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", 256, True),
    ("TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256", 256, True),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", 256, True),
    ("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", "ECDH-ECDSA-AES256-SHA", 256, False),
    ("TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", "ECDH-RSA-AES256-SHA", 256, False),
    ("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", "ECDH-ECDSA-AES256-SHA384", 256, False),
    ("TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", "ECDH-RSA-AES256-SHA384", 256, False),
    ("TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", "ECDH-ECDSA-AES256-GCM-SHA384", 256, False),
    ("TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", "ECDH-RSA-AES256-GCM-SHA384", 256, False),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", 128, False),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", 128, False),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", 128, False),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", 128, False),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", 128, False),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", 128, False),
    ("TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "DHE-DSS-AES128-SHA", 128, False),
    ("TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", "DHE-DSS-CAMELLIA128-SHA", 128, False),
    ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA", 128, False),
    ("TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", "DHE-RSA-CAMELLIA128-SHA", 128, False),
    ("TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "DHE-DSS-AES128-SHA256", 128, False),
    ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256", 128, False),
    ("TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "DHE-DSS-AES128-GCM-SHA256", 128, False),
    ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256", 128, False),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", 256, False),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", 256, False),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384", 256, False),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384", 256, False),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", 256, False),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", 256, False),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", 256, False),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", 256, False),
    ("TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "DHE-DSS-AES256-SHA", 256, False),
    ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA", 256, False),
    ("TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", "DHE-DSS-CAMELLIA256-SHA", 256, False),
    ("TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", "DHE-RSA-CAMELLIA256-SHA", 256, False),
    ("TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "DHE-DSS-AES256-SHA256", 256, False),
    ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256", 256, False),
    ("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305", 256, False),
    ("TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "DHE-DSS-AES256-GCM-SHA384", 256, False),
    ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384", 256, False),
)
_INDEX = {rfc: i for i, (rfc, _o, _k, _r) in enumerate(_SUITES)}

# profile key -> (option, DCMTK profile name, required suites, optional 3DES, TLS 1.3 allowed, min version)
_V10, _V12 = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2
PROFILES: dict[str, tuple[str, str, tuple[str, ...], bool, bool, ssl.TLSVersion]] = {
    "bcp195-nd": ("+py", "Non-downgrading BCP 195 TLS Profile",
                  ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
                   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
                  False, True, _V12),
    "bcp195": ("+px", "BCP 195 TLS Profile",
               ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_RSA_WITH_AES_128_CBC_SHA"),
               True, True, _V10),
    "bcp195-ex": ("+pz", "Extended BCP 195 TLS Profile",
                  ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
                   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
                   "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
                  False, False, _V12),
    "basic": ("+pb", "Basic TLS Secure Transport Connection Profile",
              ("TLS_RSA_WITH_3DES_EDE_CBC_SHA",), False, False, _V10),
    "aes": ("+pa", "AES TLS Secure Transport Connection Profile",
            ("TLS_RSA_WITH_AES_128_CBC_SHA",), True, False, _V10),
    "null": ("+pn", "Authenticated unencrypted communication",
             ("TLS_RSA_WITH_NULL_SHA",), False, False, _V10),
}


@functools.lru_cache(maxsize=1)
def _supported_openssl_names() -> frozenset[str]:
    """OpenSSL names of every suite this OpenSSL offers (as DCMTK asks with ``ALL:eNULL``)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ALL:eNULL:@SECLEVEL=0")
    return frozenset(c["name"] for c in ctx.get_ciphers())


def _supported(idx: int) -> bool:
    return _SUITES[idx][1] in _supported_openssl_names()


def profile_available(profile: str) -> bool:
    """False for ``basic`` without 3DES and ``null`` without NULL ciphers: dcmrecv then
    has no ``+pb`` / ``+pn`` option at all (``error: Unknown option +pb``, exit 1)."""
    if profile == "basic":
        return _supported(_INDEX["TLS_RSA_WITH_3DES_EDE_CBC_SHA"])
    if profile == "null":
        return _supported(_INDEX["TLS_RSA_WITH_NULL_SHA"])
    return profile in PROFILES


_CC_HEADER = (
    "$dcmtk: dcmrecv v3.6.7 2022-04-22 $\n"
    "\n"
    "dcmrecv: Simple DICOM storage SCP (receiver)\n"
    "\n"
    "Host type: Debian\n"
    "Character encoding: system default (unknown)\n"
    "Build options: shared cxx11 threads lfs extern-dict dcmdictpath private-tags char-conv\n"
)


def list_ciphers_text() -> str:
    """What ``dcmrecv +cc`` writes to stdout: header, then the supported suites, weakest first."""
    lines = [f"  {rfc}\n" for i, (rfc, _o, _k, _r) in enumerate(_SUITES) if _supported(i)]
    return _CC_HEADER + "\nSupported TLS ciphersuites are:\n" + "".join(lines)


# --------------------------------------------------------------------------- error queue

# OpenSSL 3.0 error codes seen in dcmrecv's E: lines, with ERR_reason_error_string()
_ERR_TEXT = {
    0x12000079: "Cannot open file",              # RAND_load_file
    0x10000080: "no such file",                  # BIO_new_file, ENOENT
    0x10080002: "system lib",                    # BIO_new_file, other errno
    0x05880002: "system lib",                    # X509_load_cert_crl_file
    0x05800088: "no certificate or crl found",   # X509_load_cert_crl_file
    0x1E08010C: "unsupported",                   # OSSL_DECODER: undecodable key
    0x1C800064: "bad decrypt",                   # wrong key password
    0x1400006B: "processing error",              # UI: password prompt without a terminal
    0x0480006C: "no start line",                 # PEM_read_bio_X509
    0x068000A8: "wrong tag",                     # d2i_X509_bio
}
_SSL_LIB = 20  # ERR_LIB_SSL: logged as "TLS error: <reason>"
_ERR_NO_CIPHER_MATCH = (_SSL_LIB << 23) | 185


def _sys_err(err: int) -> int:
    return 0x80000000 | (err & 0x7FFFFFFF)


class _ErrorQueue:
    """Replays OpenSSL's per-thread error queue: failures push, DCMTK pops one per E: line."""

    def __init__(self) -> None:
        self._codes: list[int] = []
        self.lines: list[tuple[str, str]] = []

    def push(self, *codes: int) -> None:
        self._codes.extend(codes)

    def log_first(self) -> None:
        """``convertOpenSSLError(ERR_get_error(), logAsError=true)``."""
        if not self._codes:
            return
        code = self._codes.pop(0)
        if code >> 23 == _SSL_LIB:
            reason = {_ERR_NO_CIPHER_MATCH: "no cipher match"}.get(code, "OpenSSL error")
            self.lines.append(("E", f"TLS error: {reason}"))
        else:
            self.lines.append(("E", f"OpenSSL error {code:08x}: {_ERR_TEXT.get(code, 'OpenSSL error')}"))

    def file_open_failure(self, exc: OSError) -> tuple[int, ...]:
        """Codes BIO_new_file pushes when fopen() fails."""
        err = exc.errno or _errno.EIO
        return (_sys_err(err), 0x10000080 if err == _errno.ENOENT else 0x10080002)


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


# --------------------------------------------------------------------------- key and certificate

def _pem_is_encrypted(data: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data


def key_is_encrypted(settings: TLSSettings) -> bool:
    """True if the private key needs a password (the supervisor then prompts once with
    getpass and hands ``password_mode="given"`` to the workers, which cannot prompt)."""
    try:
        data = _read(settings.key_file)
    except OSError:
        return False
    if settings.key_format == "pem":
        return _pem_is_encrypted(data)
    try:
        serialization.load_der_private_key(data, None)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


def _prompt_password() -> bytes | None:
    """OpenSSL's console prompt for ``+ps``; None when there is no terminal."""
    try:
        with open("/dev/tty", "rb"):
            pass
    except OSError:
        return None
    try:
        return getpass.getpass("Enter PEM pass phrase:").encode()
    except (EOFError, OSError):
        return None


def resolve_password(settings: TLSSettings) -> TLSSettings:
    """``+ps`` in the supervisor: prompt once on the terminal, so the workers (which cannot
    prompt) get ``password_mode="given"``.  Without a terminal, or for a key that needs no
    password, the settings come back unchanged; :func:`build_server_context` then fails as
    dcmrecv does (``OpenSSL error 1400006b: processing error``, exit 71)."""
    if settings.password_mode != "prompt" or not key_is_encrypted(settings):
        return settings
    password = _prompt_password()
    if password is None:
        return settings
    return replace(settings, password_mode="given", password=password.decode())


def _load_private_key(settings: TLSSettings, queue: _ErrorQueue):
    """Parse the key as OpenSSL would; on failure push the code OpenSSL would push."""
    try:
        data = _read(settings.key_file)
    except IsADirectoryError:
        queue.push(0x1E08010C)
        return None
    except OSError as exc:
        queue.push(_sys_err(exc.errno or _errno.EIO))
        return None
    loader = (serialization.load_pem_private_key if settings.key_format == "pem"
              else serialization.load_der_private_key)
    try:
        return loader(data, None)
    except TypeError:
        pass  # encrypted: needs a password
    except ValueError:
        queue.push(0x1E08010C)
        return None
    if settings.password_mode == "given":
        password = (settings.password or "").encode()
    elif settings.password_mode == "null":
        password = b""
    else:
        password = _prompt_password()
        if password is None:
            queue.push(0x1400006B)
            return None
    if not password:
        queue.push(0x1C800064)
        return None
    try:
        return loader(data, password)
    except (ValueError, TypeError):
        queue.push(0x1C800064)
        return None


def _load_certificate(settings: TLSSettings, queue: _ErrorQueue):
    """First certificate of the file (DCMTK's ``loadCertificateFile``)."""
    try:
        data = _read(settings.cert_file)
    except OSError as exc:
        queue.push(*queue.file_open_failure(exc))
        return None
    try:
        if settings.key_format == "pem":
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        queue.push(0x0480006C if settings.key_format == "pem" else 0x068000A8)
        return None


_RSA_SIG_SN = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "RSA-MD5",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "RSA-SHA1",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "RSA-SHA224",
    SignatureAlgorithmOID.RSASSA_PSS: "RSASSA-PSS",
}
_SHA2_RSA = {SignatureAlgorithmOID.RSA_WITH_SHA256, SignatureAlgorithmOID.RSA_WITH_SHA384,
             SignatureAlgorithmOID.RSA_WITH_SHA512}


def _certificate_warnings(cert, path: str) -> list[tuple[str, str]]:
    """RFC 7525 warnings DCMTK logs for RSA certificates (key size, signature hash)."""
    out: list[tuple[str, str]] = []
    pub = cert.public_key()
    if not isinstance(pub, rsa.RSAPublicKey):
        return out
    if pub.key_size < 2048:
        out.append(("W", "Key length of RSA public key too short: RFC 7525 recommends at least 2048 bits "
                         f"for RSA keys, but the key in certificate file '{path}' is only {pub.key_size} bits."))
    oid = cert.signature_algorithm_oid
    if oid not in _SHA2_RSA:
        name = _RSA_SIG_SN.get(oid, oid.dotted_string)
        out.append(("W", "Certificate hash key not SHA-256: RFC 7525 recommends the use of SHA-256 for RSA "
                         f"certificates, but certificate file '{path}' uses '{name}'."))
    return out


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


# --------------------------------------------------------------------------- trust store

def _add_trusted_file(ctx: ssl.SSLContext, path: str, der: bool, queue: _ErrorQueue) -> bool:
    """``X509_LOOKUP_load_file``: PEM = all certificates and CRLs; DER = one certificate."""
    try:
        data = _read(path)
    except IsADirectoryError:
        if der:
            queue.push(_sys_err(_errno.EISDIR), 0x10080002)
        else:
            queue.push(0x05800088)
        return False
    except OSError as exc:
        codes = queue.file_open_failure(exc)
        queue.push(*codes, *(() if der else (0x05880002,)))
        return False
    if der:
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            queue.push(0x068000A8)
            return False
        ctx.load_verify_locations(cadata=cert.public_bytes(serialization.Encoding.DER))
        return True
    if b"-----BEGIN " not in data:
        queue.push(0x05800088)
        return False
    try:
        ctx.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError):
        queue.push(0x05800088)
        return False
    return True


def _add_trusted_dir(ctx: ssl.SSLContext, path: str, der: bool) -> None:
    """``X509_LOOKUP_hash_dir``: never fails up front; PEM is looked up lazily by OpenSSL,
    DER hash-named files (``xxxxxxxx.N``) are loaded now since Python only does PEM lazily."""
    if not der:
        ctx.load_verify_locations(capath=path)
        return
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return
    for name in names:
        stem, dot, num = name.partition(".")
        if len(stem) == 8 and dot and num.isdigit() and all(c in "0123456789abcdef" for c in stem):
            try:
                cert = x509.load_der_x509_certificate(_read(os.path.join(path, name)))
                ctx.load_verify_locations(cadata=cert.public_bytes(serialization.Encoding.DER))
            except (OSError, ValueError, ssl.SSLError):
                continue


# --------------------------------------------------------------------------- DH parameters

# RFC 7919 ffdhe2048 group (2048-bit MODP), used for DHE suites unless +dp is given,
# the counterpart of DCMTK's built-in 2048-bit parameter set.
_FFDHE2048_PEM = (
    "-----BEGIN DH PARAMETERS-----\n"
    "MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz\n"
    "+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a\n"
    "87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7\n"
    "YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi\n"
    "7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD\n"
    "ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==\n"
    "-----END DH PARAMETERS-----\n"
)


def _load_dh_file(ctx: ssl.SSLContext, path: str, profile: str, warnings: list) -> bool:
    """``setTempDHParameters``: warn below 2048 bits, refuse them under ``+pz``."""
    try:
        params = serialization.load_pem_parameters(_read(path))
        bits = params.parameter_numbers().p.bit_length()
    except (OSError, ValueError, AttributeError, TypeError):
        return False
    if bits < 2048:
        warnings.append(("W", "Key length of Diffie-Hellman parameter file too short: RFC 7525 recommends "
                              f"at least 2048 bits, but the key in file '{path}' is only {bits} bits."))
        if profile == "bcp195-ex":
            return False
    try:
        ctx.load_dh_params(path)
    except (OSError, ssl.SSLError):
        return False
    return True


# --------------------------------------------------------------------------- random seed

def _seed_prng(path: str, queue: _ErrorQueue) -> None:
    """``RAND_load_file(path, -1)``: whole regular file, 256 bytes of anything else; a
    missing file is silent in dcmrecv but leaves an error in OpenSSL's queue."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return
        with open(path, "rb") as fh:
            data = fh.read() if stat.S_ISREG(st.st_mode) else fh.read(256)
    except OSError:
        queue.push(0x12000079)
        return
    if data:
        ssl.RAND_add(data, float(len(data)))


def write_random_seed(path: str) -> bool:
    """``RAND_write_file``: 1024 fresh random bytes.  dcmrecv accepts ``+ws``/``+wf`` but
    never calls this (verified: the seed file stays unchanged), so neither do we by default."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(ssl.RAND_bytes(1024))
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- the context

def _fatal(
    message: str, lines: list[tuple[str, str]], exit_code: int = exitcodes.CANNOT_CREATE_TRANSPORT_LAYER
) -> TransportLayerError:
    return TransportLayerError(message, lines, exit_code)


def _cipher_list(settings: TLSSettings, queue: _ErrorQueue) -> tuple[list[int], list[tuple[str, str]]]:
    """DCMTK's ``setTLSProfile`` + ``addCipherSuite``: suite indices, warnings; raises on error."""
    _opt, pname, required, optional_3des, _tls13, _minv = PROFILES[settings.profile]
    warnings: list[tuple[str, str]] = []
    chosen = [_INDEX[name] for name in required]
    if optional_3des:
        chosen.append(_INDEX["TLS_RSA_WITH_3DES_EDE_CBC_SHA"])  # silently useless without 3DES
    # DCMTK walks repeatable options from the rightmost one leftwards.
    for name in reversed(settings.ciphers):
        idx = _INDEX.get(name)
        if idx is None:
            text = "0001:0007 Illegal call, perhaps wrong parameters"
            raise _fatal(text, queue.lines + warnings + [("F", text)])
        if not _supported(idx):
            text = f"000b:0003 Unknown or invalid ciphersuite: {name}"
            raise _fatal(text, queue.lines + warnings + [
                ("F", f"Ciphersuite '{name}' not supported by the OpenSSL library used to compile this application."),
                ("F", text)])
        if settings.profile in ("basic", "aes", "bcp195", "bcp195-nd"):
            if _SUITES[idx][2] == 0:
                text = "000b:000a Ciphersuite not allowed in current DICOM security profile"
                raise _fatal(text, queue.lines + warnings + [
                    ("F", f"Unencrypted ciphersuite '{name}' not permitted with security profile '{pname}'"),
                    ("F", text)])
            kind = "uses RSA key transport" if _SUITES[idx][3] else "uses NO RSA key transport"
            warnings.append(("W", f"Ciphersuite '{name}' {kind}. RFC 7525 recommends that such cipher "
                                  "suites should not be used."))
        elif settings.profile == "bcp195-ex":
            text = "000b:000a Ciphersuite not allowed in current DICOM security profile"
            raise _fatal("--cipher not allowed with --profile-bcp195-ex", queue.lines + warnings + [
                ("F", f"Additional ciphersuites not permitted with security profile '{pname}'"),
                ("F", text)], exit_code=exitcodes.COMMANDLINE_SYNTAX_ERROR)
        chosen.append(idx)
    return chosen, warnings


def _validate(settings: TLSSettings) -> None:
    if settings.profile not in PROFILES:
        raise ValueError(f"unknown TLS profile {settings.profile!r}")
    if settings.password_mode not in ("prompt", "given", "null"):
        raise ValueError(f"unknown password mode {settings.password_mode!r}")
    if settings.key_format not in ("pem", "der"):
        raise ValueError(f"unknown key format {settings.key_format!r}")
    if settings.peer_cert not in ("require", "verify", "ignore"):
        raise ValueError(f"unknown peer certificate mode {settings.peer_cert!r}")
    if settings.crl_mode not in (None, "leaf", "all"):
        raise ValueError(f"unknown CRL mode {settings.crl_mode!r}")


def build_server_context(settings: TLSSettings) -> tuple[ssl.SSLContext, list[tuple[str, str]]]:
    """A server context configured as dcmrecv configures OpenSSL, plus the W:/E: lines dcmrecv
    logs on the way.  Raises :class:`TransportLayerError` where dcmrecv exits 71."""
    _validate(settings)
    queue = _ErrorQueue()
    der = settings.key_format == "der"
    warnings = queue.lines  # E: lines and W: lines interleave in DCMTK's order

    if settings.seed:
        _seed_prng(settings.seed, queue)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.verify_mode = ssl.CERT_NONE

    workdir = tempfile.mkdtemp(prefix="dcmrecv-tls-")  # mode 0700
    try:
        dh_path = os.path.join(workdir, "dh.pem")
        with open(dh_path, "w") as fh:
            fh.write(_FFDHE2048_PEM)
        ctx.load_dh_params(dh_path)

        for path in reversed(settings.ca_files):
            if not _add_trusted_file(ctx, path, der, queue):
                queue.log_first()
                warnings.append(("W", f"unable to load certificate file '{path}', ignoring"))
        for path in reversed(settings.ca_dirs):
            _add_trusted_dir(ctx, path, der)
        crl_mode = None
        for path in reversed(settings.crl_files):
            if not _add_trusted_file(ctx, path, der, queue):
                queue.log_first()
                warnings.append(("W", f"unable to load CRL file '{path}', ignoring"))
            crl_mode = "leaf"
        crl_mode = settings.crl_mode or crl_mode
        if crl_mode == "leaf":
            ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        elif crl_mode == "all":
            ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN

        _load_identity(ctx, settings, queue, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    chosen, cs_warnings = _cipher_list(settings, queue)
    warnings.extend(cs_warnings)
    _opt, _pname, _req, _o3, tls13, min_version = PROFILES[settings.profile]
    names = [_SUITES[i][1] for i in sorted(set(chosen), reverse=True)]
    try:
        ctx.set_ciphers(":".join(names) + ":@SECLEVEL=0")
    except ssl.SSLError:
        queue.push(_ERR_NO_CIPHER_MATCH)
        queue.log_first()
        text = f"000b:{2048 + 185:04x} TLS error: no cipher match"
        raise _fatal(text, queue.lines + [("F", text)]) from None
    with warnings_module.catch_warnings():  # TLS 1.0/1.1 are deprecated in Python, not in DCMTK
        warnings_module.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = min_version
    ctx.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED if tls13 else ssl.TLSVersion.TLSv1_2

    if settings.dhparam and not _load_dh_file(ctx, settings.dhparam, settings.profile, warnings):
        warnings.append(("W", f"unable to load temporary DH parameter file '{settings.dhparam}', ignoring"))

    ctx.verify_mode = {"require": ssl.CERT_REQUIRED, "verify": ssl.CERT_OPTIONAL,
                       "ignore": ssl.CERT_NONE}[settings.peer_cert]
    return ctx, list(warnings)


def _load_identity(ctx: ssl.SSLContext, settings: TLSSettings, queue: _ErrorQueue, workdir: str) -> None:
    """Private key, then certificate, then the match check, with DCMTK's messages.

    DCMTK ignores a certificate that fails to load (only the E: line shows) and then
    reports the pair as mismatched.  Python gets the key re-encrypted with a one-time
    password in a private temporary directory that the caller deletes right away.
    """
    key = _load_private_key(settings, queue)
    if key is None:
        queue.log_first()
        text = f"000b:0004 Unable to load private TLS key from '{settings.key_file}'"
        raise _fatal(text, queue.lines + [("F", text)])
    mismatch = f"000b:0006 Private key '{settings.key_file}' and certificate '{settings.cert_file}' do not match"
    cert = _load_certificate(settings, queue)
    if cert is None:
        queue.log_first()
        raise _fatal(mismatch, queue.lines + [("F", mismatch)])
    queue.lines.extend(_certificate_warnings(cert, settings.cert_file))
    if _spki(cert.public_key()) != _spki(key.public_key()):
        raise _fatal(mismatch, queue.lines + [("F", mismatch)])

    one_time = secrets.token_urlsafe(24)
    key_path = os.path.join(workdir, "key.pem")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(one_time.encode())))
    cert_path = settings.cert_file
    if settings.key_format == "der":
        cert_path = os.path.join(workdir, "cert.pem")
        with open(cert_path, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
    try:
        ctx.load_cert_chain(cert_path, key_path, password=one_time)
    except (ssl.SSLError, OSError):
        raise _fatal(mismatch, queue.lines + [("F", mismatch)]) from None
    finally:
        os.unlink(key_path)


# --------------------------------------------------------------------------- peer subject

_NAME_SN = {
    NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC", NameOID.USER_ID: "UID", NameOID.STREET_ADDRESS: "street",
    NameOID.TITLE: "title", NameOID.GIVEN_NAME: "GN", NameOID.SURNAME: "SN",
    NameOID.INITIALS: "initials", NameOID.PSEUDONYM: "pseudonym",
    NameOID.GENERATION_QUALIFIER: "generationQualifier", NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.POSTAL_CODE: "postalCode", NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}


def _oneline_value(value: str) -> str:
    """``X509_NAME_oneline`` escapes bytes outside printable ASCII as ``\\xHH``."""
    out = []
    for b in value.encode("utf-8"):
        out.append(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02X}")
    return "".join(out)


def format_x509_name(name: x509.Name) -> str:
    """OpenSSL one-line form, e.g. ``/C=DE/O=Test/CN=server`` (DCMTK logs this form)."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _NAME_SN.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"/{key}={_oneline_value(value)}")
    return "".join(parts)


def peer_subject(sslsock) -> str | None:
    """Subject of the certificate the peer presented, or None (no certificate / not TLS)."""
    try:
        der = sslsock.getpeercert(binary_form=True)
    except (AttributeError, ValueError, OSError):
        return None
    if not der:
        return None
    try:
        return format_x509_name(x509.load_der_x509_certificate(der).subject)
    except ValueError:
        return None


def _key_type_and_bits(public_key) -> tuple[str, int]:
    """DCMTK names only RSA, DSA and DH; bits as ``EVP_PKEY_bits``."""
    from cryptography.hazmat.primitives.asymmetric import dh, dsa, ed448, ed25519, x448, x25519

    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    if isinstance(public_key, dh.DHPublicKey):
        return "DH", public_key.key_size
    if isinstance(public_key, (ed25519.Ed25519PublicKey, x25519.X25519PublicKey)):
        return "unknown", 253
    if isinstance(public_key, (ed448.Ed448PublicKey, x448.X448PublicKey)):
        return "unknown", 456
    return "unknown", getattr(public_key, "key_size", 0)


def _asn1_time(when) -> str:
    """``ASN1_TIME_print`` form: ``Nov  6 17:25:49 2026 GMT``."""
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S %Y} GMT"


def connection_details_lines(sslsock) -> list[str]:
    """The lines of DCMTK's debug dump after a handshake (each is logged as ``D: <line>``),
    from ``BEGIN TLS CONNECTION DETAILS`` to ``END TLS CONNECTION DETAILS``."""
    name, _proto, bits = sslsock.cipher()
    lines = ["================== BEGIN TLS CONNECTION DETAILS =================",
             "Transport connection: TLS over TCP/IP",
             f"  Protocol    : {sslsock.version()}",
             f"  Ciphersuite : {name}, encryption: {bits} bits"]
    der = sslsock.getpeercert(binary_form=True)
    if not der:
        lines.append("Peer did not provide a certificate or certificate verification is disabled.")
    else:
        cert = x509.load_der_x509_certificate(der)
        serial = cert.serial_number if cert.serial_number < 2 ** 63 else -1
        kind, key_bits = _key_type_and_bits(cert.public_key())
        lines += [f"Peer X.509v{cert.version.value + 1} Certificate",
                  f"  Subject     : {format_x509_name(cert.subject)}",
                  f"  Issued by   : {format_x509_name(cert.issuer)}",
                  f"  Serial no.  : {serial}",
                  f"  Validity    : not before {_asn1_time(cert.not_valid_before_utc)}, "
                  f"not after {_asn1_time(cert.not_valid_after_utc)}",
                  f"  Public key  : {kind}, {key_bits} bits"]
    lines.append("=================== END TLS CONNECTION DETAILS ==================")
    return lines
