"""A station password an operator sets never reaches the message log or the command log.

Read straight from PostgreSQL (what a database leak or a read-only operator would see), not
from the API's redacted views. Before, both logs stored `AuthorizationKey` as sent.
"""

from __future__ import annotations

from sqlalchemy import text

from ampflow.seed import DEMO_STATION
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
