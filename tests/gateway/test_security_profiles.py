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
from tests.gateway.certificates import Pki

PASSWORD = "profile-station-secret"


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
async def tls_gateway(settings, temporal_client, database_url, db, pki):
    settings.gateway_tls_cert_file, settings.gateway_tls_key_file = pki.issue(
        "127.0.0.1", server=True
    )
    settings.gateway_tls_client_ca_file = pki.ca_file
    with db.session() as s:
        for station_id, profile in (("P1", 1), ("P2", 2), ("P3", 3)):
            s.add(
                Station(
                    id=station_id, password_hash=hash_password(PASSWORD), security_profile=profile
                )
            )
    gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await gw.start(host="127.0.0.1", port=0, tls_port=0)
    yield gw
    await gw.stop()


def client_context(pki: Pki, cn: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca_file)
    if cn is not None:
        cert, key = pki.issue(cn)
        context.load_cert_chain(cert, key)
    return context


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


async def test_profile_1_over_ws_and_wss(tls_gateway, pki):
    assert await status_of(connect(tls_gateway, "P1", tls=None)) == 101
    assert await status_of(connect(tls_gateway, "P1", tls=client_context(pki, None))) == 101
    assert await status_of(connect(tls_gateway, "P1", tls=None, password="wrong-one")) == 401


async def test_profile_2_needs_tls_and_password(tls_gateway, pki):
    assert await status_of(connect(tls_gateway, "P2", tls=client_context(pki, None))) == 101
    # Downgrade: the same credentials over plain ws are refused.
    assert await status_of(connect(tls_gateway, "P2", tls=None)) == 401
    assert (
        await status_of(
            connect(tls_gateway, "P2", tls=client_context(pki, None), password="wrong-one")
        )
        == 401
    )


async def test_profile_3_needs_its_own_client_certificate(tls_gateway, pki):
    ok = connect(tls_gateway, "P3", tls=client_context(pki, "P3"), password=None)
    assert await status_of(ok) == 101
    no_cert = connect(tls_gateway, "P3", tls=client_context(pki, None))
    assert await status_of(no_cert) == 401
    other = connect(tls_gateway, "P3", tls=client_context(pki, "P1"), password=None)
    assert await status_of(other) == 401
    assert await status_of(connect(tls_gateway, "P3", tls=None)) == 401


async def test_certificate_from_another_ca_is_refused_at_tls(tls_gateway, pki, tmp_path):
    (tmp_path / "stranger").mkdir()
    stranger = Pki(tmp_path / "stranger", name="Stranger CA")
    context = ssl.create_default_context(cafile=pki.ca_file)
    context.load_cert_chain(*stranger.issue("P3"))
    with pytest.raises((ssl.SSLError, OSError, InvalidMessage, InvalidStatus)):
        ws = await connect(tls_gateway, "P3", tls=context, password=None)
        await ws.recv()
