"""Certificates made by the tests (a CA, a server certificate for 127.0.0.1, client certificates,
CSRs) and a gateway with its TLS listener whose client CA and station CA is that test CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from temporalio.client import Client

from gateway.server import Gateway
from runtime.settings import Settings


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, key, cert: x509.Certificate) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Pki:
    """A throwaway certificate authority in a directory."""

    def __init__(self, directory: Path, name: str = "Ampflow Test CA") -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file, self.ca_key_file = _write(
            directory / name.replace(" ", "-"), self.key, self.cert
        )

    def issue(self, cn: str, *, server: bool = False, rsa_key: bool = False) -> tuple[Path, Path]:
        key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP256R1())
        )
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        name = f"{cn}-rsa" if rsa_key else cn
        return _write(self.directory / f"{name}.pem", key, cert)  # .pem: `cn` may hold dots

    def client_context(self, cn: str | None = None) -> ssl.SSLContext:
        """A station's TLS context trusting this CA, with a certificate for `cn` if given."""
        context = ssl.create_default_context(cafile=self.ca_file)
        if cn is not None:
            context.load_cert_chain(*self.issue(cn))
        return context


def csr(cn: str, key=None, *, extra_cn: str | None = None) -> tuple[str, object]:
    """A PEM CSR for `cn` (and its key: P-256 unless given); `extra_cn` adds a second CN."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if extra_cn is not None:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, extra_cn))
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode(), key


def weak_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def write_chain(directory: Path, name: str, chain_pem: str, key) -> tuple[Path, Path]:
    """Files a station loads to present a certificate chain it was sent."""
    cert_path, key_path = directory / f"{name}.chain.pem", directory / f"{name}.chain.key"
    cert_path.write_text(chain_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@asynccontextmanager
async def tls_gateway(
    settings: Settings, temporal_client: Client, database_url: str, pki: Pki
) -> AsyncIterator[Gateway]:
    """A gateway on ws:// and wss:// (both on free ports): its server certificate, the CA of
    station certificates (profile 3) and the CA that signs stations' CSRs are all `pki`'s."""
    settings.gateway_tls_cert_file, settings.gateway_tls_key_file = pki.issue(
        "127.0.0.1", server=True
    )
    settings.gateway_tls_client_ca_file = pki.ca_file
    settings.station_ca_cert_file, settings.station_ca_key_file = pki.ca_file, pki.ca_key_file
    gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await gw.start(host="127.0.0.1", port=0, tls_port=0)
    try:
        yield gw
    finally:
        await gw.stop()
