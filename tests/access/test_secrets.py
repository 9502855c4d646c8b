"""Secrets stay secret: a station password sent in a configuration command appears in no
answer, audit entry, command record or message-log view; one-time upload URLs are not shown to
read-only roles; SQL errors carry no bound values; `/metrics` can require a token."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text

from api.main import create_app
from tests.access.helpers import ADMIN, api_key
from tests.helpers import eventually

SECRET = "AuthKey-0123456789abcdef"
UPLOAD_TOKEN = re.compile(r"/uploads/(?!\[redacted\])[A-Za-z0-9_\-]{16,}")


async def _texts(http, headers, *paths: str) -> str:
    answers = [await http.get(path, headers=headers) for path in paths]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return "\n".join(a.text for a in answers)


async def test_station_passwords_are_never_shown_or_logged(http, charger):
    changed = await http.put(
        "/stations/DEMO-1/configuration",
        json={"values": {"AuthorizationKey": SECRET, "HeartbeatInterval": "300"}},
        headers=ADMIN,
    )
    assert changed.status_code == 200, changed.text
    assert charger.charger.settings.get("AuthorizationKey") == SECRET  # the charger got it
    raw = await http.post(
        "/stations/DEMO-1/commands",
        json={
            "name": "change_configuration",
            "params": {"key": "AuthorizationKey", "value": SECRET},
        },
        headers=ADMIN,
    )
    assert raw.status_code == 200, raw.text

    async def logged() -> bool:
        messages = await http.get("/stations/DEMO-1/messages?limit=1000", headers=ADMIN)
        return messages.text.count("ChangeConfiguration") >= 4  # calls and results

    await eventually(logged)
    analyst = await api_key(http, "analyst")
    seen = changed.text + raw.text
    seen += await _texts(
        http,
        ADMIN,
        "/stations/DEMO-1/commands",
        "/stations/DEMO-1/messages?limit=1000",
        "/audit?limit=1000",
    )
    seen += await _texts(http, analyst, "/stations/DEMO-1/commands", "/audit?limit=1000")
    assert "AuthorizationKey" in seen  # the key is named...
    assert SECRET not in seen  # ...its value never


async def test_upload_urls_are_hidden_from_read_only_roles(http, charger):
    # The charger answers and never uploads (no API is listening at the URL it is given).
    charger.charger.answer_with("GetDiagnostics", lambda p: {"fileName": "diagnostics.tgz"})
    started = await http.post("/stations/DEMO-1/diagnostics", json={}, headers=ADMIN)
    assert started.status_code in (200, 201, 202), started.text
    asked = await eventually(
        lambda: charger.charger.journal.find("command", action="GetDiagnostics")
    )
    token = asked[0]["payload"]["location"].split("/uploads/", 1)[1].split("/", 1)[0]
    job = started.json()["workflow_id"]
    paths = ("/stations/DEMO-1/commands", "/stations/DEMO-1/messages?limit=1000")

    async def logged() -> bool:
        return token in (await http.get(paths[1], headers=ADMIN)).text

    await eventually(logged)
    technician = (await _texts(http, ADMIN, *paths)) + (
        await _texts(http, ADMIN, f"/maintenance/jobs/{job}")
    )
    assert token in technician  # who sends commands may see where the station uploads
    for role in ("analyst", "support"):
        key = await api_key(http, role)
        read_only = await _texts(http, key, *paths, f"/maintenance/jobs/{job}")
        assert "GetDiagnostics" in read_only
        assert token not in read_only
        assert not UPLOAD_TOKEN.search(read_only)


def test_sql_errors_carry_no_bound_values(app):
    with pytest.raises(Exception) as raised:  # noqa: B017  (any database error)
        with app.state.db.session() as session:
            session.exec(text("SELECT CAST(:v AS text), 1 / 0"), params={"v": SECRET})  # type: ignore
    assert "division by zero" in str(raised.value)
    assert SECRET not in str(raised.value)  # SQLAlchemy would append "[parameters: ...]"


@pytest.mark.parametrize("token", [None, "metrics-secret"])
async def test_metrics_can_require_a_token(settings, database_url, temporal_client, token):
    app = create_app(
        settings.model_copy(update={"metrics_token": token}), database_url, temporal=temporal_client
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            anonymous = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    if token is None:
        assert anonymous.status_code == 200
        return
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert right.status_code == 200 and "ampflow_api_requests" in right.text
