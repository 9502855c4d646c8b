"""The fallback decision: how a charger is answered when the session workflow is late (ADR-005).

The same pure rule the workflow applies (`domain.authorization.decide`), on the token as the store
knows it: known, unblocked, unexpired tokens are accepted, everything else is refused. Concurrency
limits and payment holds are left to the workflow, which catches up and records the real decision.
When the store cannot be read either, the answer is `Invalid`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from domain.authorization import TokenFacts, decide
from domain.session import Authorization, AuthorizationStatus
from gateway.station_store import StationStore

log = logging.getLogger(__name__)


class FallbackDecisions:
    """Token decisions from the store alone, for answers past the deadline."""

    def __init__(self, store: StationStore) -> None:
        self.store = store

    async def decide(self, station_id: str, id_token: str) -> Authorization:
        try:
            return await self._decide(station_id, id_token)
        except Exception as err:  # the store is down too: refuse rather than guess
            log.warning("fallback decision at %s without the store: Invalid (%s)", station_id, err)
            return Authorization(status=AuthorizationStatus.INVALID, id_token=id_token)

    async def _decide(self, station_id: str, id_token: str) -> Authorization:
        if "\x00" in id_token:
            return Authorization(status=AuthorizationStatus.INVALID, id_token=id_token)
        rows = await self.store.fetch_dicts(
            "SELECT free_vend FROM stations WHERE id = %s", (station_id,)
        )
        if rows and rows[0]["free_vend"]:
            return Authorization(
                status=AuthorizationStatus.ACCEPTED, id_token=id_token, free_vend=True
            )
        tokens = await self.store.fetch_dicts(
            "SELECT status, expires_at, driver_id, group_id FROM id_tokens WHERE token = %s",
            (id_token,),
        )
        if not tokens:
            # A guest's payment link: authorised (held), or its webhook already started the
            # session it paid for (the status is refreshed lazily from Stripe).
            guests = await self.store.fetch_dicts(
                "SELECT 1 FROM guest_payments WHERE token = %s AND (status = 'held' OR "
                "(session_id IS NOT NULL AND status IN ('created', 'held', 'used')))",
                (id_token,),
            )
            if guests:
                return Authorization(
                    status=AuthorizationStatus.ACCEPTED, id_token=id_token, guest=True
                )
            return Authorization(status=AuthorizationStatus.INVALID, id_token=id_token)
        token = tokens[0]
        facts = TokenFacts(
            known=True,
            status=token["status"],
            expires_at=token["expires_at"],
            has_driver=token["driver_id"] is not None,
        )
        return Authorization(
            status=decide(facts, datetime.now(UTC)),
            id_token=id_token,
            driver_id=token["driver_id"],
            group_id=token["group_id"],
            expires_at=token["expires_at"],
        )
