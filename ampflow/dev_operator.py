"""The dev stack's console: an admin operator whose password is generated once and kept in the
data dir (like the dev API key), so the console needs no API key in the browser; and, on request,
the fake Stripe of the tests as the card provider, so guests can pay in test mode."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from sqlmodel import select

from api.security import hash_password
from runtime.settings import Settings
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


def start_fake_stripe(settings: Settings):
    """Serve the tests' fake Stripe (in memory) and point the settings at it in test mode; it
    serves its checkout page locally and sends its webhooks, signed, to this API."""
    checkout = Path(__file__).resolve().parents[1]  # the repository, where tests/fakes lives
    if (checkout / "tests" / "fakes").is_dir() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        from tests.fakes.fake_stripe import FakeStripe
    except ImportError as err:  # an installed package without the repository's tests/
        raise SystemExit("--fake-stripe needs a source checkout (tests/fakes)") from err
    fake = FakeStripe()
    settings.stripe_api_key = "sk_test_ampflow_dev"
    settings.stripe_api_base = fake.start()
    if not settings.stripe_webhook_secret:
        settings.stripe_webhook_secret = "whsec_" + secrets.token_hex(16)
    fake.send_webhooks(f"{settings.api_base_url}/webhooks/stripe", settings.stripe_webhook_secret)
    return fake
