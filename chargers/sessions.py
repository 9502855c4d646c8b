"""Charging sessions on a charger: authorization, plug-in, start, metering in real time, stop.

Version-neutral; the charger's protocol builds the messages. A start refused by the CSMS
(idTagInfo not Accepted) ends the transaction at once when StopTransactionOnInvalidId /
StopTxOnInvalidId is set, as the specs ask.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from chargers.clock import iso
from chargers.connector import Connector, Transaction
from chargers.smart import Profile

if TYPE_CHECKING:
    from chargers.charger import Charger


class Sessions:
    def __init__(self, charger: Charger) -> None:
        self.charger = charger
        self.history: list[Transaction] = []  # every transaction since power on

    # ---- queries ---------------------------------------------------------------------------

    def connector(self, connector_id: int) -> Connector:
        return self.charger.connectors[connector_id]

    def active(self) -> list[Transaction]:
        return [c.transaction for c in self.charger.connectors.values() if c.transaction]

    def find(self, transaction_id: str | int) -> Transaction | None:
        return next(
            (t for t in self.active() if str(t.transaction_id) == str(transaction_id)), None
        )

    def usable(self, connector: Connector, id_tag: str | None = None) -> bool:
        """Free, operative, not faulted and not reserved for somebody else."""
        station_down = 0 in self.charger.state.inoperative
        reserved = connector.reservation is not None and connector.reservation["id_tag"] != id_tag
        return (
            connector.transaction is None
            and not connector.inoperative
            and not station_down
            and connector.status != "Faulted"
            and not reserved
        )

    def free_connector(self, id_tag: str | None = None) -> Connector | None:
        return next((c for c in self.charger.connectors.values() if self.usable(c, id_tag)), None)

    # ---- the driver ------------------------------------------------------------------------

    async def authorize(self, id_tag: str, token_type: str = "ISO14443") -> str:
        """The CSMS's answer when online; the local list, then the cache, when offline."""
        charger, settings, state = self.charger, self.charger.settings, self.charger.state
        entries = state.local_list.entries if settings.flag("local_list_enabled") else {}
        source, status = "csms", None
        if (
            settings.flag("local_pre_authorize")
            and entries.get(id_tag, {}).get("status") == "Accepted"
        ):
            source, status = "local_list", "Accepted"
        elif charger.online:
            result = await charger.send(
                "Authorize", charger.protocol.authorize_payload(id_tag, token_type)
            )
            if result is not None:
                status = charger.protocol.authorize_status(result)
                if settings.flag("cache_enabled"):
                    state.auth_cache[id_tag] = status
                    charger.save_state()
        if status is None and settings.flag("local_auth_offline"):
            if id_tag in entries:
                source, status = "local_list", entries[id_tag].get("status", "Invalid")
            elif settings.flag("cache_enabled") and id_tag in state.auth_cache:
                source, status = "cache", state.auth_cache[id_tag]
        if status is None:
            unknown_ok = (settings.get("AllowOfflineTxForUnknownId") or "").lower() == "true"
            source, status = "offline", "Accepted" if unknown_ok else "Invalid"
        charger.journal.write("authorize", idTag=id_tag, status=status, source=source)
        return status

    async def plug(self, connector_id: int) -> None:
        """The EV is plugged in (a waiting remote start begins now)."""
        connector = self.connector(connector_id)
        connector.plugged = True
        self.charger.journal.write("plug", connector=connector_id)
        if connector.transaction is None:
            await self.charger.status(connector, "Preparing")
        waiting, connector.waiting = connector.waiting, None
        if waiting is not None:
            await self.start(connector_id, **waiting)

    async def unplug(self, connector_id: int) -> None:
        """The EV leaves; a running transaction stops (EVDisconnected)."""
        connector = self.connector(connector_id)
        connector.plugged = False
        self.charger.journal.write("unplug", connector=connector_id)
        if connector.transaction is not None:
            await self.stop(connector_id, "EVDisconnected")
        await self.charger.status(connector, self.idle_status(connector))

    async def start_local(
        self, id_tag: str, connector: int = 1, token_type: str = "ISO14443"
    ) -> Transaction | None:
        """A driver presents `id_tag` at `connector` and plugs in: authorize, then start."""
        if not self.usable(self.connector(connector), id_tag):
            return None
        if await self.authorize(id_tag, token_type) != "Accepted":
            return None
        if not self.connector(connector).plugged:
            await self.plug(connector)
        return await self.start(connector, id_tag, token_type=token_type)

    # ---- transactions ----------------------------------------------------------------------

    async def start(
        self,
        connector_id: int,
        id_tag: str | None,
        *,
        token_type: str = "ISO14443",
        remote_start_id: int | None = None,
        trigger: str = "Authorized",
        profile: dict | None = None,
    ) -> Transaction | None:
        """Start a transaction on a plugged-in connector; returns it (None if impossible)."""
        charger = self.charger
        connector = self.connector(connector_id)
        if connector.transaction is not None:
            return None
        now = charger.clock.now()
        register = int(connector.meter.advance(now))
        tx = Transaction(
            connector=connector_id,
            id_tag=id_tag,
            meter_start_wh=register,
            started_at=now,
            token_type=token_type,
            remote_start_id=remote_start_id,
            started_offline=not charger.online,
            last_wh=register,
        )
        if charger.v201:
            tx.transaction_id = tx.local_id
        connector.transaction, connector.reservation = tx, None
        self.history.append(tx)
        if profile is not None:
            profile = {**profile, "transactionId": tx.transaction_id} if charger.v201 else profile
            charger.profiles.install(Profile.parse(connector_id, profile, now))
        self._feed(connector, tx)
        charger.journal.write(
            "tx_start",
            local=tx.local_id,
            transactionId=tx.transaction_id,
            connector=connector_id,
            idTag=id_tag,
            meterStart=tx.meter_start_wh,
            startedAt=iso(now),
            remoteStartId=remote_start_id,
            offline=tx.started_offline,
        )
        answer = charger.outbox.put(charger.protocol.tx_started(tx, trigger))
        if not charger.online:  # the CSMS judges the card when the start is replayed
            answer.add_done_callback(lambda done: self._replayed_start(tx, done.result()))
        else:
            with contextlib.suppress(TimeoutError):
                result = await asyncio.wait_for(
                    asyncio.shield(answer), charger.config.message_timeout_s * 2
                )
                status = charger.protocol.start_status(result) if result else None
                if status not in (None, "Accepted"):
                    tx.authorized = False
                    charger.journal.write("tx_refused", local=tx.local_id, status=status)
                    if charger.settings.flag("stop_on_invalid"):
                        await self.stop(connector_id, "DeAuthorized", trigger="Deauthorized")
                        return tx
        if connector.transaction is tx:
            await charger.status(
                connector, "Charging" if connector.meter.power_w > 0 else "SuspendedEVSE"
            )
            connector.meter_task = charger.spawn(self._meter_loop(connector, tx))
        return tx

    def _replayed_start(self, tx: Transaction, result: dict | None) -> None:
        """An offline start's answer, after the replay: stop if the card was refused."""
        status = self.charger.protocol.start_status(result) if result else None
        if status in (None, "Accepted"):
            return
        tx.authorized = False
        self.charger.journal.write("tx_refused", local=tx.local_id, status=status)
        connector = self.connector(tx.connector)
        if connector.transaction is tx and self.charger.settings.flag("stop_on_invalid"):
            self.charger.spawn(self.stop(tx.connector, "DeAuthorized", trigger="Deauthorized"))

    async def stop(
        self,
        connector_id: int,
        reason: str = "Local",
        *,
        trigger: str | None = None,
        graceful: bool = True,
    ) -> Transaction | None:
        """Stop the connector's transaction; returns it (None if there was none)."""
        charger = self.charger
        connector = self.connector(connector_id)
        tx = connector.transaction
        if tx is None:
            return None
        now = charger.clock.now()
        connector.meter.feed(now, None)
        tx.meter_stop_wh, tx.stopped_at, tx.reason = connector.meter.wh, now, reason
        connector.transaction = None
        task, connector.meter_task = connector.meter_task, None
        if isinstance(task, asyncio.Task) and task is not asyncio.current_task():
            task.cancel()
        charger.profiles.drop_transaction(str(tx.transaction_id))
        charger.journal.write(
            "tx_stop",
            local=tx.local_id,
            transactionId=tx.transaction_id,
            connector=connector_id,
            idTag=tx.id_tag,
            meterStart=tx.meter_start_wh,
            meterStop=tx.meter_stop_wh,
            startedAt=iso(tx.started_at),
            stoppedAt=iso(now),
            reason=reason,
            energyWh=tx.meter_stop_wh - tx.meter_start_wh,
        )
        charger.save_state()
        answer = charger.outbox.put(charger.protocol.tx_ended(tx, reason, trigger))
        if graceful and charger.online:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(answer), charger.config.message_timeout_s * 2)
        if connector.plugged and charger.config.behaviour.auto_plug and reason != "EVDisconnected":
            connector.plugged = False  # the driver leaves
        await charger.status(
            connector, "Finishing" if connector.plugged else self.idle_status(connector)
        )
        return tx

    async def stop_all(self, reason: str, graceful: bool = True) -> None:
        for connector in self.charger.connectors.values():
            if connector.transaction is not None:
                await self.stop(connector.id, reason, graceful=graceful)

    async def remote_start(
        self,
        connector_id: int,
        id_tag: str,
        token_type: str = "ISO14443",
        remote_start_id: int | None = None,
        profile: dict | None = None,
    ) -> None:
        """After an accepted remote start: authorize if configured, wait for the EV, start."""
        charger = self.charger
        if charger.settings.flag("authorize_remote"):
            if await self.authorize(id_tag, token_type) != "Accepted":
                return
        start = {
            "id_tag": id_tag,
            "token_type": token_type,
            "remote_start_id": remote_start_id,
            "trigger": "RemoteStart",
            "profile": profile,
        }
        connector = self.connector(connector_id)
        if connector.plugged or charger.config.behaviour.auto_plug:
            connector.plugged = True
            await self.start(connector_id, **start)
        else:
            connector.waiting = start
            await charger.status(connector, "Preparing")

    # ---- metering --------------------------------------------------------------------------

    def _feed(self, connector: Connector, tx: Transaction) -> None:
        """Power from now on: the EV's acceptance under the composite limit."""
        profiles = self.charger.profiles

        ignore = self.charger.config.behaviour.ignore_charging_profiles

        def power(at):
            if ignore:
                return connector.ev_max_w
            limit = profiles.limit_w(connector.id, at, str(tx.transaction_id), tx.started_at)
            return min(connector.ev_max_w, limit)

        def changes(t0, t1):
            return profiles.changes(t0, t1, tx.started_at)

        connector.meter.feed(self.charger.clock.now(), power, changes)

    async def limits_changed(self) -> None:
        """Charging profiles changed: re-read the power (Charging <-> SuspendedEVSE); a 2.0.1
        station reports a changed rate at once (TransactionEvent ChargingRateChanged)."""
        for connector in self.charger.connectors.values():
            tx = connector.transaction
            if tx is None:
                continue
            before = connector.meter.power_w
            self._feed(connector, tx)
            await self._follow_power(connector)
            if self.charger.v201 and connector.meter.power_w != before:
                rate = self.charger.protocol.tx_meter(tx, self.sample(connector))
                rate.payload["triggerReason"] = "ChargingRateChanged"
                self.charger.outbox.put(rate)

    async def _follow_power(self, connector: Connector) -> None:
        wanted = "Charging" if connector.meter.power_w > 0 else "SuspendedEVSE"
        if connector.status in ("Charging", "SuspendedEVSE") and connector.status != wanted:
            await self.charger.status(connector, wanted)

    def sample(self, connector: Connector) -> dict:
        """A meter reading now: the register (Wh), the energy since the last one, the power."""
        now = self.charger.clock.now()
        wh = int(connector.meter.advance(now))
        tx = connector.transaction
        interval = wh - tx.last_wh if tx is not None else 0
        if tx is not None:
            tx.last_wh = wh
        return {"at": now, "wh": wh, "interval_wh": interval, "power_w": connector.meter.power_w}

    def send_meter_values(self, connector_id: int) -> bool:
        """Queue a periodic meter reading of the connector's transaction now (False: none)."""
        connector = self.connector(connector_id)
        tx = connector.transaction
        if tx is None:
            return False
        self.charger.outbox.put(self.charger.protocol.tx_meter(tx, self.sample(connector)))
        return True

    async def _meter_loop(self, connector: Connector, tx: Transaction) -> None:
        charger = self.charger
        while connector.transaction is tx:
            interval = charger.settings.number("meter_interval_s")
            await charger.clock.sleep(interval if interval > 0 else 60)
            if connector.transaction is not tx or interval <= 0:
                continue
            sample = self.sample(connector)
            await self._follow_power(connector)
            charger.outbox.put(charger.protocol.tx_meter(tx, sample))

    def idle_status(self, connector: Connector) -> str:
        if connector.fault is not None:
            return "Faulted"
        if connector.inoperative or 0 in self.charger.state.inoperative:
            return "Unavailable"
        if connector.reservation is not None:
            return "Reserved"
        return "Preparing" if connector.plugged else "Available"
