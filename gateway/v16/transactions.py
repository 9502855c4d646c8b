"""OCPP 1.6 Authorize, StartTransaction, MeterValues, StopTransaction.

The decisions (may this token charge?) are made by the session workflow; the gateway only
translates. transactionId is the session number, so the workflow id is derived, not looked up.
"""

from __future__ import annotations

import asyncio
import logging

from domain.session import Authorization, StartRequest, StopRequest
from gateway import events
from gateway.connection import StationConnection
from gateway.final_cost import final_cost_after_answer
from gateway.meter_values import live_update, sample_rows
from gateway.timestamps import parse
from workflows import contract

log = logging.getLogger(__name__)


def id_tag_info(authorization: Authorization) -> dict:
    status = authorization.status.value
    info: dict = {"status": "Blocked" if status == "NoCredit" else status}  # 1.6 has no NoCredit
    if authorization.expires_at is not None:
        info["expiryDate"] = authorization.expires_at.isoformat()
    if authorization.group_id:
        info["parentIdTag"] = authorization.group_id[:20]
    return info


async def authorize(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    result = await conn.services.bridge.authorize(conn.station_id, payload["idTag"], unique_id)
    return {"idTagInfo": id_tag_info(result)}


async def start_transaction(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    request = StartRequest(
        connector_id=payload["connectorId"],
        id_token=payload["idTag"],
        meter_start_wh=payload["meterStart"],
        timestamp=parse(payload["timestamp"]),
    )
    result = await conn.services.bridge.start(conn.station_id, request, unique_id)
    session_id = contract.session_workflow_id(conn.station_id, result.transaction_id)
    await conn.services.events.publish(
        events.SessionEvent(
            conn.station_id, request.timestamp, session_id, "started", request.connector_id
        )
    )
    assert result.authorization is not None  # 1.6 always starts with an idTag
    return {
        "transactionId": int(result.transaction_id),
        "idTagInfo": id_tag_info(result.authorization),
    }


async def meter_values(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    transaction_id = payload.get("transactionId")
    tx = str(transaction_id) if transaction_id is not None else None
    session_id = contract.session_workflow_id(conn.station_id, tx) if tx else None
    rows = sample_rows(
        conn.station_id, payload["connectorId"], tx, session_id, payload["meterValue"]
    )
    await conn.services.recorder.store_samples(rows)
    update = live_update(rows)
    if update is not None:
        if tx is not None:
            conn.services.bridge.meter(conn.station_id, tx, update)
        await conn.services.events.publish(
            events.MeterReading(
                conn.station_id,
                update.timestamp,
                payload["connectorId"],
                session_id,
                update.energy_wh,
                update.power_w,
                update.soc_percent,
            )
        )
    return {}


async def stop_transaction(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    tx = str(payload["transactionId"])
    session_id = contract.session_workflow_id(conn.station_id, tx)
    rows = sample_rows(conn.station_id, 0, tx, session_id, payload.get("transactionData", []))
    await conn.services.recorder.store_samples(rows)
    request = StopRequest(
        timestamp=parse(payload["timestamp"]),
        meter_stop_wh=payload["meterStop"],
        reason=payload.get("reason", "Local"),
        id_token=payload.get("idTag"),
    )
    # Stored before it is answered (ADR-005): delivered from the outbox, never lost.
    await conn.services.bridge.stop(conn.station_id, tx, request)
    await conn.services.events.publish(
        events.SessionEvent(conn.station_id, request.timestamp, session_id, "stopped")
    )
    final_cost_after_answer(conn, payload["transactionId"], session_id, request, unique_id)
    if request.id_token is None:
        return {}  # stopped without an identifier: nothing to say about one
    info = await _stop_id_tag_info(conn, request.id_token)
    return {"idTagInfo": info} if info is not None else {}


async def _stop_id_tag_info(conn: StationConnection, id_tag: str) -> dict | None:
    """§6.49: the status of the idTag that stopped the transaction (the charger updates its
    authorization cache from it), as the store knows it — the stop itself is already stored and
    never waits on a workflow. Left out, rather than guessed, when the store cannot say in time."""
    try:
        authorization = await asyncio.wait_for(
            conn.services.bridge.fallback._decide(conn.station_id, id_tag),
            conn.services.settings.charger_answer_deadline_s,
        )
    except Exception as err:
        log.warning("%s StopTransaction answered without idTagInfo: %r", conn.station_id, err)
        return None
    return id_tag_info(authorization)
