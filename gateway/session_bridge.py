"""Delivery of OCPP-neutral session events to `ChargingSession` workflows (ADR-005).

Authorize and transaction start are Temporal updates the charger waits for, within a deadline,
else answered from the fallback decision; meter readings are coalesced signals; starts, stops,
status and link changes are stored in the station outbox before the charger is answered and
delivered from there, so none is lost to a crash or an outage.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.session import (
    Authorization,
    AuthorizationStatus,
    AuthorizeRequest,
    ConnectorStatusUpdate,
    MeterUpdate,
    SessionInput,
    SessionView,
    StartRequest,
    StartResult,
    StopRequest,
)
from gateway import metrics
from gateway.decisions import GatewayDecisions
from gateway.fallback import FallbackDecisions
from gateway.outbox import StationOutbox
from gateway.session_delivery import SessionDelivery, mark_start_errors_seen
from gateway.station_store import StationStore
from runtime.settings import Settings
from workflows import contract

log = logging.getLogger(__name__)

_RETRANSMISSION_WINDOW_S = 600.0
_START_RETRY_MAX_S = 30.0  # back-off cap while Temporal is unreachable
_RECORDING_MAX = 64  # unwaited Authorize updates in flight; beyond, the start does their work
_TRANSIENT = (
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.CANCELLED,
)

T = TypeVar("T")


class SessionBridge:
    """Maps charger messages to session workflows by readable, stable workflow ids."""

    def __init__(
        self, client: Client, store: StationStore, settings: Settings, task_queue: str
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.task_queue = task_queue
        self.fallback = FallbackDecisions(store)
        self.decisions = GatewayDecisions(store, settings.ledger_credit_limit)
        self.delivery = SessionDelivery(
            client,
            store,
            self._start_operation,
            starts_in_flight_max=settings.outbox_starts_in_flight_max,
        )
        self.outbox = StationOutbox(client, store, self.delivery)
        # (station, message id) -> session number, so a retransmitted frame hits the same session.
        self._by_message: OrderedDict[tuple[str, str, str], tuple[int, float]] = OrderedDict()
        self._meter_last_sent: dict[str, float] = {}
        self._meter_pending: dict[str, MeterUpdate] = {}
        self._background: set[asyncio.Task] = set()
        self._starts_waiting = 0  # transaction starts waiting on their session's update now
        # OCPP 2.0.1: sessions known to exist, answers to transaction events already handled
        # (a retransmission gets the same answer), things reported once.
        self._known_sessions: OrderedDict[tuple[str, str], bool] = OrderedDict()
        self._answers: OrderedDict[tuple, dict] = OrderedDict()
        self._noted: OrderedDict[tuple, bool] = OrderedDict()
        self._links: OrderedDict[tuple[str, str], str] = OrderedDict()
        # Authorize updates sent without waiting, by session: the start joining it goes after
        # (two updates racing into a just-started workflow stall it for a task timeout).
        self._recording: dict[str, asyncio.Task] = {}
        self._charging_states: OrderedDict[tuple[str, str], str] = OrderedDict()
        # 2.0.1 seqNos seen per transaction (E14: a gap at the end means messages are queued).
        self._seq_nos: OrderedDict[tuple[str, str], set[int]] = OrderedDict()

    async def authorize(self, station_id: str, id_token: str, message_id: str) -> Authorization:
        """Decide on a presented credential: at the gateway when the store settles it, else
        inside a new session workflow (within the deadline, else from the fallback decision).
        An accepted token is remembered for the Start with the same idTag (it joins)."""
        result = await self._at_gateway("Authorize", station_id, id_token, hold=True)
        if result is not None and result.status != AuthorizationStatus.ACCEPTED:
            return result  # refused from the store: no session, nothing to hold
        number = await self._number_for_message(station_id, message_id, id_token)
        update = self.client.execute_update_with_start_workflow(
            contract.UPDATE_AUTHORIZE,
            AuthorizeRequest(id_token=id_token),
            start_workflow_operation=self._start_operation(station_id, number),
            id=f"authorize-{message_id}",
            result_type=Authorization,
        )
        if result is not None and len(self._recording) >= _RECORDING_MAX:
            update.close()  # Temporal is behind: the start will start the session and hold
        elif result is not None:  # accepted here: the session records it and holds, unwaited
            session_id = contract.session_workflow_id(station_id, number)
            task = self._spawn(_log_late_failure(f"{station_id} Authorize (recorded late)", update))
            self._recording[session_id] = task
            task.add_done_callback(lambda _: self._recording.pop(session_id, None))
        else:
            result = await self._within_deadline(
                "Authorize", station_id, update, lambda: self.fallback.decide(station_id, id_token)
            )
        if result.status == AuthorizationStatus.ACCEPTED:  # the Start with this idTag joins it
            await self.store.remember_authorization(
                station_id,
                id_token,
                contract.session_workflow_id(station_id, number),
                self.settings.authorization_timeout_s * 0.9,
            )
        return result

    async def start(self, station_id: str, request: StartRequest, message_id: str) -> StartResult:
        """Start (or join, after a prior Authorize) the session workflow for a transaction."""
        fingerprint = (
            f"{request.connector_id}|{request.id_token}|{request.meter_start_wh}|"
            f"{request.timestamp.isoformat()}"
        )
        # A retransmission, or a retry under a new message id: the same start (its timestamp and
        # meter reading included) is the same transaction.
        number = await self._recent(station_id, "", fingerprint)
        retransmitted = number is not None
        if number is None:
            joined = await self.store.take_authorization(station_id, request.id_token)
            number = int(joined.rsplit("-", 1)[1]) if joined else None
        if number is None:  # a session started from the app/API waiting for this charger?
            remote = await self.store.remote_started_session(
                station_id, request.id_token, request.connector_id
            )
            if remote and remote.isdigit():  # joined by one start only (replayed queues)
                claimed = await self.store.claim_session(
                    contract.session_workflow_id(station_id, remote)
                )
                number = int(remote) if claimed else None
        if number is None:
            number = await self.store.next_session_number()
        self._remember(self._by_message, (station_id, "", fingerprint), (number, time.monotonic()))
        recording = self._recording.get(contract.session_workflow_id(station_id, number))
        if recording is not None and not self._temporal_behind():  # else the outbox sends it
            await asyncio.wait({recording}, timeout=self.settings.charger_answer_deadline_s / 2)
        try:
            return await self._start_durably(
                "StartTransaction", station_id, str(number), request, message_id, fingerprint
            )
        except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError):
            if retransmitted:  # the same frame again, for a session that has ended since
                return await self._fallback_start(station_id, str(number), request)
        # The session it would join closed (or is closing) meanwhile: ids are never reused.
        number = await self.store.next_session_number()
        self._remember(self._by_message, (station_id, "", fingerprint), (number, time.monotonic()))
        return await self._start_durably(
            "StartTransaction", station_id, str(number), request, message_id, fingerprint
        )

    def meter(self, station_id: str, transaction_id: str, update: MeterUpdate) -> None:
        """Forward a live reading; at most one signal per session per interval (coalesced)."""
        workflow_id = contract.session_workflow_id(station_id, transaction_id)
        update = update.model_copy(update={"received_at": datetime.now(UTC)})
        now = time.monotonic()
        interval = self.settings.meter_signal_interval_s
        last = self._meter_last_sent.get(workflow_id, 0.0)
        already_waiting = workflow_id in self._meter_pending
        self._meter_pending[workflow_id] = update
        if already_waiting:
            return
        delay = max(0.0, last + interval - now)
        self._spawn(self._send_meter_later(workflow_id, delay))

    async def connector_status(
        self,
        station_id: str,
        connector_id: int,
        status: str,
        error_code: str | None,
        at: datetime,
    ) -> None:
        """Store a connector's status; the sessions on that connector (1.6 connector, 2.0.1
        EVSE) are told through the outbox, by the same statement (their idle detection)."""
        update = ConnectorStatusUpdate(timestamp=at, status=status, error_code=error_code)
        await self.outbox.record_status(station_id, connector_id, update)

    async def stop(self, station_id: str, transaction_id: str, request: StopRequest) -> None:
        """Store the stop in the outbox (with the last pending reading); it is delivered from
        there. Returns once it is durable: the charger may be answered."""
        workflow_id = contract.session_workflow_id(station_id, transaction_id)
        pending = self._meter_pending.pop(workflow_id, None)
        self._meter_last_sent.pop(workflow_id, None)
        payload = {
            "stop": request.model_dump(mode="json"),
            "meter": pending.model_dump(mode="json") if pending else None,
        }
        await self.outbox.put(station_id, workflow_id, "stop", payload)

    # ---- OCPP 2.0.1: the charger names the transaction ----------------------------------
    #
    # A 2.0.1 transaction's session is `session-{station}-{key}` where the key is a session
    # number we allocate (or the number of the API session whose remote start it answers),
    # mapped durably from the charger's transactionId in `charger_transactions` (ADR-005).

    async def decide_token(
        self, station_id: str, id_token: str, message_id: str, token_type: str = "ISO14443"
    ) -> Authorization:
        """A token decision not tied to a transaction (2.0.1 Authorize, C01).

        The charger names its transaction later, so the decision cannot live in the session to
        be: it runs in a decision-only `ChargingSession` with its own id
        `authorize-{station}-{uid}` (outside the `session-` ids a transactionId maps to), which
        ends as soon as it has answered. Every request gets a fresh decision (message ids may
        repeat across connections).
        """
        result = await self._at_gateway("Authorize", station_id, id_token, hold=False)
        if result is not None:  # the session workflow applies the same rule at the start
            return result
        workflow_id = f"authorize-{station_id}-{uuid.uuid4().hex[:16]}"
        return await self._within_deadline(
            "Authorize",
            station_id,
            self.client.execute_update_with_start_workflow(
                contract.UPDATE_AUTHORIZE,
                AuthorizeRequest(id_token=id_token, token_type=token_type),
                start_workflow_operation=self._start_operation(
                    station_id, "", workflow_id=workflow_id, decision_only=True
                ),
                id=f"authorize-{message_id}",
                result_type=Authorization,
            ),
            lambda: self.fallback.decide(station_id, id_token),
        )

    async def start_transaction(
        self, station_id: str, key: str, request: StartRequest, message_id: str
    ) -> StartResult | None:
        """Start (or rejoin) `session-{station}-{key}`; None if that session already finished.

        A finished session is never started again (its id may not be reused), so a Started
        retransmitted after the Ended cannot open a second, billable session.
        """
        try:
            result = await self._start_durably(
                "TransactionEvent", station_id, key, request, message_id
            )
        except WorkflowAlreadyStartedError:
            return None
        except WorkflowUpdateFailedError:
            return None  # the session is running but already final (e.g. refused)
        self._remember(self._known_sessions, (station_id, key), True)
        return result

    async def session_authorization(
        self, station_id: str, key: str, message_id: str
    ) -> Authorization | None:
        """The decision a started session was started with; None if it has none (yet).

        Reads the session's own start answer (the `start` update returns it unchanged once the
        session started); a session that has not started is never started by this.
        """
        handle = self.client.get_workflow_handle(contract.session_workflow_id(station_id, key))
        try:
            view = await handle.query(contract.QUERY_STATE, result_type=SessionView)
            if view.started_at is None or view.connector_id is None:
                return None
            again = StartRequest(
                connector_id=view.connector_id, id_token="", timestamp=view.started_at
            )
            result = await handle.execute_update(
                contract.UPDATE_START, again, id=f"start-{message_id}", result_type=StartResult
            )
        except (WorkflowUpdateFailedError, WorkflowQueryFailedError):
            return None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return result.authorization

    async def authorize_session(
        self, station_id: str, key: str, id_token: str, token_type: str, message_id: str
    ) -> Authorization | None:
        """Authorize a started plug-in-first session (E02); None if it is not waiting for one."""
        handle = self.client.get_workflow_handle(contract.session_workflow_id(station_id, key))
        try:
            return await handle.execute_update(
                contract.UPDATE_AUTHORIZE,
                AuthorizeRequest(id_token=id_token, token_type=token_type),
                id=f"authorize-{message_id}",
                result_type=Authorization,
            )
        except WorkflowUpdateFailedError:
            return None  # already authorized, or ended
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def session_exists(self, station_id: str, key: str) -> bool:
        """Whether `session-{station}-{key}` was ever started (running or closed)."""
        if (station_id, key) in self._known_sessions:
            return True
        handle = self.client.get_workflow_handle(contract.session_workflow_id(station_id, key))
        try:
            await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        self._remember(self._known_sessions, (station_id, key), True)
        return True

    async def session_key(self, station_id: str, transaction_id: str) -> str | None:
        """Our session number for a 2.0.1 charger's transactionId at this station (ADR-005).

        None: this station never started such a transaction. Looked up by the authenticated
        station id, so no transactionId can reach another station's session.
        """
        cached = self._links.get((station_id, transaction_id))
        if cached is not None:
            return cached
        session_id = await self.store.charger_transaction(station_id, transaction_id)
        if session_id is None:
            return None
        key = _key_of(station_id, session_id)
        self._remember(self._links, (station_id, transaction_id), key)
        return key

    async def map_transaction(
        self, station_id: str, transaction_id: str, number: str | None = None
    ) -> str:
        """Give a charger's new transaction a session: `number` (a remote start it answers) or
        a fresh one. The first mapping of a transactionId wins (a retransmitted Started, or
        two gateways, agree)."""
        if number is None:
            number = str(await self.store.next_session_number())
        session_id = contract.session_workflow_id(station_id, number)
        mapped = await self.store.map_charger_transaction(station_id, transaction_id, session_id)
        key = _key_of(station_id, mapped)
        self._remember(self._links, (station_id, transaction_id), key)
        return key

    async def remap_transaction(self, station_id: str, transaction_id: str, detail: dict) -> str:
        """A transactionId reused after its session finished gets a fresh session number."""
        number = str(await self.store.next_session_number())
        session_id = contract.session_workflow_id(station_id, number)
        await self.store.map_charger_transaction(
            station_id, transaction_id, session_id, replace=True
        )
        await self.store.record_event(
            station_id,
            "TransactionIdReused",
            {"transactionId": transaction_id, "session_id": session_id, **detail},
        )
        self._remember(self._links, (station_id, transaction_id), number)
        return number

    async def charging_state(
        self, station_id: str, key: str, update: ConnectorStatusUpdate
    ) -> None:
        """A 2.0.1 transaction's chargingState changed: the session's idle tracking gets it as
        its connector status (what 1.6 reports in StatusNotification), through the outbox.
        Repeats are not sent."""
        if self._charging_states.get((station_id, key)) == update.status:
            return
        workflow_id = contract.session_workflow_id(station_id, key)
        await self.outbox.put(station_id, workflow_id, "status", update)  # after its start
        self._remember(self._charging_states, (station_id, key), update.status)

    def missing_seq_nos(self, station_id: str, transaction_id: str, seq_no: int) -> list[int]:
        """Note a TransactionEvent's seqNo; the numbers below it, since the first this gateway
        saw for the transaction, that have not arrived (none for a first sight)."""
        key = (station_id, transaction_id)
        seen = self._seq_nos.get(key) or set()
        seen.add(seq_no)
        self._remember(self._seq_nos, key, seen, limit=10_000)
        if seq_no - min(seen) < len(seen):
            return []  # every number since the first has arrived
        # At most len(seen) + 100 steps, whatever seqNo a charger sends.
        gaps = (n for n in range(min(seen), seq_no) if n not in seen)
        return list(itertools.islice(gaps, 100))

    def answered(self, key: tuple) -> dict | None:
        """The answer already given to this transaction event (None: not handled yet)."""
        return self._answers.get(key)

    def remember_answer(self, key: tuple, answer: dict) -> None:
        self._remember(self._answers, key, answer)

    def first_time(self, key: tuple) -> bool:
        """True the first time `key` is seen (for reporting something once)."""
        if key in self._noted:
            return False
        self._remember(self._noted, key, True)
        return True

    async def close(self) -> None:
        """Stop delivering (the outbox keeps what is not delivered) and flush meter signals."""
        await self.outbox.close()
        for task in list(self._background):
            task.cancel()
        for workflow_id, update in list(self._meter_pending.items()):
            await self._signal_meter(workflow_id, update)
        self._meter_pending.clear()

    # ---- the deadline and the fallback (ADR-005 §2) ------------------------------------

    async def _at_gateway(
        self, action: str, station_id: str, id_token: str, *, hold: bool
    ) -> Authorization | None:
        """The gateway's own decision from the store, when the workflow could add nothing to
        it (`GatewayDecisions`, ADR-005 §6). None: the caller asks the workflow."""
        try:
            answer = await asyncio.wait_for(
                self.decisions.decide(station_id, id_token, hold_at_answer=hold),
                self.settings.charger_answer_deadline_s,
            )
        except Exception as err:  # the store is slow or down: the workflow path decides
            log.warning("%s %s: no decision at the gateway (%s)", station_id, action, err)
            answer = None
        if answer is None:
            return None
        metrics.decision(action, "gateway")
        return answer

    async def _within_deadline(
        self,
        action: str,
        station_id: str,
        primary: Awaitable[T],
        fallback: Callable[[], Awaitable[T]],
    ) -> T:
        """The primary answer if it comes within the deadline, else the fallback's. The primary
        keeps running past the deadline: the workflow records the real decision."""
        task = asyncio.ensure_future(primary)
        deadline = self.settings.charger_answer_deadline_s
        try:
            result = await asyncio.wait_for(asyncio.shield(task), deadline)
        except TimeoutError:
            reason = f"no answer within {deadline:g}s"
        except RPCError as err:  # Temporal unreachable
            reason = f"Temporal: {err.status.name if err.status else err}"
        else:
            metrics.decision(action, "primary")
            return result
        answer = await fallback()
        metrics.decision(action, "fallback")
        log.warning("%s %s answered from the fallback decision (%s)", station_id, action, reason)
        if not task.done():
            self._spawn(_log_late_failure(f"{station_id} {action}", task))
        return answer

    async def _start_durably(
        self,
        action: str,
        station_id: str,
        key: str,
        request: StartRequest,
        message_id: str,
        fingerprint: str = "",
    ) -> StartResult:
        """Store the start in the outbox, then deliver it within the deadline; past it, answer
        from the fallback decision and leave the delivery to the outbox (the answer given goes
        with it: a session the workflow then refuses is stopped remotely)."""
        session_id = contract.session_workflow_id(station_id, key)
        reuse = WorkflowIDReusePolicy.REJECT_DUPLICATE  # a closed session's id never restarts
        payload = {
            "transaction_id": key,
            "request": request.model_dump(mode="json"),
            "reuse": reuse.name,
            "fingerprint": fingerprint,
        }
        if self._temporal_behind():
            return await self._start_when_busy(
                action, station_id, key, request, payload, message_id
            )
        self._starts_waiting += 1  # taken before the first await: a burst sees it at once
        try:
            row_id = await self.outbox.put(
                station_id, session_id, "start", payload, message_id, inline=True
            )
        except BaseException:
            self._starts_waiting -= 1
            raise
        task = asyncio.ensure_future(
            self.delivery.start_update(station_id, key, request, message_id, reuse)
        )
        task.add_done_callback(_retrieved)  # abandoned past the deadline: the outbox retries
        deadline = self.settings.charger_answer_deadline_s
        waited = True  # counted in `_starts_waiting` until the wait ends
        try:
            result = await asyncio.wait_for(asyncio.shield(task), deadline)
        except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError):
            await self.outbox.delivered(row_id, station_id)
            raise
        except (TimeoutError, RPCError) as err:
            task.cancel()
            self._starts_waiting -= 1  # no longer waiting on Temporal (see `finally`)
            waited = False
            try:
                answer = await self._fallback_start(station_id, key, request)
                told = answer.authorization
                await self.outbox.note(
                    row_id, {"told": told.model_dump(mode="json") if told else None}
                )
            finally:  # told or not, the drain delivers it (a stalled row would hold the station)
                self.outbox.release(row_id, station_id)
            metrics.decision(action, "fallback")
            log.warning("%s %s answered from the fallback decision (%s)", station_id, action, err)
            return answer
        except BaseException:  # anything else (or the charger went away): the outbox delivers it
            self.outbox.release(row_id, station_id)
            raise
        finally:
            if waited:
                self._starts_waiting -= 1
        metrics.decision(action, "primary")
        await self.outbox.delivered(row_id, station_id)
        return result

    async def _start_when_busy(
        self,
        action: str,
        station_id: str,
        key: str,
        request: StartRequest,
        payload: dict,
        message_id: str,
    ) -> StartResult:
        """Temporal is behind (`charger_starts_waiting_max` starts already wait on it, or the
        outbox's starts take every slot): waiting too would most likely end in the fallback past
        the deadline, and the abandoned update would be sent again by the outbox. Answer from
        the fallback decision now and store the start, with that answer, for the outbox to
        deliver (ADR-005 §6)."""
        answer = await self._fallback_start(station_id, key, request)
        told = answer.authorization.model_dump(mode="json") if answer.authorization else None
        session_id = contract.session_workflow_id(station_id, key)
        stored = {**payload, "told": told}
        await self.outbox.put(station_id, session_id, "start", stored, message_id)
        metrics.decision(action, "busy")
        log.info("%s %s answered from the fallback decision (Temporal behind)", station_id, action)
        return answer

    async def _fallback_start(
        self, station_id: str, transaction_id: str, request: StartRequest
    ) -> StartResult:
        authorization = (
            await self.fallback.decide(station_id, request.id_token) if request.id_token else None
        )
        return StartResult(transaction_id=transaction_id, authorization=authorization)

    # ---- helpers -------------------------------------------------------------------------

    def _temporal_behind(self) -> bool:
        """Enough starts already wait on Temporal (ADR-005 §6): a start now is answered from
        the fallback decision at once and delivered by the outbox."""
        waiting = self._starts_waiting >= self.settings.charger_starts_waiting_max
        return waiting or self.delivery.starts_behind

    def _start_operation(
        self,
        station_id: str,
        transaction_id: str | int,
        *,
        workflow_id: str | None = None,
        reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        decision_only: bool = False,
    ):
        session_id = workflow_id or contract.session_workflow_id(station_id, transaction_id)
        operation = WithStartWorkflowOperation(
            contract.CHARGING_SESSION,
            SessionInput(
                session_id=session_id,
                station_id=station_id,
                transaction_id=str(transaction_id),
                decision_only=decision_only,
                **self.settings.session_guards(),
            ),
            id=session_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse_policy,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(contract.STATION_ID, station_id),
                    SearchAttributePair(
                        contract.SESSION_KIND,
                        contract.KIND_DECISION if decision_only else contract.KIND_SESSION,
                    ),
                ]
            ),
            static_summary=(
                f"Token decision at {station_id}"
                if decision_only
                else f"Charging session at {station_id}"
            ),
        )
        mark_start_errors_seen(operation)
        return operation

    async def _number_for_message(self, station_id: str, message_id: str, fingerprint: str) -> int:
        """The session number for this frame: the same for a retransmission of it, else new."""
        number = await self._recent(station_id, message_id, fingerprint)
        if number is None:
            number = await self.store.next_session_number()
            self._remember(
                self._by_message, (station_id, message_id, fingerprint), (number, time.monotonic())
            )
        return number

    async def _recent(self, station_id: str, message_id: str, fingerprint: str) -> int | None:
        """A frame seen lately with the same id *and content* (chargers reuse message ids after
        a reboot, so the id alone would join a stale session): this gateway's memory, else a
        start stored in the outbox by any gateway (the charger may have moved)."""
        entry = self._by_message.get((station_id, message_id, fingerprint))
        if entry is not None and time.monotonic() - entry[1] <= _RETRANSMISSION_WINDOW_S:
            return entry[0]
        key = await self.store.recent_start(
            station_id, message_id, fingerprint, _RETRANSMISSION_WINDOW_S
        )
        return int(key) if key and key.isdigit() else None

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
        """Retried until delivered (a newer reading pending for the session supersedes it)."""
        delay = 0.2
        while True:
            try:
                await self.client.get_workflow_handle(workflow_id).signal(
                    contract.SIGNAL_METER, update
                )
                return
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return  # the session already ended; the samples are in the store
                if workflow_id in self._meter_pending:
                    return  # a newer reading will be sent
                log.warning("meter signal to %s failed (%s), retrying", workflow_id, err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


def _retrieved(future: asyncio.Future) -> None:
    """Mark an abandoned attempt's outcome as seen (else asyncio logs each with its traceback:
    6,185 times in one fleet burst)."""
    if not future.cancelled():
        future.exception()


def _key_of(station_id: str, session_id: str) -> str:
    """`session-{station}-{key}` -> key."""
    prefix = contract.session_workflow_id(station_id, "")
    assert session_id.startswith(prefix), (session_id, station_id)
    return session_id[len(prefix) :]


async def _log_late_failure(what: str, task: asyncio.Future) -> None:
    try:
        await task
    except Exception as err:
        log.warning("%s: the late primary decision failed: %s", what, err)
