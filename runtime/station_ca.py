"""The operator's certificate authority for station certificates (OCPP 2.0.1 A02/A03, 1.6 security
whitepaper: SignCertificate -> CertificateSigned).

`AMPFLOW_STATION_CA_CERT_FILE` / `AMPFLOW_STATION_CA_KEY_FILE` name the CA (PEM; the certificate
file may carry the CA's own chain after it, leaf first). Unset, an ECDSA P-256 CA is generated
once under `AMPFLOW_DATA_DIR/station_ca/` (key mode 0600) at the first certificate request, as
the dev stack and tests want; a deployment with several gateways sets the files so all sign with
one CA.

A CSR is signed only if it is well formed, its signature verifies, its key is RSA of 2048 bits or
more or ECDSA on P-256/P-384/P-521, it is signed with SHA-256 or stronger, and its subject has
exactly one common name, equal to the authenticated station's id: a station never gets a
certificate for another station's identity.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runtime.settings import Settings

MIN_RSA_BITS = 2048
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate a station clock a little behind
_LOCK = threading.Lock()
_BOTH = [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
_USAGES = {
    "ChargingStationCertificate": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "V2GCertificate": [ExtendedKeyUsageOID.SERVER_AUTH],
}


class CsrRefused(ValueError):
    """The CSR is not signed: `reason` is a short code (OCPP reasonCode, max 20 characters)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StationCa:
    """A loaded CA: its certificate, key and the chain sent after a station's certificate."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]  # the CA certificate first, then its issuers
    validity: dt.timedelta

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


@dataclass(frozen=True, slots=True)
class SignedCertificate:
    certificate: x509.Certificate
    chain_pem: str  # the station's certificate, then the CA chain (PEM)

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")

    @property
    def fingerprint_sha256(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def station_ca(settings: Settings) -> StationCa:
    """The configured CA, or the embedded one (generated on first use)."""
    cert_file, key_file = settings.station_ca_cert_file, settings.station_ca_key_file
    if (cert_file is None) != (key_file is None):
        raise ValueError("set both AMPFLOW_STATION_CA_CERT_FILE and AMPFLOW_STATION_CA_KEY_FILE")
    if cert_file is None or key_file is None:
        cert_file, key_file = embedded_ca_files(settings.data_dir)
    return _load(str(cert_file), str(key_file), settings.station_certificate_validity_days)


def embedded_ca_files(data_dir: Path) -> tuple[Path, Path]:
    """`data_dir/station_ca/ca.crt` and `ca.key`, created once. Both are written into a fresh
    directory renamed into place in one step, so a process never sees one without the other and
    of two processes racing on a first run, one CA wins."""
    directory = data_dir / "station_ca"
    cert_file, key_file = directory / "ca.crt", directory / "ca.key"
    with _LOCK:
        if cert_file.exists() and key_file.exists():
            return cert_file, key_file
        data_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".station_ca.", dir=data_dir))
        key, cert = _new_ca()
        fd = os.open(staging / "ca.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        (staging / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        staging.chmod(0o700)
        try:
            os.rename(staging, directory)
        except OSError:  # another process created it first: use that one
            shutil.rmtree(staging, ignore_errors=True)
        return cert_file, key_file


def _new_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ampflow"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Ampflow Station CA"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@cache
def _load(cert_file: str, key_file: str, validity_days: int) -> StationCa:
    chain = tuple(x509.load_pem_x509_certificates(Path(cert_file).read_bytes()))
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the station CA key must be RSA or ECDSA")
    if chain[0].public_key() != key.public_key():
        raise ValueError(f"{cert_file} does not belong to the key in {key_file}")
    return StationCa(chain[0], key, chain, dt.timedelta(days=validity_days))


def check_csr(csr_pem: str, station_id: str) -> x509.CertificateSigningRequest:
    """The CSR if this station may have it signed, else `CsrRefused`."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except (ValueError, UnsupportedAlgorithm) as err:
        raise CsrRefused("InvalidCSR", "not a PEM-encoded PKCS#10 certificate request") from err
    try:
        if not csr.is_signature_valid:
            raise CsrRefused("InvalidSignature", "the CSR's signature does not verify")
        key = csr.public_key()
        algorithm = csr.signature_hash_algorithm
    except CsrRefused:
        raise
    except (ValueError, UnsupportedAlgorithm) as err:
        raise CsrRefused("InvalidCSR", f"the CSR cannot be read: {err}") from err
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRefused("KeyTooShort", f"RSA key of {key.key_size} bits (min {MIN_RSA_BITS})")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _CURVES):
            raise CsrRefused("UnsupportedKey", f"curve {key.curve.name} (P-256, P-384, P-521 only)")
    else:
        raise CsrRefused("UnsupportedKey", f"{type(key).__name__} keys are not signed (RSA, ECDSA)")
    if not isinstance(algorithm, _HASHES):
        name = algorithm.name if algorithm else "none"
        raise CsrRefused("WeakSignature", f"CSR signed with {name} (SHA-256 or stronger)")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CsrRefused("InvalidSubject", "the CSR's subject needs exactly one common name")
    if names[0].value != station_id:
        raise CsrRefused(
            "WrongIdentity",
            f"common name {names[0].value!r} is not this station's identity {station_id!r}",
        )
    return csr


def sign_csr(
    ca: StationCa, csr: x509.CertificateSigningRequest, certificate_type: str | None = None
) -> SignedCertificate:
    """A certificate for the CSR's key and subject (CN, and O if given), nothing more: the CSR's
    own extensions are not copied. Its use follows `certificate_type`: ChargingStationCertificate
    a TLS client (the station towards the CSMS), V2GCertificate a TLS server (the station
    towards the EV), none (1.6, or a 2.0.1 combined certificate) both."""
    subject = x509.Name(
        [
            attribute
            for attribute in csr.subject
            if attribute.oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        ]
    )
    key = csr.public_key()
    now = dt.datetime.now(dt.UTC)
    not_after = min(now + ca.validity, ca.certificate.not_valid_after_utc)
    is_rsa = isinstance(key, rsa.RSAPublicKey)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, is_rsa, False, not is_rsa, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(_USAGES.get(certificate_type, _BOTH)),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)  # type: ignore[arg-type]
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return SignedCertificate(certificate, pem + ca.chain_pem())
