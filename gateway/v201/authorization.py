"""C. Authorization: Authorize (C01) — the session workflow decides, the gateway translates."""

from __future__ import annotations

from gateway.connection import StationConnection
from gateway.v201.common import id_token_info


async def authorize(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """C01: answer idTokenInfo for the presented idToken ({idToken, type}).

    A 2.0.1 Authorize is not tied to a transaction (the charger names it later), so the decision
    runs on its own (`SessionBridge.decide_token`). ISO 15118 certificate data is not evaluated:
    no certificateStatus is returned.
    """
    token = payload["idToken"]
    result = await conn.services.bridge.decide_token(
        conn.station_id, token["idToken"], unique_id, token["type"]
    )
    return {"idTokenInfo": id_token_info(result)}
