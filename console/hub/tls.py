"""TLS for the hub: a certificate given by the operator, or a self-signed one made once.

Phones reach the hub over the centre's network, so the field link runs over wss://. A
centre without a PKI uses ``--tls-self-signed``: the key and certificate are generated on
first start under the data dir and reused afterwards; the SHA-256 fingerprint printed at
start is what officers compare (or pin) at enrolment.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SELF_SIGNED_DIR = "tls"
CERT_FILE = "hub-cert.pem"
KEY_FILE = "hub-key.pem"
VALIDITY_DAYS = 3650


class TlsError(Exception):
    """The certificate or key cannot be used."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path

    def fingerprint(self) -> str:
        return fingerprint_sha256(self.cert)


def self_signed(directory: Path, hostnames: tuple[str, ...] = ()) -> TlsFiles:
    """The self-signed pair under ``directory``, generated on the first call only."""
    files = TlsFiles(directory / CERT_FILE, directory / KEY_FILE)
    if files.cert.exists() and files.key.exists():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    names = tuple(dict.fromkeys(("localhost", socket.gethostname(), *hostnames)))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alt_names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key is written owner-only before the certificate: a crash leaves no cert without key.
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def fingerprint_sha256(cert_path: Path) -> str:
    """``AB:CD:…`` SHA-256 over the DER certificate, as browsers show it."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot read certificate {cert_path}: {exc}") from exc
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A TLS 1.2+ server context for the hub's port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load certificate {files.cert} / key {files.key}: {exc}") from exc
    return context


def client_context_trusting(cert_path: Path) -> ssl.SSLContext:
    """A client context that trusts exactly this (self-signed) certificate."""
    context = ssl.create_default_context(cafile=str(cert_path))
    return context
