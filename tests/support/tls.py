"""A CA made at test time (trustme), with the broker's and a client's certificates in the
files that Kafka and Hookline read."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12


@dataclass(frozen=True)
class TlsFiles:
    dir: Path
    ca: Path  # the CA's certificate: HOOKLINE_KAFKA_SSL_CA_FILE
    client_cert: Path  # a client certificate for mutual TLS
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: an untrusted broker for the client


def make_tls(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    broker = ca.issue_cert("127.0.0.1", "localhost")
    password = secrets.token_hex(8)
    (directory / "broker.p12.password").write_text(password)
    (directory / "broker.p12").write_bytes(_pkcs12(broker, password))
    client = ca.issue_cert("hookline-client.test", common_name="hookline-client")
    client.cert_chain_pems[0].write_to_path(str(directory / "client.pem"))
    client.private_key_pem.write_to_path(str(directory / "client.key"))
    trustme.CA().cert_pem.write_to_path(str(directory / "other-ca.pem"))
    return TlsFiles(
        dir=directory,
        ca=directory / "ca.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.pem",
    )


def _pkcs12(cert: trustme.LeafCert, password: str) -> bytes:
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    chain = [x509.load_pem_x509_certificate(p.bytes()) for p in cert.cert_chain_pems]
    return pkcs12.serialize_key_and_certificates(
        b"broker",
        key,  # type: ignore[arg-type]
        chain[0],
        chain[1:],
        serialization.BestAvailableEncryption(password.encode()),
    )
