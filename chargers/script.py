"""Scripted chargers: a virtual charger whose transactions the caller spells out message by
message, on a clock and meter the caller moves. Tests that need exact energy, exact times, a
retransmitted message id or a message out of order use it; everything else (connection, boot,
heartbeat, the answers to the CSMS's commands, the journal) is the charger's own.

    async with scripted(gateway_url, "DEMO-1", password) as cp:          # 1.6, booted
        await cp.start_transaction("TAG")                                  # meterStart 10,000 Wh
        await cp.meter(1_500, minutes=10)                                  # +1,500 Wh, 10 min later
        await cp.stop_transaction()

    async with scripted(gateway_url, "DEMO-1", password, version="2.0.1") as station:
        tx = station.transaction(1, "TAG")
        await station.event(tx.started())
        await station.event(tx.updated(1000))
        await station.event(tx.ended())

Remote starts and stops are answered by the script (a scripted transaction, at the script's
clock and meter), switchable with `accept_remote_start`, `start_after_remote_start`,
`accept_remote_stop` and `stop_after_remote_stop`. `charger.call` sends any CALL (raising on a
CALLERROR) and `charger.send_raw` any frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chargers.charger import Charger
from chargers.config import Behaviour, ChargerConfig
from chargers.rpc import Answer

ENERGY = "Energy.Active.Import.Register"


def iso(at: datetime) -> str:
    """RFC 3339 in UTC to the second, e.g. 2026-01-01T12:00:00Z."""
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class _Script:
    """What both versions share: the charger, its commands and explicit CALLs."""

    def __init__(self, charger: Charger) -> None:
        self.clock = _now()
        self._tasks: set[asyncio.Task] = set()
        self.attach(charger)

    def attach(self, charger: Charger) -> None:
        """Drive `charger` from now on (e.g. the same station on another gateway)."""
        self.charger = charger
        for action, handler in self._overrides().items():
            charger.answer_with(action, handler)

    def _overrides(self) -> dict[str, Any]:
        return {}

    @property
    def station_id(self) -> str:
        return self.charger.station_id

    @property
    def received(self) -> list[tuple[str, dict]]:
        """Every CALL received from the CSMS (action, payload), oldest first."""
        return [(e["action"], e["payload"]) for e in self.charger.journal.find("command")]

    def actions_received(self) -> list[str]:
        return [action for action, _ in self.received]

    async def call(self, action: str, payload: dict, **options: Any) -> dict:
        """One CALL now; its answer's payload (`CallError` on a CALLERROR)."""
        return await self.charger.call(action, payload, **options)

    def later(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class Script16(_Script):
    """OCPP 1.6J: one transaction at a time, meter `meter_wh`, clock `clock` (the script's)."""

    def __init__(self, charger: Charger) -> None:
        self.accept_remote_start = True
        self.start_after_remote_start = True
        self.accept_remote_stop = True
        self.stop_after_remote_stop = True
        self.meter_wh = 10_000
        self.transaction_id: int | None = None
        self.id_tag: str | None = None
        super().__init__(charger)

    def _overrides(self) -> dict[str, Any]:
        return {
            "RemoteStartTransaction": self._remote_start,
            "RemoteStopTransaction": self._remote_stop,
        }

    def _remote_start(self, p: dict) -> Answer:
        accept = self.accept_remote_start
        followup = None
        if accept and self.start_after_remote_start:
            followup = self._quietly(self.start_transaction(p["idTag"], p.get("connectorId") or 1))
        return {"status": "Accepted" if accept else "Rejected"}, followup

    def _remote_stop(self, p: dict) -> Answer:
        accepted = self.accept_remote_stop and p["transactionId"] == self.transaction_id
        followup = None
        if accepted and self.stop_after_remote_stop:
            followup = self._quietly(self.stop_transaction("Remote"))
        return {"status": "Accepted" if accepted else "Rejected"}, followup

    async def _quietly(self, coro) -> None:
        with contextlib.suppress(Exception):  # the journal has the CALL and its fate
            await coro

    async def boot(self) -> dict:
        """An explicit BootNotification (the charger booted by itself already)."""
        return await self.call(
            "BootNotification", {"chargePointVendor": "Test", "chargePointModel": "T"}
        )

    async def authorize(self, id_tag: str) -> dict:
        """Authorize; the idTagInfo."""
        return (await self.call("Authorize", {"idTag": id_tag}))["idTagInfo"]

    async def start_transaction(self, id_tag: str, connector_id: int = 1) -> dict:
        """StartTransaction at the script's meter and clock; the answer."""
        self.id_tag = id_tag
        result = await self.call(
            "StartTransaction",
            {
                "connectorId": connector_id,
                "idTag": id_tag,
                "meterStart": self.meter_wh,
                "timestamp": iso(self.clock),
            },
        )
        self.transaction_id = result["transactionId"]
        return result

    async def meter(
        self, wh: int, minutes: int = 1, connector_id: int = 1, power_w: float | None = None
    ) -> None:
        """`wh` more energy, `minutes` later: one MeterValues with the register (and the
        power, if given)."""
        self.meter_wh += wh
        self.clock += timedelta(minutes=minutes)
        sampled: list[dict] = [{"value": str(self.meter_wh), "measurand": ENERGY, "unit": "Wh"}]
        if power_w is not None:
            sampled.append(
                {"value": f"{power_w:.1f}", "measurand": "Power.Active.Import", "unit": "W"}
            )
        await self.call(
            "MeterValues",
            {
                "connectorId": connector_id,
                "transactionId": self.transaction_id,
                "meterValue": [{"timestamp": iso(self.clock), "sampledValue": sampled}],
            },
        )

    async def status(self, status: str, connector_id: int = 1, minutes: int = 0) -> None:
        self.clock += timedelta(minutes=minutes)
        await self.call(
            "StatusNotification",
            {
                "connectorId": connector_id,
                "errorCode": "NoError",
                "status": status,
                "timestamp": iso(self.clock),
            },
        )

    async def stop_transaction(
        self, reason: str = "Local", minutes: int = 1, id_tag: str | None = None
    ) -> dict:
        """StopTransaction of the current transaction, `minutes` later, with `id_tag` (default:
        the start's; another card of its group may stop it); the answer."""
        self.clock += timedelta(minutes=minutes)
        payload: dict = {
            "meterStop": self.meter_wh,
            "timestamp": iso(self.clock),
            "transactionId": self.transaction_id,
            "reason": reason,
        }
        if id_tag or self.id_tag:
            payload["idTag"] = id_tag or self.id_tag
        return await self.call("StopTransaction", payload)


def meter_value(at: datetime, energy_wh: int, context: str, power_w: float | None = None) -> dict:
    """One 2.0.1 MeterValueType: the energy register (Wh) and optionally the power (W)."""
    sampled: list[dict] = [
        {
            "value": energy_wh,
            "measurand": ENERGY,
            "context": context,
            "unitOfMeasure": {"unit": "Wh"},
        }
    ]
    if power_w is not None:
        sampled.append(
            {
                "value": round(power_w, 1),
                "measurand": "Power.Active.Import",
                "context": context,
                "unitOfMeasure": {"unit": "W"},
            }
        )
    return {"timestamp": iso(at), "sampledValue": sampled}


def _clean(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if v is not None}


@dataclass
class Transaction201:
    """One 2.0.1 transaction's TransactionEvent payloads, built in order (seqNo, clock, energy).

    Building an event does not send it: an offline station queues them and sends them later.
    """

    evse_id: int
    id_token: dict | None
    meter_wh: int
    at: datetime
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    spacing: timedelta = timedelta(minutes=1)
    seq_no: int = 0
    remote_start_id: int | None = None

    def _event(self, event_type: str, trigger: str, info: dict, **extra: Any) -> dict:
        event = _clean(
            {
                "eventType": event_type,
                "timestamp": iso(self.at),
                "triggerReason": trigger,
                "seqNo": self.seq_no,
                "transactionInfo": {"transactionId": self.transaction_id, **info},
                **extra,
            }
        )
        self.seq_no += 1
        return event

    def started(
        self, trigger: str = "Authorized", *, with_token: bool = True, offline: bool = False
    ) -> dict:
        info: dict = {"chargingState": "Charging" if with_token else "EVConnected"}
        if self.remote_start_id is not None:
            info["remoteStartId"] = self.remote_start_id
        return self._event(
            "Started",
            trigger,
            info,
            evse={"id": self.evse_id, "connectorId": 1},
            idToken=self.id_token if with_token else None,
            meterValue=[meter_value(self.at, self.meter_wh, "Transaction.Begin")],
            offline=offline or None,
        )

    def updated(
        self,
        wh: int = 0,
        trigger: str = "MeterValuePeriodic",
        *,
        id_token: dict | None = None,
        charging_state: str = "Charging",
        after: timedelta | None = None,
        offline: bool = False,
    ) -> dict:
        """`wh` more energy, `after` (default: one `spacing` if there is energy, else none)."""
        self.at += after if after is not None else (self.spacing if wh else timedelta(0))
        values = None
        if wh:
            self.meter_wh += wh
            power = wh * 3600 / max(self.spacing.total_seconds(), 1)
            values = [meter_value(self.at, self.meter_wh, "Sample.Periodic", power)]
        info: dict = {"chargingState": charging_state}
        if trigger == "RemoteStart" and self.remote_start_id is not None:
            info["remoteStartId"] = self.remote_start_id
        return self._event(
            "Updated", trigger, info, idToken=id_token, meterValue=values, offline=offline or None
        )

    def ended(
        self,
        reason: str = "Local",
        trigger: str = "StopAuthorized",
        *,
        id_token: dict | None = None,
        offline: bool = False,
    ) -> dict:
        self.at += self.spacing
        info: dict = {"chargingState": "Idle"}
        if reason != "Local":
            info["stoppedReason"] = reason
        return self._event(
            "Ended",
            trigger,
            info,
            idToken=id_token,
            meterValue=[meter_value(self.at, self.meter_wh, "Transaction.End")],
            offline=offline or None,
        )


class Script201(_Script):
    """OCPP 2.0.1: transactions per EVSE, each EVSE's meter in `meter_wh` (default 10,000 Wh
    on first use), clock `clock` (the script's)."""

    def __init__(self, charger: Charger) -> None:
        self.meter_wh: dict[int, int] = {}
        self.transactions: dict[str, Transaction201] = {}
        self.accept_remote_start = True
        self.start_after_remote_start = True
        self.stop_after_remote_stop = True
        super().__init__(charger)

    def _overrides(self) -> dict[str, Any]:
        return {
            "RequestStartTransaction": self._request_start,
            "RequestStopTransaction": self._request_stop,
        }

    async def boot(self, reason: str = "PowerUp") -> dict:
        """An explicit BootNotification (the charger booted by itself already)."""
        return await self.call("BootNotification", self.charger.protocol.boot_payload(reason))

    async def status(self, evse_id: int, status: str, connector_id: int = 1) -> None:
        await self.call(
            "StatusNotification",
            {
                "timestamp": iso(self.clock),
                "connectorStatus": status,
                "evseId": evse_id,
                "connectorId": connector_id,
            },
        )

    async def authorize(self, id_token: str, token_type: str = "ISO14443") -> dict:
        """Authorize; the idTokenInfo."""
        result = await self.call(
            "Authorize", {"idToken": {"idToken": id_token, "type": token_type}}
        )
        return result["idTokenInfo"]

    def transaction(
        self,
        evse_id: int,
        id_token: str | None,
        token_type: str = "ISO14443",
        remote_start_id: int | None = None,
        at: datetime | None = None,
        transaction_id: str | None = None,
    ) -> Transaction201:
        """A new transaction on `evse_id` (not sent yet), continuing the EVSE's meter."""
        tx = Transaction201(
            evse_id=evse_id,
            id_token={"idToken": id_token, "type": token_type} if id_token else None,
            meter_wh=self.meter_wh.get(evse_id, 10_000),
            at=at or self.clock,
            remote_start_id=remote_start_id,
        )
        if transaction_id is not None:  # e.g. a station numbering its transactions 1, 2, ...
            tx.transaction_id = transaction_id
        self.transactions[tx.transaction_id] = tx
        return tx

    async def event(self, event: dict, *, unique_id: str | None = None) -> dict:
        """Send a TransactionEvent and keep the station's meter and clock in step."""
        result = await self.call("TransactionEvent", event, unique_id=unique_id)
        tx = self.transactions.get(event["transactionInfo"]["transactionId"])
        if tx is not None:
            self.meter_wh[tx.evse_id] = tx.meter_wh
            self.clock = max(self.clock, tx.at)
            if event["eventType"] == "Ended":
                self.transactions.pop(tx.transaction_id, None)
        return result

    def active_on(self, evse_id: int) -> Transaction201 | None:
        return next((t for t in self.transactions.values() if t.evse_id == evse_id), None)

    def _request_start(self, p: dict) -> Answer:
        """F01/F02: Accepted on a free EVSE, or on one whose EV is plugged in but not yet
        authorized (then the answer carries that transaction's id)."""
        evse_id = p.get("evseId") or 1
        waiting = self.active_on(evse_id)
        if not self.accept_remote_start or (waiting and waiting.id_token is not None):
            return {"status": "Rejected"}, None
        answer: dict = {"status": "Accepted"}
        if waiting is not None:
            answer["transactionId"] = waiting.transaction_id
        followup = None
        if self.start_after_remote_start:
            followup = self._remote_started(p["idToken"], p["remoteStartId"], evse_id)
        return answer, followup

    async def _remote_started(self, token: dict, remote_start_id: int, evse_id: int) -> None:
        token = {"idToken": token["idToken"], "type": token["type"]}
        waiting = self.active_on(evse_id)
        with contextlib.suppress(Exception):  # the journal has the CALL and its fate
            if waiting is None:
                tx = self.transaction(evse_id, token["idToken"], token["type"], remote_start_id)
                await self.event(tx.started("RemoteStart"))
            elif waiting.id_token is None:  # cable plugged in first: authorize the transaction
                waiting.id_token, waiting.remote_start_id = token, remote_start_id
                await self.event(waiting.updated(0, "RemoteStart", id_token=token))

    def _request_stop(self, p: dict) -> Answer:
        tx = self.transactions.get(p["transactionId"])
        followup = None
        if tx is not None and self.stop_after_remote_stop:
            followup = self._remote_stopped(tx)
        return {"status": "Accepted" if tx is not None else "Rejected"}, followup

    async def _remote_stopped(self, tx: Transaction201) -> None:
        with contextlib.suppress(Exception):
            await self.event(tx.ended("Remote", "RemoteStop"))


def _config(
    url: str, station_id: str, password: str, version: str, options: dict[str, Any]
) -> ChargerConfig:
    options.setdefault("connectors", 2)
    options.setdefault("status_at_boot", False)  # the script says what the connectors do
    options.setdefault("message_timeout_s", 30)
    options.setdefault("behaviour", Behaviour(reconnect_min_s=0.2, reconnect_max_s=1))
    return ChargerConfig(station_id, password, url, version=version, **options)


@contextlib.asynccontextmanager
async def scripted(
    url: str,
    station_id: str,
    password: str,
    *,
    version: str = "1.6",
    script: Any = None,
    boot: bool = True,
    **options: Any,
) -> AsyncIterator[Any]:
    """A powered-on virtual charger (booted unless `boot` is False) with its script; powered
    off when the block exits. `script` continues an earlier script's clock, meter and
    transactions on this new charger; `options` are `ChargerConfig` fields (journal in memory
    unless `journal_file` is given)."""
    charger = Charger(_config(url, station_id, password, version, options))
    if script is None:
        script = Script201(charger) if version == "2.0.1" else Script16(charger)
    else:
        script.attach(charger)
    await charger.start()
    try:
        if boot:
            await charger.wait_booted()
        yield script
    finally:
        await charger.stop()


@dataclass
class ScriptedSession:
    """What the charger was told during one scripted session (`run_session`)."""

    station_id: str
    boot_status: str | None = None
    authorize_status: str | None = None
    start_status: str | None = None  # 1.6 idTagInfo / 2.0.1 idTokenInfo status of the start
    transaction_id: Any = None
    meter_start_wh: int = 0
    meter_stop_wh: int = 0
    started_at: datetime | None = None
    stopped_at: datetime | None = None


async def run_session(
    url: str,
    station_id: str,
    password: str,
    id_tag: str,
    *,
    version: str = "1.6",
    connector_id: int = 1,
    meter_values: int = 5,
    wh_per_interval: int = 1500,
    interval_s: float = 0.0,
    sample_spacing: timedelta = timedelta(minutes=1),
    meter_start_wh: int = 10_000,
    skip_authorize: bool = False,
    token_type: str = "ISO14443",
    journal_file: Path | None = None,
    **options: Any,
) -> ScriptedSession:
    """Boot, Authorize, start, N meter values `sample_spacing` apart (simulated time; the
    wall-clock pause between them is `interval_s`), stop, on a scripted charger; what it was
    told. A refused Authorize ends the run; a start refused by the CSMS stops at once (2.0.1:
    DeAuthorized)."""
    result = ScriptedSession(station_id=station_id, meter_start_wh=meter_start_wh)
    async with scripted(
        url, station_id, password, version=version, journal_file=journal_file, **options
    ) as script:
        result.boot_status = script.charger.boot_status
        if version == "2.0.1":
            await _session_201(
                script,
                result,
                id_tag,
                connector_id,
                token_type,
                skip_authorize,
                meter_values,
                wh_per_interval,
                interval_s,
                sample_spacing,
            )
        else:
            await _session_16(
                script,
                result,
                id_tag,
                connector_id,
                skip_authorize,
                meter_values,
                wh_per_interval,
                interval_s,
                sample_spacing,
            )
    return result


async def _session_16(
    cp: Script16,
    result: ScriptedSession,
    id_tag: str,
    connector_id: int,
    skip_authorize: bool,
    meter_values: int,
    wh: int,
    interval_s: float,
    spacing: timedelta,
) -> None:
    cp.meter_wh = result.meter_start_wh
    if not skip_authorize:
        result.authorize_status = (await cp.authorize(id_tag))["status"]
        if result.authorize_status != "Accepted":
            return
    await cp.status("Preparing", connector_id)
    start = await cp.start_transaction(id_tag, connector_id)
    result.transaction_id, result.started_at = start["transactionId"], cp.clock
    result.start_status = start["idTagInfo"]["status"]
    if result.start_status == "Accepted":
        await cp.status("Charging", connector_id)
        power_w = wh * 3600 / max(spacing.total_seconds(), 1)
        for _ in range(meter_values):
            if interval_s:
                await asyncio.sleep(interval_s)
            cp.meter_wh += wh
            cp.clock += spacing
            await cp.call(
                "MeterValues",
                {
                    "connectorId": connector_id,
                    "transactionId": cp.transaction_id,
                    "meterValue": [
                        {
                            "timestamp": iso(cp.clock),
                            "sampledValue": [
                                {
                                    "value": str(cp.meter_wh),
                                    "measurand": ENERGY,
                                    "unit": "Wh",
                                    "context": "Sample.Periodic",
                                },
                                {
                                    "value": f"{power_w:.1f}",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                    "context": "Sample.Periodic",
                                },
                            ],
                        }
                    ],
                },
            )
        cp.clock += spacing
    await cp.stop_transaction("Local", minutes=0)
    result.meter_stop_wh, result.stopped_at = cp.meter_wh, cp.clock
    await cp.status("Available", connector_id)


async def _session_201(
    station: Script201,
    result: ScriptedSession,
    id_token: str,
    evse_id: int,
    token_type: str,
    skip_authorize: bool,
    meter_values: int,
    wh: int,
    interval_s: float,
    spacing: timedelta,
) -> None:
    station.meter_wh[evse_id] = result.meter_start_wh
    if not skip_authorize:
        info = await station.authorize(id_token, token_type)
        result.authorize_status = info["status"]
        if info["status"] != "Accepted":
            return
    await station.status(evse_id, "Occupied")
    tx = station.transaction(evse_id, id_token, token_type)
    tx.spacing = spacing
    result.transaction_id, result.started_at = tx.transaction_id, tx.at
    started = await station.event(tx.started())
    result.start_status = started["idTokenInfo"]["status"]
    if result.start_status == "Accepted":
        for _ in range(meter_values):
            if interval_s:
                await asyncio.sleep(interval_s)
            await station.event(tx.updated(wh))
        await station.event(tx.ended())
    else:
        await station.event(tx.ended("DeAuthorized", "Deauthorized"))
    result.meter_stop_wh, result.stopped_at = tx.meter_wh, tx.at
    await station.status(evse_id, "Available")
