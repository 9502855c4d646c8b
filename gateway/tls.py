"""TLS for the gateway: the server context and what a client certificate says."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert_file: Path, key_file: Path, client_ca_file: Path | None) -> ssl.SSLContext:
    """TLS 1.2+ server context. With a client CA, station certificates are verified when sent
    (optional at the TLS layer, so profile-2 stations without one can still connect; profile-3
    stations are refused at the handshake when they send none)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
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
