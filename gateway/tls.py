"""TLS for the gateway: the server context and what a client certificate says."""

from __future__ import annotations

import ssl
from pathlib import Path

# OCPP 2.0.1 A00.FR.318 (and the 1.6 security whitepaper): the CSMS supports these four suites on
# TLS 1.2; forward-secret ECDHE suites come first, so a station offering them never gets the
# static-RSA ones, which need the RSA certificate (`rsa_cert_file`) to be chosen at all.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
    ]
)


def server_context(
    cert_file: Path,
    key_file: Path,
    client_ca_file: Path | None,
    rsa_cert_file: Path | None = None,
    rsa_key_file: Path | None = None,
) -> ssl.SSLContext:
    """TLS 1.2+ server context. With a client CA, station certificates are verified when sent
    (optional at the TLS layer, so profile-2 stations without one can still connect; profile-3
    stations are refused at the handshake when they send none). A second (RSA) certificate
    serves stations limited to the RSA suites while the first (e.g. ECDSA) serves the rest."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)  # TLS 1.3 suites are configured apart and stay on
    context.load_cert_chain(cert_file, key_file)
    if rsa_cert_file is not None and rsa_key_file is not None:
        context.load_cert_chain(rsa_cert_file, rsa_key_file)
    if client_ca_file is not None:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def peer_common_name(ssl_object: ssl.SSLObject | None) -> str | None:
    """The subject CN of the verified client certificate, if the peer sent one."""
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    if not certificate:
        return None
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None
