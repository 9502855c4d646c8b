"""Pure access rules: credentials, passwords, throttling, local-list diffs, group stop, tokens,
and the per-version SendLocalList translations against the official OCPP schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api import security
from domain.access import (
    IdTokenType,
    LocalListEntry,
    LocalListNext,
    ThrottlePolicy,
    ThrottleState,
    after_failure,
    id_token_problem,
    list_diff,
    list_entry,
    local_list_params,
    may_stop,
    next_step,
    password_problem,
    seconds_locked,
    snapshot_of,
)
from gateway.protocol import OCPP16, OCPP201
from gateway.schemas import validate
from gateway.v16 import local_list_commands as v16
from gateway.v201 import local_list_commands as v201

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        ("04A2B3C4D5E6F7", IdTokenType.ISO14443, True),
        ("x" * 20, IdTokenType.ISO14443, True),
        ("x" * 21, IdTokenType.ISO14443, False),
        ("DE8AAC000000001234567890123456789012", IdTokenType.EMAID, True),
        ("x" * 37, IdTokenType.EMAID, False),
        ("has space", IdTokenType.KEY_CODE, False),
        ("", IdTokenType.LOCAL, False),
        ("AA:BB:CC:DD:EE:FF", IdTokenType.MAC_ADDRESS, True),
    ],
)
def test_id_token_limits(value, kind, ok):
    assert (id_token_problem(value, kind) is None) == ok


def test_password_policy():
    assert password_problem("short") is not None
    assert password_problem("aaaaaaaaaaaa") is not None
    assert password_problem("x" * 129) is not None
    assert password_problem("correct horse battery") is None


def test_throttle_locks_after_the_limit_within_the_window():
    policy = ThrottlePolicy(max_failures=3, window_s=60, lockout_s=300)
    state = ThrottleState()
    for minute in range(2):
        state = after_failure(state, policy, NOW + timedelta(seconds=minute))
        assert seconds_locked(state, NOW + timedelta(seconds=minute)) == 0
    state = after_failure(state, policy, NOW + timedelta(seconds=2))
    assert seconds_locked(state, NOW + timedelta(seconds=2)) == 300
    assert seconds_locked(state, NOW + timedelta(seconds=303)) == 0


def test_throttle_window_expires():
    policy = ThrottlePolicy(max_failures=3, window_s=60, lockout_s=300)
    state = after_failure(after_failure(ThrottleState(), policy, NOW), policy, NOW)
    later = NOW + timedelta(seconds=61)
    state = after_failure(state, policy, later)  # a new window: 1 failure, not locked
    assert state.failures == 1 and seconds_locked(state, later) == 0


def test_group_stop_rule():
    assert may_stop(7, None, 7, set())  # own session
    assert may_stop(8, "FLEET", 7, {"FLEET"})  # a card of the same group
    assert not may_stop(8, "FLEET", 7, {"OTHER"})
    assert not may_stop(8, None, 7, {"FLEET"})
    assert not may_stop(None, None, 7, set())


def test_list_entries_and_diff():
    a = list_entry("A", "ISO14443", "Accepted", None, "G", NOW)
    b = list_entry("B", "ISO14443", "Accepted", NOW - timedelta(days=1), None, NOW)
    assert b.status == "Expired"
    pushed = snapshot_of([a, b])
    blocked_a = a.model_copy(update={"status": "Blocked"})
    c = list_entry("C", "Central", "Accepted", None, None, NOW)
    diff = list_diff(pushed, [blocked_a, c])
    assert [(e.id_token, e.status) for e in diff] == [
        ("A", "Blocked"),
        ("C", "Accepted"),
        ("B", None),
    ]
    assert list_diff(pushed, [a, b]) == []


@pytest.mark.parametrize(
    ("update_type", "outcome", "status", "step"),
    [
        ("Differential", "ok", "Accepted", LocalListNext.DONE),
        ("Differential", "ok", "VersionMismatch", LocalListNext.RETRY_FULL),
        ("Differential", "ok", "Failed", LocalListNext.RETRY_FULL),
        ("Full", "ok", "Failed", LocalListNext.FAILED),
        ("Full", "ok", "NotSupported", LocalListNext.FAILED),
        ("Full", "offline", None, LocalListNext.RETRY_LATER),
        ("Full", "timeout", None, LocalListNext.RETRY_LATER),
        ("Full", "rejected", None, LocalListNext.FAILED),
    ],
)
def test_next_step_after_the_answer(update_type, outcome, status, step):
    assert next_step(update_type, outcome, status) == step


def _sample_params(update_type: str) -> dict:
    entries = [
        LocalListEntry(id_token="CARD-1", status="Accepted", group_id="FLEET", expires_at=NOW),
        LocalListEntry(id_token="CARD-2", status="Blocked"),
        LocalListEntry(id_token="GONE", status=None),
        LocalListEntry(
            id_token="DE8AAC000000001234567890123", token_type="eMAID", status="Accepted"
        ),
    ]
    return local_list_params(7, update_type, entries)


@pytest.mark.parametrize("update_type", ["Full", "Differential"])
def test_v16_send_local_list_matches_the_schema(update_type):
    action, payload = v16.send_local_list(_sample_params(update_type))
    validate(OCPP16, action, payload)
    assert payload["listVersion"] == 7 and payload["updateType"] == update_type
    entries = {e["idTag"]: e for e in payload["localAuthorizationList"]}
    assert "DE8AAC000000001234567890123" not in entries  # an eMAID > 20 cannot be a 1.6 idTag
    assert entries["CARD-1"]["idTagInfo"] == {
        "status": "Accepted",
        "expiryDate": "2030-01-01T12:00:00Z",
        "parentIdTag": "FLEET",
    }
    assert entries["GONE"] == {"idTag": "GONE"}
    assert v16.get_local_list_version({}) == ("GetLocalListVersion", {})
    empty = v16.send_local_list(local_list_params(1, "Full", []))[1]
    validate(OCPP16, "SendLocalList", empty)
    assert "localAuthorizationList" not in empty


@pytest.mark.parametrize("update_type", ["Full", "Differential"])
def test_v201_send_local_list_matches_the_schema(update_type):
    action, payload = v201.send_local_list(_sample_params(update_type))
    validate(OCPP201, action, payload)
    assert payload["versionNumber"] == 7
    entries = {e["idToken"]["idToken"]: e for e in payload["localAuthorizationList"]}
    assert entries["CARD-1"]["idTokenInfo"]["groupIdToken"] == {
        "idToken": "FLEET",
        "type": "Central",
    }
    assert entries["DE8AAC000000001234567890123"]["idToken"]["type"] == "eMAID"
    assert "idTokenInfo" not in entries["GONE"]
    validate(OCPP201, "GetLocalListVersion", v201.get_local_list_version({})[1])


def test_access_tokens_are_signed_and_expire():
    secret = b"k" * 32
    token = security.issue_access_token(secret, "driver:5", "driver", "sid1", 60, now=1000)
    claims = security.read_access_token(secret, token, now=1030)
    assert (claims.kind, claims.subject_id, claims.role, claims.session_id) == (
        "driver",
        5,
        "driver",
        "sid1",
    )
    with pytest.raises(security.InvalidToken):
        security.read_access_token(secret, token, now=1060)  # expired
    with pytest.raises(security.InvalidToken):
        security.read_access_token(b"other" * 8, token, now=1030)  # another secret
    header, claims_b64, signature = token.split(".")
    forged = security._b64(b'{"iss":"ampflow","typ":"access","sub":"driver:6","role":"admin"}')
    with pytest.raises(security.InvalidToken):
        security.read_access_token(secret, f"{header}.{forged}.{signature}", now=1030)
    for garbage in ("", "a.b", "a.b.c", "é.é.é", token + "x"):
        with pytest.raises(security.InvalidToken):
            security.read_access_token(secret, garbage, now=1030)


def test_passwords_hash_with_argon2():
    encoded = security.hash_password("correct horse battery")
    assert encoded.startswith("$argon2id$")
    assert security.verify_password("correct horse battery", encoded)
    assert not security.verify_password("wrong horse battery", encoded)
    assert not security.verify_password("anything", None)
    assert not security.verify_password("anything", "not-a-hash")
