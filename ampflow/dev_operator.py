"""The dev stack's console account: an admin operator whose password is generated once and kept
in the data dir (like the dev API key), so the console needs no API key in the browser."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlmodel import select

from api.security import hash_password
from store.access_tables import Operator
from store.db import Database

DEV_OPERATOR_EMAIL = "admin@ampflow.dev"


def ensure_dev_operator(db: Database, data_dir: Path) -> tuple[str, str]:
    """The dev admin's e-mail and password (created, or given a new password when the kept one
    is gone)."""
    kept = data_dir / "console_password"
    fresh = not kept.exists()
    if fresh:
        kept.write_text(secrets.token_urlsafe(12))
        kept.chmod(0o600)
    password = kept.read_text().strip()
    with db.session() as session:
        row = session.exec(select(Operator).where(Operator.email == DEV_OPERATOR_EMAIL)).first()
        if row is None:
            row = Operator(
                email=DEV_OPERATOR_EMAIL, name="Dev admin", role="admin", password_hash=""
            )
            fresh = True
        if fresh:
            row.password_hash = hash_password(password)
            session.add(row)
            session.commit()
    return DEV_OPERATOR_EMAIL, password
