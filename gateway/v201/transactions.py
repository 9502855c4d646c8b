"""E. Transactions: TransactionEvent Started / Updated / Ended onto the one `ChargingSession`.

The charger names the transaction, we name the session (ADR-005): a transaction's session is
`session-{station}-{n}` with `n` a session number we allocate at its first Started (or the number
of the API session whose remote start it answers), mapped from the charger's transactionId in
`charger_transactions`. Every later event is looked up by the authenticated station id and the
charger's id, so no transactionId reaches another station's session. A transactionId that names a
finished session (a station renumbering from 1) gets a fresh number; a finished session is never
reopened.

- Started (E01): the workflow's `start` update; meter start from the
  Energy.Active.Import.Register reading if one was sent, else 0; connector = EVSE id. Without an
  idToken (E02, cable plugin first) the session starts Pending and a later idToken authorizes it.
- Updated: samples to the store, a coalesced live reading to the workflow; an idToken
  authorizes a Pending session (E02/E03); a changed transactionInfo.chargingState goes to the
  session's idle tracking (as 1.6's connector status would).
- Ended (E06): the `stop` signal; meter stop from the last energy register if one was sent,
  reason from transactionInfo.stoppedReason (`Local` when omitted, as the spec allows). The
  answer carries the final price (`totalCost`, I03) when the store can rate the session within
  half the answer deadline (`gateway/session_price.py`): the amount the settlement bills.

Every answer carries idTokenInfo when the event carried an idToken. Offline events (E12:
`offline` true, past timestamps) take the same path. A retransmission (same transaction,
eventType, seqNo and timestamp) gets the first answer again with no side effect repeated. An
Updated for a transaction this station never started with us (its Started lost by the charger,
or sent to another CSMS before a move) opens the session as a Started would, from that event's
time, EVSE, token and energy register, and is recorded once (`TransactionOpenedByUpdate`): the
energy is billed, not lost. An Ended for an unknown transaction is acknowledged (a CALLERROR makes
chargers retry forever) and recorded once (`UnknownTransactionStopped`). An
Ended with seqNos missing before it makes the CSMS ask the charger for the transaction's status
(E14 GetTransactionStatus) once the Ended is answered, and record the answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.session import Authorization, ConnectorStatusUpdate, StartRequest, StopRequest
from gateway import events
from gateway.connection import StationConnection
from gateway.meter_values import energy_register_wh, live_update, sample_rows
from gateway.recorder import SampleRow
from gateway.session_price import major_units, session_price
from gateway.timestamps import parse
from gateway.v201.common import id_token_info
from workflows import contract

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TxEvent:
    """The fields of a TransactionEventRequest the session model needs."""

    station_id: str
    event_type: str  # Started | Updated | Ended
    transaction_id: str  # the charger's id
    key: str | None  # our session number (ADR-005); None: not a transaction of this station
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    offline: bool
    evse_id: int | None
    id_token: str | None
    token_type: str
    stopped_reason: str | None
    remote_start_id: int | None
    charging_state: str | None
    received_at: float = field(default_factory=time.monotonic)  # for the answer's time budget

    @property
    def session_id(self) -> str | None:
        if self.key is None:
            return None
        return contract.session_workflow_id(self.station_id, self.key)

    def facts(self) -> dict:
        """What an operator record about this event shows (triggerReason kept)."""
        return {
            "transactionId": self.transaction_id,
            "eventType": self.event_type,
            "seqNo": self.seq_no,
            "triggerReason": self.trigger_reason,
            "offline": self.offline,
            "timestamp": self.timestamp.isoformat(),
        }


def parse_event(station_id: str, payload: dict, key: str | None) -> TxEvent:
    info = payload["transactionInfo"]
    token = payload.get("idToken") or {}
    return TxEvent(
        station_id=station_id,
        event_type=payload["eventType"],
        transaction_id=info["transactionId"],
        key=key,
        seq_no=payload["seqNo"],
        timestamp=parse(payload["timestamp"]),
        trigger_reason=payload["triggerReason"],
        offline=payload.get("offline", False),
        evse_id=(payload.get("evse") or {}).get("id"),
        id_token=token.get("idToken") or None,  # NoAuthorization carries an empty idToken
        token_type=token.get("type", "ISO14443"),
        stopped_reason=info.get("stoppedReason"),
        remote_start_id=info.get("remoteStartId"),
        charging_state=info.get("chargingState"),
    )


async def transaction_event(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """Route one TransactionEventRequest; retransmissions get the first answer.

    A retransmission repeats transaction, eventType, seqNo and timestamp (the timestamp guards
    against stations that restart their seqNo after a reboot).
    """
    bridge = conn.services.bridge
    tx = payload["transactionInfo"]["transactionId"]
    seen = (conn.station_id, tx, payload["eventType"], payload["seqNo"], payload["timestamp"])
    cached = bridge.answered(seen)
    if cached is not None:
        log.info("%s repeated TransactionEvent %s; same answer", conn.station_id, seen[1:])
        return cached
    key = await _key(conn, payload)
    opened_late = key is None and payload["eventType"] == "Updated"
    if opened_late:  # its Started never reached us: this event opens the session
        key = await bridge.map_transaction(conn.station_id, tx)
    event = parse_event(conn.station_id, payload, key)
    missing = bridge.missing_seq_nos(conn.station_id, event.transaction_id, event.seq_no)
    rows = sample_rows(
        conn.station_id,
        event.evse_id or 0,
        event.transaction_id,
        event.session_id,
        payload.get("meterValue", []),
    )
    if event.event_type == "Started" or opened_late:  # samples stored once the key is final
        if opened_late:
            log.warning("%s updated unknown transaction %s", conn.station_id, tx)
            await _record_once(conn, "TransactionOpenedByUpdate", event)
        answer = await _started(conn, event, rows, unique_id)
    else:
        await conn.services.recorder.store_samples(rows)
        handler = _updated if event.event_type == "Updated" else _ended
        answer = await handler(conn, event, rows, unique_id)
        if event.event_type == "Ended" and missing:
            conn.after_answer(unique_id, lambda: _ask_transaction_status(conn, event, missing))
    bridge.remember_answer(seen, answer)
    return answer


async def _key(conn: StationConnection, payload: dict) -> str | None:
    """Our session number for this event's transaction (None: unknown at this station).

    A first Started gets one: the remote start from the API it answers (same station, token and
    remoteStartId), or a fresh number.
    """
    bridge = conn.services.bridge
    tx = payload["transactionInfo"]["transactionId"]
    known = await bridge.session_key(conn.station_id, tx)
    if known is not None or payload["eventType"] != "Started":
        return known
    remote_start_id = payload["transactionInfo"].get("remoteStartId")
    token = (payload.get("idToken") or {}).get("idToken")
    if remote_start_id is not None and token:
        evse = (payload.get("evse") or {}).get("id", 0)
        waiting = await conn.services.store.remote_started_session(conn.station_id, token, evse)
        if waiting == str(remote_start_id):
            return await bridge.map_transaction(conn.station_id, tx, waiting)
    return await bridge.map_transaction(conn.station_id, tx)


async def _started(
    conn: StationConnection, event: TxEvent, rows: list[SampleRow], unique_id: str
) -> dict:
    request = StartRequest(
        connector_id=event.evse_id or 0,
        id_token=event.id_token or "",  # "" = not authorized yet (plug-in first)
        token_type=event.token_type,
        meter_start_wh=energy_register_wh(rows) or 0,
        timestamp=event.timestamp,
        station_transaction_id=event.transaction_id,
    )
    bridge = conn.services.bridge
    assert event.key is not None  # a Started always has a session number
    result = await bridge.start_transaction(conn.station_id, event.key, request, unique_id)
    if result is None and not await _is_repeat(conn, event, request):
        # The id belongs to an older, finished session (e.g. this station spoke 1.6 before and
        # counts its 2.0.1 transactions from 1 again): this transaction gets a number of its own.
        key = await bridge.remap_transaction(
            conn.station_id, event.transaction_id, {"previous": event.session_id}
        )
        event = replace(event, key=key)
        for row in rows:
            row.session_id = event.session_id
        result = await bridge.start_transaction(conn.station_id, key, request, unique_id)
    await conn.services.recorder.store_samples(rows)
    if result is None:  # a Started retransmitted after its session finished
        log.warning("%s re-sent Started of finished %s", conn.station_id, event.session_id)
        await _record_once(conn, "RepeatedStartIgnored", event)
        return await _answer_with_decision(conn, event, unique_id)
    await conn.services.events.publish(
        events.SessionEvent(
            conn.station_id, event.timestamp, event.session_id, "started", request.connector_id
        )
    )
    await _charging_state(conn, event)
    if event.id_token is None:
        return {}  # E02: no idToken, no idTokenInfo
    if result.authorization is None or not _same_token(result.authorization, event):
        return await _answer_with_decision(conn, event, unique_id)
    return {"idTokenInfo": id_token_info(result.authorization)}


async def _is_repeat(conn: StationConnection, event: TxEvent, request: StartRequest) -> bool:
    """Whether the finished session under this key was started by this very event."""
    rows = await conn.services.store.fetch_dicts(
        "SELECT started_at, connector_id, meter_start_wh, id_token FROM sessions WHERE id = %s",
        (event.session_id,),
    )
    if not rows:
        return False
    row = rows[0]
    recorded = (row["started_at"], row["connector_id"], row["meter_start_wh"], row["id_token"])
    token = request.id_token or None  # a plug-in-first start records no token
    return recorded == (request.timestamp, request.connector_id, request.meter_start_wh, token)


async def _updated(
    conn: StationConnection, event: TxEvent, rows: list[SampleRow], unique_id: str
) -> dict:
    bridge = conn.services.bridge
    known = event.key is not None and await bridge.session_exists(conn.station_id, event.key)
    answer: dict = {}
    if event.id_token is not None:
        authorization = await _authorization(conn, event, unique_id, known)
        answer["idTokenInfo"] = id_token_info(authorization)
    if known:
        await _charging_state(conn, event)
    update = live_update(rows)
    if update is not None:
        if known and event.key is not None:
            bridge.meter(conn.station_id, event.key, update)
        await conn.services.events.publish(
            events.MeterReading(
                conn.station_id,
                update.timestamp,
                event.evse_id or 0,
                event.session_id,
                update.energy_wh,
                update.power_w,
                update.soc_percent,
            )
        )
    if not known:  # mapped, but its session is gone (e.g. the Started's start update failed)
        log.warning("%s updated unknown transaction %s", conn.station_id, event.transaction_id)
        await _record_once(conn, "UnknownTransactionUpdated", event)
    return answer


async def _ended(
    conn: StationConnection, event: TxEvent, rows: list[SampleRow], unique_id: str
) -> dict:
    bridge = conn.services.bridge
    answer: dict = {}
    if event.id_token is not None:  # the stop token (E06 StopAuthorized) or a late authorization
        known = event.key is not None and await bridge.session_exists(conn.station_id, event.key)
        answer["idTokenInfo"] = id_token_info(await _authorization(conn, event, unique_id, known))
    request = StopRequest(
        timestamp=event.timestamp,
        meter_stop_wh=energy_register_wh(rows),
        reason=event.stopped_reason or "Local",
        id_token=event.id_token,
    )
    if event.key is None:
        log.warning("%s ended unknown transaction %s", conn.station_id, event.transaction_id)
        await _record_once(conn, "UnknownTransactionStopped", event)
        return answer
    # Stored before it is answered (ADR-005): delivered from the outbox, never lost.
    await bridge.stop(conn.station_id, event.key, request)
    assert event.session_id is not None
    await conn.services.events.publish(
        events.SessionEvent(conn.station_id, event.timestamp, event.session_id, "stopped")
    )
    # The final price, as the settlement will bill it (I03), in what is left of the deadline.
    deadline = conn.services.settings.charger_answer_deadline_s
    left = min(deadline / 2, deadline * 0.8 - (time.monotonic() - event.received_at))
    price = await session_price(
        conn.services.store, conn.station_id, event.session_id, request, left
    )
    if price is not None:
        answer["totalCost"] = major_units(price)
    return answer


async def _authorization(
    conn: StationConnection, event: TxEvent, unique_id: str, known: bool
) -> Authorization:
    """The decision for an idToken presented during a transaction.

    A Pending (plug-in-first) session is authorized by it; a session already authorized with
    the same token answers that decision; anything else (another token, an unknown or finished
    transaction) gets a fresh decision.
    """
    assert event.id_token is not None
    bridge = conn.services.bridge
    if known and event.key is not None:
        authorization = await bridge.authorize_session(
            conn.station_id, event.key, event.id_token, event.token_type, unique_id
        )
        if authorization is not None:
            return authorization
        started = await bridge.session_authorization(conn.station_id, event.key, unique_id)
        if started is not None and _same_token(started, event):
            return started
    return await bridge.decide_token(conn.station_id, event.id_token, unique_id, event.token_type)


def _same_token(authorization: Authorization, event: TxEvent) -> bool:
    """IdTokens compare case-insensitively (IdTokenType)."""
    return authorization.id_token.casefold() == (event.id_token or "").casefold()


async def _charging_state(conn: StationConnection, event: TxEvent) -> None:
    """Idle tracking: EVConnected / SuspendedEV / SuspendedEVSE / Idle vs Charging."""
    if event.charging_state is not None and event.key is not None:
        update = ConnectorStatusUpdate(timestamp=event.timestamp, status=event.charging_state)
        await conn.services.bridge.charging_state(conn.station_id, event.key, update)


async def _answer_with_decision(conn: StationConnection, event: TxEvent, unique_id: str) -> dict:
    if event.id_token is None:
        return {}
    decision = await conn.services.bridge.decide_token(
        conn.station_id, event.id_token, unique_id, event.token_type
    )
    return {"idTokenInfo": id_token_info(decision)}


async def _record_once(conn: StationConnection, kind: str, event: TxEvent) -> None:
    if conn.services.bridge.first_time((conn.station_id, kind, event.transaction_id)):
        await conn.services.store.record_event(conn.station_id, kind, event.facts())


async def _ask_transaction_status(
    conn: StationConnection, event: TxEvent, missing: list[int]
) -> None:
    """E14: an Ended arrived with seqNos missing before it, so the charger may still hold queued
    events of the transaction: ask it (GetTransactionStatus) and record what it says; the queued
    events then arrive and take the usual path."""
    try:
        answer = await conn.call("GetTransactionStatus", {"transactionId": event.transaction_id})
    except Exception as error:  # the charger is gone or refuses: its queue comes when it can
        log.info("%s GetTransactionStatus not answered (%s)", conn.station_id, error)
        return
    log.info(
        "%s transaction %s ended with seqNo %s missing: %s",
        conn.station_id,
        event.transaction_id,
        missing,
        answer,
    )
    await conn.services.store.record_event(
        conn.station_id,
        "TransactionStatusAsked",
        {**event.facts(), "missingSeqNos": missing, "answer": answer},
    )
