"""Test PKI built at test time with ``cryptography``: two CAs, server/client/expired
certificates, an encrypted key, DER variants and a CRL.  Why: TLS tests need real
files that both our code and DCMTK's binaries can read."""

from __future__ import annotations

import datetime as _dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .tools import OPENSSL

PASSWORD = "s3cret pass"


def _name(cn: str, org: str = "Test") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _cert(subject, key, issuer, issuer_key, *, ca: bool, serial: int,
          not_before: _dt.datetime, not_after: _dt.datetime) -> x509.Certificate:
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(serial)
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_key(path: Path, key, *, password: str | None = None, der: bool = False) -> None:
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if not der else serialization.PrivateFormat.PKCS8
    path.write_bytes(key.private_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM,
                                       fmt, enc))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate, *, der: bool = False) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM))


@dataclass
class PKI:
    """File names are relative to ``root`` (DCMTK messages quote them as given)."""

    root: Path
    client_serial: int


def make_pki(root: Path) -> PKI:
    """Write every file the TLS tests use into ``root``."""
    now = _dt.datetime.now(_dt.timezone.utc)
    start, end = now - _dt.timedelta(days=1), now + _dt.timedelta(days=30)

    ca_key, ca2_key = _key(), _key()
    ca = _cert(_name("Test CA"), ca_key, _name("Test CA"), ca_key, ca=True, serial=1,
               not_before=start, not_after=end)
    ca2 = _cert(_name("Other CA", "Other"), ca2_key, _name("Other CA", "Other"), ca2_key, ca=True,
                serial=1, not_before=start, not_after=end)
    srv_key, cli_key, exp_key, foreign_key, other_key = _key(), _key(), _key(), _key(), _key()
    srv = _cert(_name("server"), srv_key, ca.subject, ca_key, ca=False, serial=100,
                not_before=start, not_after=end)
    cli = _cert(_name("client"), cli_key, ca.subject, ca_key, ca=False, serial=101,
                not_before=start, not_after=end)
    expired = _cert(_name("expired"), exp_key, ca.subject, ca_key, ca=False, serial=102,
                    not_before=now - _dt.timedelta(days=60), not_after=now - _dt.timedelta(days=30))
    foreign = _cert(_name("foreign", "Other"), foreign_key, ca2.subject, ca2_key, ca=False, serial=103,
                    not_before=start, not_after=end)

    _write_cert(root / "ca.pem", ca)
    _write_cert(root / "ca.der", ca, der=True)
    _write_cert(root / "ca2.pem", ca2)
    _write_key(root / "ca2.key", ca2_key)
    for stem, key, cert in (("server", srv_key, srv), ("client", cli_key, cli),
                            ("expired", exp_key, expired), ("foreign", foreign_key, foreign)):
        _write_key(root / f"{stem}.key", key)
        _write_cert(root / f"{stem}.pem", cert)
    _write_key(root / "other.key", other_key)
    _write_key(root / "server_enc.key", srv_key, password=PASSWORD)
    _write_key(root / "server.der", srv_key, der=True)
    _write_cert(root / "server_cert.der", srv, der=True)
    # a chain file: leaf then CA (PEM certificate files may hold a chain)
    (root / "server_chain.pem").write_bytes((root / "server.pem").read_bytes() + (root / "ca.pem").read_bytes())

    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(ca.subject).last_update(start).next_update(end)
           .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                    .serial_number(cli.serial_number).revocation_date(start).build())
           .sign(ca_key, hashes.SHA256()))
    (root / "revoked_client.crl").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    empty_crl = (x509.CertificateRevocationListBuilder()
                 .issuer_name(ca.subject).last_update(start).next_update(end)
                 .sign(ca_key, hashes.SHA256()))
    (root / "empty.crl").write_bytes(empty_crl.public_bytes(serialization.Encoding.PEM))
    return PKI(root=root, client_serial=cli.serial_number)


def make_hash_dir(directory: Path, *certificates: Path) -> Path:
    """A ``+cd`` directory: each PEM certificate under its OpenSSL subject hash (``xxxxxxxx.0``),
    as ``c_rehash`` would name it (OpenSSL's hash lookup finds nothing else)."""
    directory.mkdir(parents=True, exist_ok=True)
    for cert in certificates:
        digest = subprocess.run([OPENSSL, "x509", "-hash", "-noout", "-in", str(cert)],
                                capture_output=True, text=True, check=True).stdout.strip()
        shutil.copyfile(cert, directory / f"{digest}.0")
    return directory


def write_dh_params(path: Path) -> Path:
    """PEM DH parameters for ``+dp``: the RFC 7919 ffdhe2048 group (instant, unlike ``openssl dhparam``)."""
    pem = subprocess.run([OPENSSL, "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048"],
                         capture_output=True, text=True, check=True).stdout
    path.write_text(pem)
    return path
