"""The audit log: who blocked which card, who refunded what, who reset which charger."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import PrincipalDep, SessionDep
from store.audit import audit_entries

router = APIRouter(tags=["audit"])


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict


@router.get("/audit")
def read_audit_log(
    db: SessionDep,
    _: PrincipalDep,
    actor: str | None = Query(None, max_length=80, description="e.g. operator:3, admin"),
    action: str | None = Query(None, max_length=80, description="e.g. token.block"),
    target: str | None = Query(None, max_length=200, description="e.g. id_token:12"),
    before_id: int | None = Query(
        None, ge=1, le=2**63 - 1, description="page: entries older than this id"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> list[AuditEntryPublic]:
    """Entries newest first; the log is append-only."""
    rows = audit_entries(
        db, actor=actor, action=action, target=target, before_id=before_id, limit=limit
    )
    return [AuditEntryPublic.model_validate(r, from_attributes=True) for r in rows]
