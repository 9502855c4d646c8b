"""`GET /dev/mailbox`: outgoing mail kept locally when no SMTP server is configured (admin)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import select

from api.deps import OperatorDep, SessionDep
from domain.access import normalize_email
from store.access_tables import DevMail

router = APIRouter(prefix="/dev", tags=["auth"])


class MailOut(BaseModel):
    id: int
    to_address: str
    subject: str
    body: str
    created_at: datetime


@router.get("/mailbox")
def dev_mailbox(
    db: SessionDep,
    _: OperatorDep,
    to: str | None = Query(None, max_length=320, description="only mail to this address"),
    limit: int = Query(50, ge=1, le=500),
) -> list[MailOut]:
    """Registration codes, password resets and notices, newest first (no SMTP configured)."""
    query = select(DevMail).order_by(DevMail.id.desc()).limit(limit)  # type: ignore[union-attr]
    if to is not None:
        query = query.where(DevMail.to_address == normalize_email(to))
    return [MailOut.model_validate(row, from_attributes=True) for row in db.exec(query).all()]
