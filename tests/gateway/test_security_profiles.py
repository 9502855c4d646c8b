"""OCPP security profiles 1-3 with generated certificates, and no downgrade."""

from __future__ import annotations

import ssl

import pytest
import websockets
from websockets.exceptions import InvalidMessage, InvalidStatus

from chargers import basic_auth_header
from domain.credentials import hash_password
from gateway.server import Gateway
from store.tables import Station
from tests.gateway.certificates import Pki, tls_gateway

PASSWORD = "profile-station-secret"


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
async def gw(settings, temporal_client, database_url, db, pki):
    with db.session() as s:
        for station_id, profile in (("P1", 1), ("P2", 2), ("P3", 3)):
            s.add(
                Station(
                    id=station_id, password_hash=hash_password(PASSWORD), security_profile=profile
                )
            )
    async with tls_gateway(settings, temporal_client, database_url, pki) as gateway:
        yield gateway


async def connect(gw: Gateway, station: str, *, tls: ssl.SSLContext | None, password=PASSWORD):
    scheme, port = ("wss", gw.tls_port) if tls else ("ws", gw.port)
    headers = basic_auth_header(station, password) if password else {}
    return await websockets.connect(
        f"{scheme}://127.0.0.1:{port}/ocpp/{station}",
        subprotocols=["ocpp1.6"],
        additional_headers=headers,
        ssl=tls,
    )


async def status_of(coro) -> int:
    try:
        ws = await coro
    except InvalidStatus as refused:
        return refused.response.status_code
    await ws.close()
    return 101


async def test_profile_1_over_ws_and_wss(gw, pki):
    assert await status_of(connect(gw, "P1", tls=None)) == 101
    assert await status_of(connect(gw, "P1", tls=pki.client_context(None))) == 101
    assert await status_of(connect(gw, "P1", tls=None, password="wrong-one")) == 401


async def test_profile_2_needs_tls_and_password(gw, pki):
    assert await status_of(connect(gw, "P2", tls=pki.client_context(None))) == 101
    # Downgrade: the same credentials over plain ws are refused.
    assert await status_of(connect(gw, "P2", tls=None)) == 401
    assert (
        await status_of(connect(gw, "P2", tls=pki.client_context(None), password="wrong-one"))
        == 401
    )


async def test_profile_3_needs_its_own_client_certificate(gw, pki):
    ok = connect(gw, "P3", tls=pki.client_context("P3"), password=None)
    assert await status_of(ok) == 101
    no_cert = connect(gw, "P3", tls=pki.client_context(None))
    assert await status_of(no_cert) == 401
    other = connect(gw, "P3", tls=pki.client_context("P1"), password=None)
    assert await status_of(other) == 401
    assert await status_of(connect(gw, "P3", tls=None)) == 401


async def test_certificate_from_another_ca_is_refused_at_tls(gw, pki, tmp_path):
    (tmp_path / "stranger").mkdir()
    stranger = Pki(tmp_path / "stranger", name="Stranger CA")
    context = ssl.create_default_context(cafile=pki.ca_file)
    context.load_cert_chain(*stranger.issue("P3"))
    with pytest.raises((ssl.SSLError, OSError, InvalidMessage, InvalidStatus)):
        ws = await connect(gw, "P3", tls=context, password=None)
        await ws.recv()


# OCPP 2.0.1 A00.FR.318: the four TLS 1.2 suites a CSMS supports (OpenSSL names).
REQUIRED_SUITES = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",  # TLS_RSA_WITH_AES_128_GCM_SHA256: needs the RSA certificate
    "AES256-GCM-SHA384",
]


def tls12_only(pki: Pki, suite: str) -> ssl.SSLContext:
    context = pki.client_context(None)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(suite)
    return context


@pytest.mark.parametrize("suite", REQUIRED_SUITES)
async def test_the_required_tls12_suites_with_an_ecdsa_and_an_rsa_certificate(
    settings, temporal_client, database_url, db, pki, suite
):
    settings.gateway_tls_rsa_cert_file, settings.gateway_tls_rsa_key_file = pki.issue(
        "127.0.0.1", server=True, rsa_key=True
    )
    with db.session() as s:
        s.add(Station(id="P2", password_hash=hash_password(PASSWORD), security_profile=2))
    async with tls_gateway(settings, temporal_client, database_url, pki) as gateway:
        ws = await connect(gateway, "P2", tls=tls12_only(pki, suite))
        try:
            assert ws.transport.get_extra_info("ssl_object").cipher()[0] == suite
        finally:
            await ws.close()


async def test_static_rsa_suites_need_the_rsa_certificate(gw, pki):
    with pytest.raises((ssl.SSLError, OSError)):
        await connect(gw, "P2", tls=tls12_only(pki, "AES128-GCM-SHA256"))
    ws = await connect(gw, "P2", tls=tls12_only(pki, "ECDHE-ECDSA-AES128-GCM-SHA256"))
    await ws.close()
