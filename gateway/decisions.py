"""Token decisions the gateway makes itself from the store (ADR-005 §2, "decided at the gateway").

One query reads what `domain.authorization.decide_at_gateway` needs: the token, the station's
free-vend flag and brute-force lock, the credential's limits, and how its hold would be paid.
The rule is the session workflow's own (`domain.authorization.decide`); what only the workflow
knows or does (unknown tokens, limits, holds a provider may decline) returns None and is left
to the workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.authorization import GatewayFacts, TokenFacts, decide_at_gateway
from domain.session import Authorization
from gateway.station_store import StationStore

_FACTS = (
    "SELECT t.status, t.expires_at, t.driver_id, t.group_id, t.id IS NOT NULL AS known, "
    "(SELECT free_vend FROM stations WHERE id = %(station)s) AS free_vend, "
    "EXISTS (SELECT 1 FROM auth_throttle WHERE key = %(throttle)s "
    "        AND locked_until > now()) AS locked, "
    "EXISTS (SELECT 1 FROM id_token_policies p WHERE p.token_id = t.id "
    "        AND p.max_concurrent_sessions IS NOT NULL) AS has_policy, "
    "a.driver_id IS NOT NULL AS has_account, "
    "COALESCE(a.default_payment_method, '') <> '' AS card, a.credit_limit "
    "FROM (SELECT 1) AS one LEFT JOIN id_tokens t ON t.token = %(token)s "
    "LEFT JOIN driver_accounts a ON a.driver_id = t.driver_id"
)


class GatewayDecisions:
    """Answers an Authorize from the store when the workflow could add nothing to it."""

    def __init__(self, store: StationStore, default_credit_limit: int | None) -> None:
        self.store = store
        self.default_credit_limit = default_credit_limit

    async def decide(
        self, station_id: str, id_token: str, *, hold_at_answer: bool
    ) -> Authorization | None:
        """The answer, or None: the session workflow decides (raises if the store fails)."""
        if "\x00" in id_token:
            return None  # cannot be looked up; the workflow refuses it (and counts it)
        throttle = f"authorize:station:{station_id}"
        rows = await self.store.fetch_dicts(
            _FACTS, {"station": station_id, "token": id_token, "throttle": throttle}
        )
        row = rows[0]
        credit_limit = row["credit_limit"] if row["has_account"] else self.default_credit_limit
        facts = GatewayFacts(
            token=TokenFacts(
                known=row["known"],
                status=row["status"],
                expires_at=row["expires_at"],
                has_driver=row["driver_id"] is not None,
            ),
            station_free_vend=bool(row["free_vend"]),
            station_locked=row["locked"],
            has_policy=row["has_policy"],
            driver_id=row["driver_id"],
            card_on_file=row["card"],
            credit_limit=credit_limit,
        )
        status = decide_at_gateway(facts, datetime.now(UTC), hold_at_answer=hold_at_answer)
        if status is None:
            return None
        if facts.station_free_vend:
            return Authorization(status=status, id_token=id_token, free_vend=True)
        return Authorization(
            status=status,
            id_token=id_token,
            driver_id=row["driver_id"],
            group_id=row["group_id"],
            expires_at=row["expires_at"],
        )
