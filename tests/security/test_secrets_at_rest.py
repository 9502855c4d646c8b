"""A station password an operator sets never reaches the message log or the command log.

Read straight from PostgreSQL (what a database leak or a read-only operator would see), not
from the API's redacted views. Before, both logs stored `AuthorizationKey` as sent.
"""

from __future__ import annotations

import asyncio

import orjson
import websockets
from sqlalchemy import text

from ampflow.seed import DEMO_STATION
from chargers.charger import basic_auth_header
from chargers.script import scripted
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually

SECRET = "s3cret-key-0123456789abcdef"


def _stored(db, query: str) -> list[str]:
    with db.session() as s:
        return [str(row[0]) for row in s.exec(text(query)).all()]  # type: ignore[call-overload]


async def test_a_station_password_is_not_stored_in_the_logs(seeded, worker, gateway_url, api):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD):
        reply = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={
                "name": "change_configuration",
                "params": {"key": "AuthorizationKey", "value": SECRET},
            },
        )
        assert reply.status_code in (200, 502), reply.text  # 502: the charger refused it
        frames = await eventually(
            lambda: _stored(
                seeded,
                "SELECT payload FROM ocpp_messages WHERE action = 'ChangeConfiguration'",
            )
        )
    commands = await eventually(
        lambda: _stored(seeded, "SELECT params::text FROM station_commands")
    )
    assert frames and commands
    assert not [f for f in frames if SECRET in f], frames
    assert not [c for c in commands if SECRET in c], commands


async def _send_raw(gateway_url: str, frame: str) -> list:
    """Send one text frame as the demo station, exactly as written; its answer."""
    async with websockets.connect(
        f"{gateway_url}/{DEMO_STATION}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(DEMO_STATION, DEMO_PASSWORD),
        open_timeout=10,
    ) as ws:
        await ws.send(frame)
        return orjson.loads(await asyncio.wait_for(ws.recv(), 10))


async def test_a_password_under_an_escaped_name_is_not_logged(seeded, gateway_url):
    """JSON lets a station spell `AuthorizationKey` with escapes (`\\u0041uthorizationKey`): the
    log's quick look before parsing must not be fooled by the raw text."""
    name = "\\u0041uthorization\\u004bey"  # what the station sends, escapes and all
    frame = f'[2,"escaped-1","ChangeConfiguration",{{"key":"{name}","value":"{SECRET}"}}]'
    answer = await _send_raw(gateway_url, frame)
    assert answer[0] == 4 and answer[1] == "escaped-1", answer  # not a CALL a station may make
    frames = await eventually(
        lambda: _stored(seeded, "SELECT payload FROM ocpp_messages WHERE unique_id = 'escaped-1'")
    )
    assert frames and not [f for f in frames if SECRET in f], frames


async def test_a_malformed_frame_naming_a_password_in_escapes_is_withheld(seeded, gateway_url):
    """Not JSON at all, yet a reader of the log would decode the escapes: withheld."""
    name = "\\u0041uthorizationKey"
    frame = f'[2,"broken-1","ChangeConfiguration",{{"key":"{name}","value":"{SECRET}"'
    answer = await _send_raw(gateway_url, frame)
    assert answer[0] == 4, answer  # a framing error
    frames = await eventually(
        lambda: _stored(
            seeded,
            "SELECT payload FROM ocpp_messages WHERE direction = 'in' "
            f"AND station_id = '{DEMO_STATION}' AND payload LIKE '%%withheld%%'",
        )
    )
    stored = _stored(seeded, "SELECT payload FROM ocpp_messages")
    assert frames and not [f for f in stored if SECRET in f], stored
