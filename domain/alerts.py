"""Operator alerts: causes, keys, the common fault vocabulary, webhook payloads and signatures.

An alert is keyed by its cause (`connector_faulted:DEMO-1:2`); the store keeps at most one
not-resolved alert per key, so a cause raises exactly one alert until it is resolved — by an
operator, or automatically when the cause clears.

Who raises what:
- the gateway's live listener, at once: `connector_faulted` (resolved by the connector's next
  non-Faulted status) and the resolution of `station_offline` when the station reconnects;
- the `AlertSweep` workflow, every `alert_sweep_interval_s`: `station_offline` (disconnected for
  longer than `alert_offline_after_s`), `session_stuck` (charging without a meter value for
  `alert_stuck_after_s`), `auth_failures` (at least `alert_auth_failures` refused
  authorizations within `alert_auth_window_s`; resolved after a window without one) and
  `payment_failed` (a session in PaymentFailed; resolved when its state changes);
- any workflow, through `workflows.alerts`: `job_failed` (firmware or diagnostics);
  `profile_rejected` and `load_overdraw` (the `SiteLoad` workflow: a charger refuses its
  charging profiles, or draws more than they allow; resolved when it accepts / the session ends);
- the gateway's handshake: `handshake_failures` (failed handshakes locked a station id or a
  client address; resolved by an operator).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

ALERT_SWEEP = "AlertSweep"  # workflow type
SIGNAL_WAKE = "wake"  # deliver pending webhooks now
SIGNATURE_HEADER = "X-Ampflow-Signature"  # "sha256=" + hex HMAC-SHA256 of the raw body
EVENT_ID_HEADER = "X-Ampflow-Event-Id"


class AlertCause(StrEnum):
    STATION_OFFLINE = "station_offline"
    CONNECTOR_FAULTED = "connector_faulted"
    SESSION_STUCK = "session_stuck"
    AUTH_FAILURES = "auth_failures"
    HANDSHAKE_FAILURES = "handshake_failures"
    PAYMENT_FAILED = "payment_failed"
    JOB_FAILED = "job_failed"
    PROFILE_REJECTED = "profile_rejected"  # a charger refuses the site's charging profiles
    LOAD_OVERDRAW = "load_overdraw"  # a charger draws more than its profile allows


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    WARNING = "warning"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


SEVERITY: dict[AlertCause, Severity] = {
    AlertCause.STATION_OFFLINE: Severity.MAJOR,
    AlertCause.CONNECTOR_FAULTED: Severity.MAJOR,
    AlertCause.SESSION_STUCK: Severity.WARNING,
    AlertCause.AUTH_FAILURES: Severity.WARNING,
    AlertCause.HANDSHAKE_FAILURES: Severity.MAJOR,
    AlertCause.PAYMENT_FAILED: Severity.MAJOR,
    AlertCause.JOB_FAILED: Severity.WARNING,
    AlertCause.PROFILE_REJECTED: Severity.MAJOR,
    AlertCause.LOAD_OVERDRAW: Severity.MAJOR,
}

# OCPP 1.6 ChargePointErrorCode → the common fault vocabulary. A 2.0.1 StatusNotification has no
# error code (details come in NotifyEvent), so a 2.0.1 Faulted connector is `unspecified`.
FAULTS_16: dict[str, str] = {
    "ConnectorLockFailure": "connector_lock",
    "EVCommunicationError": "ev_communication",
    "GroundFailure": "ground_fault",
    "HighTemperature": "overheating",
    "InternalError": "internal_error",
    "LocalListConflict": "configuration",
    "OtherError": "other",
    "OverCurrentFailure": "over_current",
    "OverVoltage": "over_voltage",
    "PowerMeterFailure": "power_meter",
    "PowerSwitchFailure": "power_switch",
    "ReaderFailure": "reader",
    "ResetFailure": "reset_failure",
    "UnderVoltage": "under_voltage",
    "WeakSignal": "weak_signal",
}
UNSPECIFIED_FAULT = "unspecified"


def fault_of(error_code: str | None) -> str:
    """The common fault name of a Faulted connector's error code (None: unspecified)."""
    if not error_code or error_code == "NoError":
        return UNSPECIFIED_FAULT
    return FAULTS_16.get(error_code, "other")


def alert_key(cause: AlertCause, *parts: object) -> str:
    """The de-duplication key of a cause, e.g. `station_offline:DEMO-1`."""
    return ":".join([cause.value, *(str(part) for part in parts)])


def alert_sweep_id(task_queue: str) -> str:
    """One sweep per worker task queue, e.g. `alert-sweep-ampflow-sessions`."""
    return f"alert-sweep-{task_queue}"


class AlertRaise(BaseModel):
    """Open an alert (nothing happens while one is open for the same key)."""

    cause: AlertCause
    key: str
    message: str
    station_id: str | None = None
    connector_id: int | None = None
    session_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    actor: str = "system"

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.cause]

    def sql_params(self) -> dict[str, Any]:
        """Parameters of `store.monitoring_tables.RAISE_ALERT`."""
        return {
            "key": self.key,
            "cause": self.cause.value,
            "severity": self.severity.value,
            "station_id": self.station_id,
            "connector_id": self.connector_id,
            "session_id": self.session_id,
            "message": self.message,
            "detail": json.dumps(self.detail),
            "actor": self.actor,
        }


class AlertResolve(BaseModel):
    """Resolve the open alerts of these keys."""

    keys: list[str]
    actor: str = "system"
    note: str | None = None


def station_offline(station_id: str, since: datetime | None) -> AlertRaise:
    return AlertRaise(
        cause=AlertCause.STATION_OFFLINE,
        key=alert_key(AlertCause.STATION_OFFLINE, station_id),
        station_id=station_id,
        message=f"Station {station_id} is offline"
        + (f" since {since.isoformat(timespec='seconds')}" if since else ""),
        detail={"since": since.isoformat() if since else None},
    )


def connector_faulted(station_id: str, connector_id: int, error_code: str | None) -> AlertRaise:
    fault = fault_of(error_code)
    return AlertRaise(
        cause=AlertCause.CONNECTOR_FAULTED,
        key=alert_key(AlertCause.CONNECTOR_FAULTED, station_id, connector_id),
        station_id=station_id,
        connector_id=connector_id,
        message=f"Connector {connector_id} of {station_id} is faulted ({fault})",
        detail={"fault": fault, "error_code": error_code},
    )


def connector_fault_key(station_id: str, connector_id: int) -> str:
    return alert_key(AlertCause.CONNECTOR_FAULTED, station_id, connector_id)


def session_stuck(
    session_id: str, station_id: str, connector_id: int | None, last_at: datetime
) -> AlertRaise:
    return AlertRaise(
        cause=AlertCause.SESSION_STUCK,
        key=alert_key(AlertCause.SESSION_STUCK, session_id),
        station_id=station_id,
        connector_id=connector_id,
        session_id=session_id,
        message=f"Session {session_id} is charging but sent no meter value since "
        f"{last_at.isoformat(timespec='seconds')}",
        detail={"last_meter_at": last_at.isoformat()},
    )


def auth_failures(station_id: str, refusals: int, window_s: int) -> AlertRaise:
    return AlertRaise(
        cause=AlertCause.AUTH_FAILURES,
        key=alert_key(AlertCause.AUTH_FAILURES, station_id),
        station_id=station_id,
        message=f"{refusals} refused authorizations at {station_id} within {window_s} s",
        detail={"refusals": refusals, "window_s": window_s},
    )


def handshake_failures(subject: str, failures: int, lockout_s: float) -> AlertRaise:
    """Failed handshakes locked `station:<id>` or `address:<ip>` (raised by the gateway; an
    operator resolves it)."""
    kind, _, name = subject.partition(":")
    return AlertRaise(
        cause=AlertCause.HANDSHAKE_FAILURES,
        key=alert_key(AlertCause.HANDSHAKE_FAILURES, subject),
        station_id=name[:48] if kind == "station" else None,
        message=f"{failures} failed station handshakes for {kind} {name}: "
        f"locked for {lockout_s:.0f} s",
        detail={kind: name, "failures": failures, "lockout_s": lockout_s},
    )


def payment_failed(session_id: str, station_id: str, reason: str | None) -> AlertRaise:
    return AlertRaise(
        cause=AlertCause.PAYMENT_FAILED,
        key=alert_key(AlertCause.PAYMENT_FAILED, session_id),
        station_id=station_id,
        session_id=session_id,
        message=f"Payment of session {session_id} failed" + (f": {reason}" if reason else ""),
        detail={"reason": reason},
    )


class JobKind(StrEnum):
    FIRMWARE = "firmware"
    DIAGNOSTICS = "diagnostics"


def job_failed_key(kind: JobKind, station_id: str) -> str:
    return alert_key(AlertCause.JOB_FAILED, kind.value, station_id)


def job_failed(kind: JobKind, station_id: str, job_id: str, reason: str) -> AlertRaise:
    return AlertRaise(
        cause=AlertCause.JOB_FAILED,
        key=job_failed_key(kind, station_id),
        station_id=station_id,
        message=f"{kind.value.capitalize()} job {job_id} at {station_id} failed: {reason}",
        detail={"kind": kind.value, "job_id": job_id, "reason": reason},
    )


# ---- the sweep and webhook delivery (activity models) -------------------------------------


class SweepInput(BaseModel):
    """Input of `AlertSweep` (carried across continue-as-new)."""

    runs: int = 0
    sweeps_per_run: int = 100  # continue-as-new after this many sweeps


class SweepRequest(BaseModel):
    deliver: bool = True  # deliver pending webhooks after the checks


class SweepResult(BaseModel):
    """What one sweep did (visible in the Temporal UI as the activity result)."""

    raised: list[str] = Field(default_factory=list)
    resolved: list[str] = Field(default_factory=list)
    delivered: int = 0
    next_in_s: float = 60.0


class DeliveryRequest(BaseModel):
    limit: int = 100


class DeliveryResult(BaseModel):
    delivered: int = 0
    failed: int = 0


def webhook_body(event_id: int, event: str, at: datetime, alert: dict[str, Any]) -> dict:
    """The JSON document POSTed to the webhook for one alert transition."""
    return {"event_id": event_id, "event": event, "at": at.isoformat(), "alert": alert}


def signature(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers: constant-time check of a signature header."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)
