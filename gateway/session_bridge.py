"""Delivery of OCPP-neutral session events to `ChargingSession` workflows.

Authorize and transaction start are Temporal updates (the charger waits for the decision);
meter readings are coalesced signals; the stop is a signal the gateway awaits before answering
(a failed delivery makes the charger retry, so a stop is never lost).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from ampflow.settings import Settings
from domain.session import (
    Authorization,
    AuthorizationStatus,
    AuthorizeRequest,
    MeterUpdate,
    SessionInput,
    StartRequest,
    StartResult,
    StopRequest,
)
from gateway.station_store import StationStore
from workflows import contract

log = logging.getLogger(__name__)


class SessionBridge:
    """Maps charger messages to session workflows by readable, stable workflow ids."""

    def __init__(
        self, client: Client, store: StationStore, settings: Settings, task_queue: str
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.task_queue = task_queue
        # (station, id token) -> session number, for an Authorize followed by a start.
        self._authorized: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        # (station, message id) -> session number, so a retransmitted frame hits the same session.
        self._by_message: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._meter_last_sent: dict[str, float] = {}
        self._meter_pending: dict[str, MeterUpdate] = {}
        self._background: set[asyncio.Task] = set()

    async def authorize(self, station_id: str, id_token: str, message_id: str) -> Authorization:
        """Decide on a presented credential inside a new session workflow."""
        number = await self._number_for_message(station_id, message_id)
        result: Authorization = await self.client.execute_update_with_start_workflow(
            contract.UPDATE_AUTHORIZE,
            AuthorizeRequest(id_token=id_token),
            start_workflow_operation=self._start_operation(station_id, number),
            id=f"authorize-{message_id}",
            result_type=Authorization,
        )
        if result.status == AuthorizationStatus.ACCEPTED:
            self._remember(self._authorized, (station_id, id_token), (number, time.monotonic()))
        return result

    async def start(self, station_id: str, request: StartRequest, message_id: str) -> StartResult:
        """Start (or join, after a prior Authorize) the session workflow for a transaction."""
        number = self._take_authorized(station_id, request.id_token)
        if number is None:  # a session started from the app/API waiting for this charger?
            remote = await self.store.remote_started_session(
                station_id, request.id_token, request.connector_id
            )
            number = int(remote) if remote and remote.isdigit() else None
        if number is None:
            number = await self._number_for_message(station_id, message_id)
        else:
            self._remember(self._by_message, (station_id, message_id), number)
        return await self.start_session(station_id, str(number), request, message_id)

    async def start_session(
        self, station_id: str, transaction_id: str, request: StartRequest, message_id: str
    ) -> StartResult:
        """Send the start update to `session-{station}-{transaction_id}`, creating it if needed."""
        return await self.client.execute_update_with_start_workflow(
            contract.UPDATE_START,
            request,
            start_workflow_operation=self._start_operation(station_id, transaction_id),
            id=f"start-{message_id}",
            result_type=StartResult,
        )

    def meter(self, station_id: str, transaction_id: str, update: MeterUpdate) -> None:
        """Forward a live reading; at most one signal per session per interval (coalesced)."""
        workflow_id = contract.session_workflow_id(station_id, transaction_id)
        now = time.monotonic()
        interval = self.settings.meter_signal_interval_s
        last = self._meter_last_sent.get(workflow_id, 0.0)
        already_waiting = workflow_id in self._meter_pending
        self._meter_pending[workflow_id] = update
        if already_waiting:
            return
        delay = max(0.0, last + interval - now)
        self._spawn(self._send_meter_later(workflow_id, delay))

    async def stop(self, station_id: str, transaction_id: str, request: StopRequest) -> bool:
        """Deliver the stop; False when no such session exists (an unknown transaction)."""
        workflow_id = contract.session_workflow_id(station_id, transaction_id)
        pending = self._meter_pending.pop(workflow_id, None)
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            if pending is not None:
                await handle.signal(contract.SIGNAL_METER, pending)
            await handle.signal(contract.SIGNAL_STOP, request)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        finally:
            self._meter_last_sent.pop(workflow_id, None)
        return True

    async def close(self) -> None:
        """Flush pending meter signals."""
        for task in list(self._background):
            task.cancel()
        for workflow_id, update in list(self._meter_pending.items()):
            await self._signal_meter(workflow_id, update)
        self._meter_pending.clear()

    # ---- helpers -------------------------------------------------------------------------

    def _start_operation(self, station_id: str, transaction_id: str | int):
        session_id = contract.session_workflow_id(station_id, transaction_id)
        return WithStartWorkflowOperation(
            contract.CHARGING_SESSION,
            SessionInput(
                session_id=session_id,
                station_id=station_id,
                transaction_id=str(transaction_id),
                **self.settings.session_guards(),
            ),
            id=session_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(contract.STATION_ID, station_id)]
            ),
            static_summary=f"Charging session at {station_id}",
        )

    async def _number_for_message(self, station_id: str, message_id: str) -> int:
        key = (station_id, message_id)
        number = self._by_message.get(key)
        if number is None:
            number = await self.store.next_session_number()
            self._remember(self._by_message, key, number)
        return number

    def _take_authorized(self, station_id: str, id_token: str) -> int | None:
        entry = self._authorized.pop((station_id, id_token), None)
        if entry is None:
            return None
        number, at = entry
        # Only join a pre-authorized session while its workflow still waits for the start.
        if time.monotonic() - at > self.settings.authorization_timeout_s * 0.9:
            return None
        return number

    @staticmethod
    def _remember(table: OrderedDict, key, value, limit: int = 50_000) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > limit:
            table.popitem(last=False)

    async def _send_meter_later(self, workflow_id: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        update = self._meter_pending.pop(workflow_id, None)
        if update is None:
            return
        self._meter_last_sent[workflow_id] = time.monotonic()
        await self._signal_meter(workflow_id, update)

    async def _signal_meter(self, workflow_id: str, update: MeterUpdate) -> None:
        for attempt in range(5):
            try:
                await self.client.get_workflow_handle(workflow_id).signal(
                    contract.SIGNAL_METER, update
                )
                return
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return  # the session already ended; the samples are in the store
                log.warning("meter signal to %s failed (%s), retrying", workflow_id, err)
                await asyncio.sleep(0.2 * 2**attempt)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
