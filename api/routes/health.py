"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionDep, TemporalDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(db: SessionDep, temporal: TemporalDep) -> dict:
    """`ok` when the database and Temporal both answer."""
    checks: dict[str, str] = {}
    try:
        db.exec(text("SELECT 1"))  # type: ignore[call-overload]
        checks["database"] = "ok"
    except Exception as err:  # report, don't crash
        checks["database"] = f"error: {type(err).__name__}"
    try:
        await temporal.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as err:
        checks["temporal"] = f"error: {type(err).__name__}"
    checks["status"] = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return checks
