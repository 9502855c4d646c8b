"""Access-control rules without I/O: credentials, passwords, throttling, local lists, group stop.

Also the models and names of the `LocalListSync` workflow, which the API starts by name.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field


class IdTokenType(StrEnum):
    """OCPP 2.0.1 IdTokenEnumType; an OCPP 1.6 idTag is the bare value (≤ 20 characters)."""

    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    EMAID = "eMAID"
    KEY_CODE = "KeyCode"
    CENTRAL = "Central"
    MAC_ADDRESS = "MacAddress"
    NO_AUTHORIZATION = "NoAuthorization"
    LOCAL = "Local"


ID_TAG_MAX = 20  # OCPP 1.6 idTag (CiString20)
ID_TOKEN_MAX = 36  # OCPP 2.0.1 idToken (identifierString, 36)
ID_TOKEN_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces


def id_token_problem(value: str, token_type: IdTokenType) -> str | None:
    """Why `value` cannot be issued as a credential of `token_type` (None: it can).

    Every credential fits an OCPP 1.6 idTag (≤ 20), except eMAIDs which may use the 2.0.1
    limit of 36 (they are then left out of 1.6 local lists).
    """
    limit = ID_TOKEN_MAX if token_type == IdTokenType.EMAID else ID_TAG_MAX
    if not 1 <= len(value) <= limit:
        return f"a {token_type.value} token has 1 to {limit} characters"
    if not re.fullmatch(ID_TOKEN_PATTERN, value):
        return "a token is printable ASCII without spaces"
    return None


APP_TOKEN_PREFIX = "APP-"  # the internal Central idToken of a driver's app (random tail)


# ---- passwords and emails ------------------------------------------------------------------

PASSWORD_MIN = 10
PASSWORD_MAX = 128


def password_problem(password: str) -> str | None:
    """Why a new password is refused (None: acceptable)."""
    if len(password) < PASSWORD_MIN:
        return f"a password has at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"a password has at most {PASSWORD_MAX} characters"
    if len(set(password)) < 4:
        return "a password needs more than three distinct characters"
    return None


def normalize_email(email: str) -> str:
    return email.strip().lower()


# ---- brute-force throttling ----------------------------------------------------------------


class ThrottlePolicy(BaseModel):
    """At most `max_failures` within `window_s`; then locked for `lockout_s`."""

    max_failures: int = Field(ge=1)
    window_s: int = Field(ge=1)
    lockout_s: int = Field(ge=1)


class ThrottleState(BaseModel):
    failures: int = 0
    window_start: datetime | None = None
    locked_until: datetime | None = None


def seconds_locked(state: ThrottleState, now: datetime) -> float:
    """How long the key stays locked (0: not locked)."""
    if state.locked_until is None or state.locked_until <= now:
        return 0.0
    return (state.locked_until - now).total_seconds()


def after_failure(state: ThrottleState, policy: ThrottlePolicy, now: datetime) -> ThrottleState:
    """Count one failure; reaching the limit within the window locks the key."""
    window_open = state.window_start is not None and now - state.window_start < timedelta(
        seconds=policy.window_s
    )
    failures = state.failures + 1 if window_open else 1
    start = state.window_start if window_open else now
    locked = state.locked_until if seconds_locked(state, now) else None
    if failures >= policy.max_failures:
        locked = now + timedelta(seconds=policy.lockout_s)
        failures, start = 0, now  # a fresh window after the lockout
    return ThrottleState(failures=failures, window_start=start, locked_until=locked)


def admit(
    state: ThrottleState, policy: ThrottlePolicy, now: datetime
) -> tuple[ThrottleState, bool]:
    """Count an attempt *before* it is evaluated (so parallel guesses cannot all slip past a
    check made before any of them failed): refused while locked, otherwise counted as a
    failure — the attempt that reaches the limit is still evaluated and locks the key. A
    success then takes its count back (`store.throttle.release`)."""
    if seconds_locked(state, now):
        return state, False
    return after_failure(state, policy, now), True


# ---- group stop ----------------------------------------------------------------------------


def may_stop(
    session_driver_id: int | None,
    session_group_id: str | None,
    driver_id: int,
    driver_group_ids: set[str],
) -> bool:
    """A driver may stop their own session, or one started by a card of a group they hold."""
    if session_driver_id is not None and session_driver_id == driver_id:
        return True
    return session_group_id is not None and session_group_id in driver_group_ids


# ---- local authorization lists -------------------------------------------------------------


class LocalListEntry(BaseModel):
    """One credential on a charger's local list; `status` None removes it (differential)."""

    id_token: str
    token_type: str = IdTokenType.ISO14443.value
    status: str | None = "Accepted"  # Accepted | Blocked | Expired | None (remove)
    expires_at: datetime | None = None
    group_id: str | None = None


def list_entry(
    token: str,
    token_type: str,
    status: str,
    expires_at: datetime | None,
    group_id: str | None,
    now: datetime,
    has_driver: bool = True,
) -> LocalListEntry:
    """The list entry for a credential as the store knows it now (the online rule,
    `domain.authorization.decide`: expired, or NoCredit for a card issued to nobody)."""
    if status == "Accepted" and expires_at is not None and expires_at <= now:
        status = "Expired"
    elif status == "Accepted" and not has_driver:
        status = "NoCredit"
    return LocalListEntry(
        id_token=token,
        token_type=token_type,
        status=status,
        expires_at=expires_at,
        group_id=group_id,
    )


def snapshot_of(entries: list[LocalListEntry]) -> dict[str, dict]:
    """A comparable form of a full list (stored with every pushed version)."""
    return {e.id_token: e.model_dump(mode="json", exclude={"id_token"}) for e in entries}


def list_diff(pushed: dict[str, dict], desired: list[LocalListEntry]) -> list[LocalListEntry]:
    """The differential update taking a charger from `pushed` to `desired`."""
    wanted = snapshot_of(desired)
    changes = [e for e in desired if pushed.get(e.id_token) != wanted[e.id_token]]
    removed = sorted(set(pushed) - set(wanted))
    changes.extend(
        LocalListEntry(id_token=t, token_type=pushed[t].get("token_type", "ISO14443"), status=None)
        for t in removed
    )
    return changes


def local_list_params(version: int, update_type: str, entries: list[LocalListEntry]) -> dict:
    """Version-neutral params of the `send_local_list` station command."""
    return {
        "version": version,
        "update_type": update_type,
        "entries": [e.model_dump(mode="json", exclude_none=True) for e in entries],
    }


LOCAL_LIST_SYNC = "LocalListSync"  # workflow name (one per station)
SIGNAL_LOCAL_LIST_CHANGED = "changed"


def local_list_workflow_id(station_id: str) -> str:
    return f"local-list-{station_id}"


class LocalListSyncInput(BaseModel):
    station_id: str
    full: bool = False
    requested_by: str = "system"
    retry_s: int = 300  # while the station is offline, try again this often
    max_offline_retries: int = 288


class LocalListChanged(BaseModel):
    """Signal: the list content (or the wish for a full push) changed."""

    full: bool = False
    requested_by: str = "system"


class LocalListPlanRequest(BaseModel):
    station_id: str
    full: bool = False


class LocalListPlan(BaseModel):
    """What to push next; `version_id` None: the station is in sync (or holds no list)."""

    station_id: str
    version_id: int | None = None
    version: int = 0
    update_type: str = "Full"
    params: dict = Field(default_factory=dict)


class LocalListOutcome(BaseModel):
    version_id: int
    outcome: str  # a CommandRecord outcome: ok | offline | rejected | timeout | ...
    status: str | None = None
    error: str | None = None


class LocalListNext(StrEnum):
    DONE = "done"
    RETRY_FULL = "retry_full"
    RETRY_LATER = "retry_later"
    FAILED = "failed"


def next_step(update_type: str, outcome: str, status: str | None) -> LocalListNext:
    """What the sync does after the charger answered (OCPP: a refused differential → full)."""
    if outcome in ("offline", "timeout"):
        return LocalListNext.RETRY_LATER
    if outcome != "ok":
        return LocalListNext.FAILED
    if status == "Accepted":
        return LocalListNext.DONE
    if status in ("VersionMismatch", "Failed") and update_type == "Differential":
        return LocalListNext.RETRY_FULL
    return LocalListNext.FAILED


# ---- secrets in logs -----------------------------------------------------------------------

# Configuration keys / variables that hold a station's password (1.6 AuthorizationKey, 2.0.1
# SecurityCtrlr.BasicAuthPassword): never written to audit or command logs, never shown back.
SECRET_CONFIG_NAMES = frozenset({"authorizationkey", "basicauthpassword"})
REDACTED = "[redacted]"
_VALUE_FIELDS = ("value", "attributeValue", "attribute_value")
_NAME_FIELDS = ("key", "name", "variable")
_UPLOAD_TOKEN = re.compile(r"(/uploads/)[^/\s\"'?#]+")


def is_secret_name(name: object) -> bool:
    """`AuthorizationKey`, `SecurityCtrlr.BasicAuthPassword`, ... (any case)."""
    return isinstance(name, str) and name.rsplit(".", 1)[-1].lower() in SECRET_CONFIG_NAMES


def _names_secret(entry: dict) -> bool:
    for field in _NAME_FIELDS:
        named = entry.get(field)
        if isinstance(named, dict):
            named = named.get("name")
        if is_secret_name(named):
            return True
    return False


def redact_secrets(value: object) -> object:
    """A copy of `value` (JSON-like) with station passwords replaced by `REDACTED`: values of
    secret-named keys (`{"AuthorizationKey": ...}`) and the value next to a secret name
    (`{"key": "AuthorizationKey", "value": ...}`, 2.0.1 `variable.name` + `attributeValue`)."""
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    if not isinstance(value, dict):
        return value
    secret_entry = _names_secret(value)
    return {
        k: REDACTED
        if (is_secret_name(k) or (secret_entry and k in _VALUE_FIELDS))
        and not isinstance(v, dict | list)
        else redact_secrets(v)
        for k, v in value.items()
    }


def hide_upload_urls(value: object) -> object:
    """A copy of `value` with the secret token of one-time upload URLs replaced."""
    if isinstance(value, str):
        return _UPLOAD_TOKEN.sub(rf"\1{REDACTED}", value)
    if isinstance(value, list):
        return [hide_upload_urls(item) for item in value]
    if isinstance(value, dict):
        return {k: hide_upload_urls(v) for k, v in value.items()}
    return value
