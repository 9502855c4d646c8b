"""How a station outbox row reaches its workflow (ADR-005 §3).

`start` rows are the session's start update (update-with-start); `stop`, `status` and `link` rows
are signals to the session; `station_event` rows are signals to a maintenance job. A start the
gateway answered from the fallback decision carries that answer (`told`): if the workflow refuses
the session, the charger is stopped remotely.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.maintenance import SIGNAL_STATION_EVENT, StationSignal
from domain.session import (
    AuthorizationStatus,
    ConnectorStatusUpdate,
    LinkUpdate,
    MeterUpdate,
    StartRequest,
    StartResult,
    StopCommand,
    StopRequest,
)
from gateway.outbox import OutboxRow, Postponed, Undeliverable
from gateway.station_store import StationStore
from workflows import contract

log = logging.getLogger(__name__)

START_DELIVERY_TIMEOUT_S = 10.0  # one attempt; the outbox retries with back-off
# Longest wait for a start slot: a slot and the attempt fit in the row's lease (15 s).
START_SLOT_WAIT_S = 4.0
_FORGET_JOB = (
    "UPDATE maintenance_jobs SET state = 'failed', finished_at = now(), "
    "reason = 'the workflow ended without recording it' "
    "WHERE workflow_id = %s AND state = 'running'"
)


class SessionDelivery:
    """Delivers outbox rows; raises to have a row retried, `Undeliverable` to close it."""

    def __init__(
        self, client: Client, store: StationStore, start_operation, *, starts_in_flight_max: int
    ) -> None:
        self.client = client
        self.store = store
        self._start_operation = start_operation  # SessionBridge._start_operation
        # Start updates the outbox has in flight on Temporal at once (ADR-005 §6): in a burst
        # Temporal works through the backlog in turn instead of timing out on all of it at once
        # and answering every redelivery again.
        self._start_slots = asyncio.Semaphore(starts_in_flight_max)

    @property
    def starts_behind(self) -> bool:
        """Every start slot is taken: Temporal is behind on the starts already handed to it."""
        return self._start_slots.locked()

    async def __call__(self, row: OutboxRow) -> None:
        try:
            if row.kind == "start":
                await self._start(row)
            elif row.kind == "stop":
                await self._stop(row)
            elif row.kind == "status":
                await self._signal(row, contract.SIGNAL_CONNECTOR_STATUS, ConnectorStatusUpdate)
            elif row.kind == "link":
                await self._signal(row, contract.SIGNAL_LINK, LinkUpdate)
            elif row.kind == "station_event":  # to a maintenance job (firmware, diagnostics, ...)
                await self._signal(row, SIGNAL_STATION_EVENT, StationSignal)
            else:
                raise Undeliverable(f"unknown outbox kind {row.kind!r}")
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                await self._gone(row)
                raise Undeliverable(f"no running session {row.session_id}") from err
            raise

    async def start_update(
        self,
        station_id: str,
        transaction_id: str,
        request: StartRequest,
        message_id: str,
        reuse_policy: WorkflowIDReusePolicy,
    ) -> StartResult:
        """The start update (update-with-start); its id makes a repeat harmless."""
        operation: WithStartWorkflowOperation = self._start_operation(
            station_id, transaction_id, reuse_policy=reuse_policy
        )
        # A start carrying the refusal the charger was told is an update of its own: the inline
        # attempt under the plain id may already have been accepted by the session.
        told = "-told" if request.refused_as else ""
        return await self.client.execute_update_with_start_workflow(
            contract.UPDATE_START,
            request,
            start_workflow_operation=operation,
            id=f"start-{message_id}{told}",
            result_type=StartResult,
        )

    async def stop_if_refused(self, session_id: str, result: StartResult, told: dict | None):
        """The fallback let the charger start, the workflow refused: stop it remotely."""
        accepted = AuthorizationStatus.ACCEPTED
        if not told or told.get("status") != accepted:
            return
        if result.authorization is not None and result.authorization.status == accepted:
            return
        log.warning("%s started on the fallback decision, refused by the session", session_id)
        await self.client.get_workflow_handle(session_id).signal(
            contract.SIGNAL_REQUEST_STOP,
            StopCommand(requested_by="gateway-fallback", reason="DeAuthorized"),
        )

    async def _start(self, row: OutboxRow) -> None:
        payload = row.payload
        request = StartRequest.model_validate(payload["request"])
        told = payload.get("told") or {}
        if told.get("status") not in (None, AuthorizationStatus.ACCEPTED):
            # The charger was told it may not charge (and stops): the session must agree.
            request = request.model_copy(update={"refused_as": told["status"]})
        try:
            async with asyncio.timeout(START_SLOT_WAIT_S):
                await self._start_slots.acquire()
        except TimeoutError:
            raise Postponed("every start slot is in flight on Temporal") from None
        try:
            result = await asyncio.wait_for(
                self.start_update(
                    row.station_id,
                    payload["transaction_id"],
                    request,
                    row.message_id or f"outbox-{row.id}",
                    WorkflowIDReusePolicy[payload.get("reuse", "REJECT_DUPLICATE")],
                ),
                START_DELIVERY_TIMEOUT_S,
            )
        except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError) as err:
            await self.store.record_event(
                row.station_id,
                "StartNotApplied",
                {"session_id": row.session_id, "reason": str(err), "told": payload.get("told")},
            )
            raise Undeliverable(f"start of {row.session_id} not applied: {err}") from err
        finally:
            self._start_slots.release()
        await self.stop_if_refused(row.session_id, result, payload.get("told"))

    async def _stop(self, row: OutboxRow) -> None:
        handle = self.client.get_workflow_handle(row.session_id)
        if row.payload.get("meter"):
            await handle.signal(
                contract.SIGNAL_METER, MeterUpdate.model_validate(row.payload["meter"])
            )
        await handle.signal(contract.SIGNAL_STOP, StopRequest.model_validate(row.payload["stop"]))

    async def _signal(self, row: OutboxRow, name: str, model) -> None:
        await self.client.get_workflow_handle(row.session_id).signal(
            name, model.model_validate(row.payload)
        )

    async def _gone(self, row: OutboxRow) -> None:
        """A stop for a session that never existed is an operator's business; a maintenance job
        whose workflow is gone is marked failed."""
        if row.kind == "station_event":
            log.warning("maintenance job %s is gone; marking it failed", row.session_id)
            async with self.store.pool.connection() as conn:
                await conn.execute(_FORGET_JOB, (row.session_id,))
            return
        if row.kind != "stop":
            return
        try:
            await self.client.get_workflow_handle(row.session_id).describe()
            return  # it exists and has finished: a repeated stop
        except RPCError:
            pass
        log.warning("%s stopped unknown transaction (%s)", row.station_id, row.session_id)
        await self.store.record_event(
            row.station_id,
            "UnknownTransactionStopped",
            {"session_id": row.session_id, **row.payload.get("stop", {})},
        )


def mark_start_errors_seen(operation: WithStartWorkflowOperation) -> None:
    """The SDK also sets a failed start's error on the operation's handle future, which nothing
    here awaits (the update's own error is raised): mark it seen, else asyncio logs every failed
    attempt with its traceback at garbage collection (23,006 times in one fleet burst)."""
    handle = getattr(operation, "_workflow_handle", None)  # private, hence guarded
    if isinstance(handle, asyncio.Future):
        handle.add_done_callback(lambda done: done.cancelled() or done.exception())
