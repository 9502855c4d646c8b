"""The app's one payments service (the ledger, and Stripe when a key is configured), shared by the
payment, plan and webhook routes."""

from __future__ import annotations

from fastapi import Request

from activities.payments.service import Payments


def payments_of(request: Request) -> Payments:
    """The app's payments service, built on first use and kept on the app's state."""
    service = getattr(request.app.state, "payments", None)
    if service is None:
        service = Payments.from_settings(request.app.state.db, request.app.state.settings)
        request.app.state.payments = service
    return service
