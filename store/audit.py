"""The append-only audit log: `audit(db, actor, action, target, detail)` from any route.

The entry joins the caller's transaction, so it is kept exactly when the change is. Name
things by id, never by personal data (the log outlives deleted accounts):
`audit(db, who.actor, "token.block", "id_token:12", {"reason": "lost"})`.
"""

from __future__ import annotations

from sqlmodel import Session, select

from domain.access import redact_secrets
from store.access_tables import AuditEntry

AUDITED = "ampflow.audited"  # `Session.info` flag: this transaction has an audit entry


def audit(db: Session, actor: str, action: str, target: str, detail: dict | None = None) -> None:
    """Append one entry (written when the caller's transaction commits); station passwords in
    `detail` are redacted."""
    safe = redact_secrets(detail or {})
    db.add(AuditEntry(actor=actor[:80], action=action[:80], target=target[:200], detail=safe))
    db.info[AUDITED] = True


def was_audited(db: Session) -> bool:
    """Whether `audit` was called on this session (since it was opened)."""
    return bool(db.info.get(AUDITED))


def audit_entries(
    db: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries newest first, filtered; page with `before_id` = the last id seen."""
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if target:
        query = query.where(AuditEntry.target == target)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db.exec(query.order_by(AuditEntry.id.desc()).limit(limit)).all())
