"""Keys and certificates for local registries: a TLS chain and a token-signing key.

Everything is generated fresh with ``cryptography`` and written as PEM files, so no
test depends on material checked into the repository.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=2)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a registry served over HTTPS."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def write_tls_files(directory: Path) -> TlsFiles:
    """Write a fresh CA and a server certificate for 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(server_key, ca_key, ca_cert)

    files = TlsFiles(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server-key.pem",
    )
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    write_private_key(files.key_file, server_key)
    return files


def self_signed_certificate(
    key: ec.EllipticCurvePrivateKey, name: str
) -> x509.Certificate:
    """A self-signed certificate for ``key``, as a token server's trust anchor."""
    subject = _name(name)
    builder = _base_builder(subject, subject, key.public_key())
    builder = builder.add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    return builder.sign(key, hashes.SHA256())


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def libtrust_key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The key id distribution expects in a token's ``kid`` header.

    libtrust hashes the DER SubjectPublicKeyInfo with SHA-256, keeps 30 bytes,
    encodes them in base32 and groups the 48 characters in fours joined by ``:``.
    """
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    subject = _name("Regsweep test CA")
    builder = _base_builder(subject, subject, key.public_key())
    builder = (
        builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    )
    return builder.sign(key, hashes.SHA256())


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
) -> x509.Certificate:
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
    ]
    builder = _base_builder(_name("127.0.0.1"), ca_cert.subject, key.public_key())
    builder = (
        builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(ca_key, hashes.SHA256())


def _base_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
