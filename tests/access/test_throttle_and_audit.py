"""The brute-force limiter in PostgreSQL (sign-in and OCPP Authorize per station) and the
append-only audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.access import ThrottlePolicy
from store import throttle
from store.access_tables import AuditEntry
from store.audit import audit, audit_entries

NOW = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = ThrottlePolicy(max_failures=3, window_s=60, lockout_s=120)


def test_failures_lock_a_key_and_success_clears_it(db):
    with db.session() as session:
        for n in range(2):
            assert (
                throttle.record_failure(session, "login:x", POLICY, NOW + timedelta(seconds=n)) == 0
            )
        assert throttle.locked_for(session, "login:x", NOW) == 0
        assert (
            throttle.record_failure(session, "login:x", POLICY, NOW + timedelta(seconds=2)) == 120
        )
    with db.session() as session:  # shared through the database
        assert throttle.locked_for(session, "login:x", NOW + timedelta(seconds=10)) > 0
        assert throttle.locked_for(session, "login:y", NOW) == 0
        assert throttle.locked_for(session, "login:x", NOW + timedelta(seconds=200)) == 0
        throttle.clear(session, "login:x")
    with db.session() as session:
        assert throttle.locked_for(session, "login:x", NOW) == 0


def test_authorize_limit_per_station(db):
    with db.session() as session:
        for _ in range(2):
            throttle.note_authorize(session, "ST-1", False, POLICY, NOW)
        throttle.note_authorize(session, "ST-1", True, POLICY, NOW)  # accepted: not counted
        assert throttle.authorize_allowed(session, "ST-1", NOW)
        throttle.note_authorize(session, "ST-1", False, POLICY, NOW)
        assert not throttle.authorize_allowed(session, "ST-1", NOW)
        assert throttle.authorize_allowed(session, "ST-2", NOW)
        assert throttle.authorize_allowed(session, "ST-1", NOW + timedelta(seconds=121))


def test_the_audit_log_is_append_only(db):
    with db.session() as session:
        audit(session, "operator:1", "token.block", "id_token:5", {"reason": "lost"})
        audit(session, "admin", "station.reset", "station:DEMO-1")
    with db.session() as session:
        entries = audit_entries(session)
        assert [(e.actor, e.action) for e in entries] == [
            ("admin", "station.reset"),
            ("operator:1", "token.block"),
        ]
        assert [e.target for e in audit_entries(session, actor="operator:1")] == ["id_token:5"]
        assert audit_entries(session, before_id=entries[0].id)[0].id == entries[1].id
    for statement in ("UPDATE audit_log SET actor = 'someone'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.session() as session:
            session.exec(text(statement))  # type: ignore[call-overload]
    with db.session() as session:
        assert len(session.exec(text("SELECT id FROM audit_log")).all()) == 2  # type: ignore
        assert session.get(AuditEntry, entries[0].id).actor == "admin"


async def test_audit_api_filters(http, admin):
    await http.post("/drivers", json={"name": "A", "email": "a@x.example"}, headers=admin)
    await http.post("/drivers", json={"name": "B", "email": "b@x.example"}, headers=admin)
    entries = (await http.get("/audit", params={"action": "driver.create"}, headers=admin)).json()
    assert [e["target"] for e in entries] == ["driver:2", "driver:1"]
    assert all(e["actor"] == "admin" for e in entries)
    assert (await http.get("/audit", params={"limit": 0}, headers=admin)).status_code == 422
