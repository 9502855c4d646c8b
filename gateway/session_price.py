"""The final price of a session a charger just ended, read from what the store already holds.

Runs after the stop is stored and before the charger is answered (2.0.1 `totalCost`; 1.6
chargers get it in a `FinalCost` message), within what is left of the answer deadline: a price
that cannot be read in time, or that depends on more than the session (a plan's allowance), is
left out rather than guessed. Only a session that is charging is billed, so only it gets a
price; a refused one is free (`0.00`, as the 2.0.1 schema asks for a free transaction); any
other (still pending, closed by a guard) gets none. The rating itself is `domain.final_price` —
the settlement's own function and inputs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

from domain.energy import INTERVAL, REGISTER, sample_wh
from domain.final_price import StoredSession, final_price
from domain.session import ConnectorStatusUpdate, SessionState, StopRequest
from domain.tariff import Tariff
from gateway.station_store import StationStore

log = logging.getLogger(__name__)

# Outbox rows are kept a day after delivery: an older session's statuses may be gone.
_LONGEST_PRICED_SESSION = timedelta(hours=20)


async def session_price(
    store: StationStore, station_id: str, session_id: str, stop: StopRequest, deadline_s: float
) -> int | None:
    """What the session costs in minor units (0: not billed), or None (not priceable from the
    store, or not within the deadline)."""
    if deadline_s <= 0:
        return None
    try:
        return await asyncio.wait_for(_price(store, station_id, session_id, stop), deadline_s)
    except TimeoutError:
        log.info(
            "%s: final price not read within %.1fs; answered without it", session_id, deadline_s
        )
    except Exception as error:  # a price is a courtesy; the stop is already stored
        log.warning("%s: final price not computed (%s)", session_id, error)
    return None


def major_units(amount: int) -> float:
    """A minor-unit amount as the decimal number OCPP's cost fields carry (two decimals)."""
    return float(Decimal(amount) / 100)


async def _price(
    store: StationStore, station_id: str, session_id: str, stop: StopRequest
) -> int | None:
    rows = await store.fetch_dicts(
        "SELECT state, tariff, started_at, meter_start_wh FROM sessions WHERE id = %s",
        (session_id,),
    )
    if not rows:
        return None  # the session's start has not reached the store yet
    row = rows[0]
    if row["state"] == SessionState.REJECTED:
        return 0  # refused: never billed
    if row["state"] != SessionState.CHARGING or not row["tariff"] or row["started_at"] is None:
        return None
    if stop.timestamp - row["started_at"] > _LONGEST_PRICED_SESSION:
        return None
    samples = await store.fetch_dicts(
        "SELECT timestamp, measurand, value, unit FROM meter_samples "
        "WHERE session_id = %s AND measurand IN (%s, %s) AND phase = '' "
        "AND signed_data IS NULL ORDER BY timestamp",
        (session_id, REGISTER, INTERVAL),
    )
    statuses = await store.fetch_dicts(
        "SELECT payload FROM station_outbox "
        "WHERE station_id = %s AND kind = 'status' AND session_id = %s ORDER BY id",
        (station_id, session_id),
    )
    rating = final_price(
        StoredSession(
            tariff=Tariff.model_validate(row["tariff"]),
            started_at=row["started_at"],
            stopped_at=stop.timestamp,
            meter_start_wh=row["meter_start_wh"],
            meter_stop_wh=stop.meter_stop_wh,
            samples=[
                (s["timestamp"], s["measurand"], sample_wh(s["value"], s["unit"])) for s in samples
            ],
            statuses=[ConnectorStatusUpdate.model_validate(s["payload"]) for s in statuses],
        )
    )
    return rating.total if rating is not None else None
