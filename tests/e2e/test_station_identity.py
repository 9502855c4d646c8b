"""Station identity at the WebSocket handshake, over real sockets against a running gateway.

Only a registered station with its HTTP Basic password gets in (OCPP security profile 1). Every
refusal is answered with the right HTTP status, logged by `gateway.server` and, when the path
names a station, recorded as a `HandshakeRefused` station event. A station reconnecting replaces
its previous socket once the new one speaks (or stays past a grace period); a second socket that
closes without a word leaves the first one working.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid

import orjson
import pytest
import websockets
from sqlmodel import select
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ampflow.seed import DEMO_STATION
from chargers import basic_auth_header
from store.tables import Station, StationEvent
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually

LOGGER = "gateway.server"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _refused(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, open_timeout=10, **kwargs):
            pass
    return refused.value.response.status_code


def _events(db, station_id: str) -> list[StationEvent]:
    with db.session() as session:
        query = select(StationEvent).where(StationEvent.station_id == station_id)
        return list(session.exec(query.order_by(StationEvent.id)).all())


def _refusal_logs(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno >= logging.WARNING and "refused" in r.getMessage()
    ]


async def _heartbeat(ws) -> list:
    unique_id = uuid.uuid4().hex
    await ws.send(orjson.dumps([2, unique_id, "Heartbeat", {}]).decode())
    answer = orjson.loads(await ws.recv())
    assert answer[:2] == [3, unique_id]
    return answer


@pytest.mark.parametrize(
    ("station", "headers", "reason"),
    [
        (DEMO_STATION, _basic(DEMO_STATION, "not-the-password"), "wrong password"),
        (DEMO_STATION, _basic("DEMO-2", DEMO_PASSWORD), "Basic user does not match"),
        (DEMO_STATION, {}, "missing or malformed Basic credentials"),
        (DEMO_STATION, {"Authorization": "Bearer abc"}, "missing or malformed"),
        (DEMO_STATION, {"Authorization": "Basic !!!not-base64"}, "missing or malformed"),
        (
            DEMO_STATION,
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            "missing or malformed",
        ),
    ],
    ids=["wrong-password", "wrong-user", "no-authorization", "not-basic", "bad-base64", "no-colon"],
)
async def test_bad_credentials_are_refused_with_401(
    seeded, gateway_url, caplog, station, headers, reason
):
    caplog.set_level(logging.INFO, logger=LOGGER)
    status = await _refused(
        f"{gateway_url}/{station}", subprotocols=["ocpp1.6"], additional_headers=headers
    )
    assert status == 401
    logs = _refusal_logs(caplog)
    assert len(logs) == 1
    assert station in logs[0] and reason in logs[0]
    events = _events(seeded, station)
    assert [e.kind for e in events] == ["HandshakeRefused"]
    assert reason in events[0].detail["reason"]


async def test_unknown_station_is_refused_with_404(seeded, gateway_url, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    status = await _refused(
        f"{gateway_url}/NO-SUCH-STATION",
        subprotocols=["ocpp1.6"],
        additional_headers=_basic("NO-SUCH-STATION", DEMO_PASSWORD),
    )
    assert status == 404
    logs = _refusal_logs(caplog)
    assert len(logs) == 1 and "NO-SUCH-STATION" in logs[0] and "unknown station" in logs[0]
    events = _events(seeded, "NO-SUCH-STATION")
    assert [(e.kind, e.detail["reason"]) for e in events] == [
        ("HandshakeRefused", "unknown station")
    ]


@pytest.mark.parametrize("path", ["/ocpp", "/ocpp/", "/other/DEMO-1", "/", "/ocpp/DEMO-1/extra"])
async def test_path_that_is_not_a_station_path_is_refused_with_404(seeded, gateway, caplog, path):
    caplog.set_level(logging.INFO, logger=LOGGER)
    status = await _refused(
        f"ws://127.0.0.1:{gateway.port}{path}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(DEMO_STATION, DEMO_PASSWORD),
    )
    assert status == 404
    logs = _refusal_logs(caplog)
    assert len(logs) == 1 and repr(path) in logs[0]
    # There is no station to attribute the attempt to: DEMO-1 is not blamed for it.
    assert _events(seeded, DEMO_STATION) == []


@pytest.mark.parametrize("station", ["NUL%00STATION", "%00", "DEMO-1%00"])
async def test_station_id_with_nul_is_refused_cleanly(seeded, gateway_url, caplog, station):
    """U+0000 cannot be stored or looked up in PostgreSQL: it must be refused, not crash."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    status = await _refused(
        f"{gateway_url}/{station}",
        subprotocols=["ocpp1.6"],
        additional_headers=_basic("x", DEMO_PASSWORD),
    )
    assert status in (400, 404)
    assert _refusal_logs(caplog)
    # The gateway is still serving handshakes.
    async with websockets.connect(
        f"{gateway_url}/{DEMO_STATION}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(DEMO_STATION, DEMO_PASSWORD),
        open_timeout=10,
    ) as ws:
        await _heartbeat(ws)


@pytest.mark.parametrize("offered", [["ocpp1.5"], ["ocpp1.5", "ocpp2.1"], ["OCPP1.6"]], ids=repr)
async def test_only_unsupported_subprotocols_are_refused_with_400(
    seeded, gateway_url, caplog, offered
):
    caplog.set_level(logging.INFO, logger=LOGGER)
    status = await _refused(
        f"{gateway_url}/{DEMO_STATION}",
        subprotocols=offered,
        additional_headers=basic_auth_header(DEMO_STATION, DEMO_PASSWORD),
    )
    assert status == 400
    logs = _refusal_logs(caplog)
    assert len(logs) == 1 and DEMO_STATION in logs[0] and "subprotocol" in logs[0]
    events = _events(seeded, DEMO_STATION)
    assert [e.kind for e in events] == ["HandshakeRefused"]
    assert "subprotocol" in events[0].detail["reason"]


async def test_credentials_are_checked_before_the_subprotocol(seeded, gateway_url):
    status = await _refused(
        f"{gateway_url}/{DEMO_STATION}",
        subprotocols=["ocpp1.5"],
        additional_headers=_basic(DEMO_STATION, "wrong"),
    )
    assert status == 401


async def test_supported_subprotocol_is_chosen_among_others(seeded, gateway_url):
    async with websockets.connect(
        f"{gateway_url}/{DEMO_STATION}",
        subprotocols=["ocpp1.5", "ocpp1.6"],
        additional_headers=basic_auth_header(DEMO_STATION, DEMO_PASSWORD),
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol == "ocpp1.6"
        await _heartbeat(ws)


async def test_no_subprotocol_is_taken_as_ocpp16(seeded, gateway_url, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with websockets.connect(
        f"{gateway_url}/{DEMO_STATION}",
        additional_headers=basic_auth_header(DEMO_STATION, DEMO_PASSWORD),
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol is None  # nothing offered, nothing echoed
        boot = {"chargePointVendor": "Old", "chargePointModel": "NoSubprotocol"}
        await ws.send(orjson.dumps([2, "boot-1", "BootNotification", boot]).decode())
        answer = orjson.loads(await ws.recv())
        assert answer[:2] == [3, "boot-1"]
        assert answer[2]["status"] == "Accepted"
        # 1.6 error spelling proves the connection really speaks 1.6.
        await ws.send("not json")
        assert orjson.loads(await ws.recv())[:3] == [4, "-1", "FormationViolation"]
    assert _refusal_logs(caplog) == []
    assert _events(seeded, DEMO_STATION) == []
    with seeded.session() as session:
        assert session.get(Station, DEMO_STATION).model == "NoSubprotocol"


async def test_the_right_credentials_are_accepted_and_recorded_as_connected(seeded, gateway_url):
    async with websockets.connect(
        f"{gateway_url}/{DEMO_STATION}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(DEMO_STATION, DEMO_PASSWORD),
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol == "ocpp1.6"
        await _heartbeat(ws)
        with seeded.session() as session:
            assert session.get(Station, DEMO_STATION).connected is True

    def disconnected():
        with seeded.session() as session:
            return session.get(Station, DEMO_STATION).connected is False

    await eventually(disconnected)


def _demo_socket(gateway_url: str):
    """A 1.6 socket of the demo station with its password (not yet sending anything)."""
    headers = basic_auth_header(DEMO_STATION, DEMO_PASSWORD)
    return websockets.connect(
        f"{gateway_url}/{DEMO_STATION}",
        subprotocols=["ocpp1.6"],
        additional_headers=headers,
        open_timeout=10,
    )


async def test_a_reconnect_replaces_the_previous_socket(seeded, gateway, gateway_url, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with _demo_socket(gateway_url) as first:
        await _heartbeat(first)
        async with _demo_socket(gateway_url) as second:
            # Once the second socket speaks, the gateway closes the first ...
            await _heartbeat(second)
            with pytest.raises(ConnectionClosed):
                await first.recv()
            assert first.close_code == 1000
            assert "replaced" in (first.close_reason or "")

            # Wait until the gateway has finished with the first socket (it logs the
            # disconnect after its bookkeeping), then the station must still be connected.
            await eventually(
                lambda: any(
                    "disconnected" in r.getMessage() for r in caplog.records if r.name == LOGGER
                )
            )
            current = gateway.services.connections[DEMO_STATION]
            assert current.ws.remote_address[1] == second.local_address[1]
            with seeded.session() as session:
                station = session.get(Station, DEMO_STATION)
                assert station.connected is True
                assert station.gateway_queue == gateway.command_queue
            await _heartbeat(second)


def _current_port(gateway) -> int:
    return gateway.services.connections[DEMO_STATION].ws.remote_address[1]


async def test_a_silent_second_socket_that_closes_leaves_the_first_working(
    seeded, gateway, gateway_url
):
    """A probe under the station's id (e.g. a TLS cipher check) must not cut off the charger."""
    async with _demo_socket(gateway_url) as first:
        await _heartbeat(first)
        for _ in range(3):
            async with _demo_socket(gateway_url) as probe:
                await eventually(lambda p=probe: _current_port(gateway) == p.local_address[1])
        await eventually(lambda: _current_port(gateway) == first.local_address[1])
        await _heartbeat(first)
        with seeded.session() as session:
            station = session.get(Station, DEMO_STATION)
            assert station.connected is True
            assert station.gateway_queue == gateway.command_queue
        # Commands reach the first socket again.
        sending = gateway.services.connections[DEMO_STATION].call("ClearCache", {}, timeout_s=10)
        task = asyncio.ensure_future(sending)
        request = orjson.loads(await first.recv())
        assert request[2] == "ClearCache"
        await first.send(orjson.dumps([3, request[1], {"status": "Accepted"}]).decode())
        assert (await task)["status"] == "Accepted"

    def offline() -> bool:
        with seeded.session() as session:
            return session.get(Station, DEMO_STATION).connected is False

    await eventually(offline)


async def test_a_silent_second_socket_takes_over_after_the_grace_period(
    seeded, gateway, gateway_url, monkeypatch
):
    """A reconnect that stays silent still replaces a (maybe half-open) older socket."""
    monkeypatch.setattr(gateway.settings, "gateway_takeover_grace_s", 0.5)
    async with _demo_socket(gateway_url) as first:
        await _heartbeat(first)
        async with _demo_socket(gateway_url) as second:
            with pytest.raises(ConnectionClosed):  # closed without a frame from `second`
                await asyncio.wait_for(first.recv(), timeout=10)
            assert "replaced" in (first.close_reason or "")
            assert _current_port(gateway) == second.local_address[1]
            await _heartbeat(second)
