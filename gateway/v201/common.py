"""Small helpers shared by the 2.0.1 handlers."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.session import Authorization


def iso(at: datetime) -> str:
    """An RFC 3339 UTC timestamp, e.g. 2026-01-01T12:00:00Z."""
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def id_token_info(authorization: Authorization) -> dict:
    """IdTokenInfoType from the session workflow's decision.

    Our statuses (Accepted, Blocked, Expired, Invalid, ConcurrentTx) are all 2.0.1
    AuthorizationStatusEnumType values. A group becomes a `Central` groupIdToken.
    """
    info: dict = {"status": authorization.status.value}
    if authorization.expires_at is not None:
        info["cacheExpiryDateTime"] = iso(authorization.expires_at)
    if authorization.group_id:
        info["groupIdToken"] = {"idToken": authorization.group_id[:36], "type": "Central"}
    return info


def status_info(reason_code: str, additional_info: str | None = None) -> dict:
    """StatusInfoType: a short reason code (max 20 chars) and optional detail (max 512)."""
    info = {"reasonCode": reason_code[:20]}
    if additional_info:
        info["additionalInfo"] = additional_info[:512]
    return info
