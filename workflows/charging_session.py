"""`ChargingSession`: one durable workflow per charging session.

authorize → start → meter updates → stop → rate → charge payment → receipt.

The gateway drives it: Authorize and the transaction start are *updates* (the charger waits for
the answer); meter readings and the stop are *signals*. Everything with side effects runs as an
activity, so a crashed worker resumes exactly where it was and nothing is billed twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.session_activities import SessionActivities
    from domain.credentials import token_fingerprint
    from domain.rating import Consumption, rate
    from domain.session import (
        Authorization,
        AuthorizationStatus,
        AuthorizeRequest,
        ChargeRequest,
        MeterUpdate,
        RateRequest,
        ReceiptRequest,
        SessionInput,
        SessionRecord,
        SessionState,
        SessionView,
        StartRequest,
        StartResult,
        StopRequest,
    )
    from domain.tariff import Tariff
    from workflows import contract

_ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Database work retries until it succeeds; a stuck store must never lose a session.
_STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)


@workflow.defn(name=contract.CHARGING_SESSION)
class ChargingSession:
    """A charging session, readable in the Temporal UI by its id `session-{station}-{tx}`."""

    @workflow.init
    def __init__(self, params: SessionInput) -> None:
        self.params = params
        self.view = SessionView(
            session_id=params.session_id,
            station_id=params.station_id,
            transaction_id=params.transaction_id,
            state=SessionState.AUTHORIZED,
        )
        self.authorization: Authorization | None = None
        self.start_request: StartRequest | None = None
        self.start_result: StartResult | None = None
        self.stop_request: StopRequest | None = None
        self.tariff: Tariff | None = None
        self._lock = asyncio.Lock()  # authorize/start run one at a time (retransmissions)

    # ---- queries -------------------------------------------------------------------------

    @workflow.query(name=contract.QUERY_STATE)
    def state(self) -> SessionView:
        """Live state: energy and cost so far, status, stop reason."""
        return self.view

    # ---- updates (the charger waits for these answers) -----------------------------------

    @workflow.update(name=contract.UPDATE_AUTHORIZE)
    async def authorize(self, request: AuthorizeRequest) -> Authorization:
        """Answer an Authorize for the session-to-be."""
        async with self._lock:
            if self.authorization and self.authorization.id_token == request.id_token:
                return self.authorization
            self.authorization = await self._authorize(request.id_token)
            self._note_token(self.authorization)
            return self.authorization

    @authorize.validator
    def _validate_authorize(self, request: AuthorizeRequest) -> None:
        # A validator raises to reject; a rejected update writes nothing to history.
        if self.start_request is not None or self.stop_request is not None:
            raise ValueError("session already started")

    @workflow.update(name=contract.UPDATE_START)
    async def start(self, request: StartRequest) -> StartResult:
        """Record the start of the transaction and tell the charger whether its token is valid."""
        async with self._lock:
            if self.start_result is not None:  # a retransmitted StartTransaction
                return self.start_result
            authorization = self.authorization
            if authorization is None or authorization.id_token != request.id_token:
                authorization = await self._authorize(request.id_token)
                self.authorization = authorization
            accepted = authorization.status == AuthorizationStatus.ACCEPTED
            state = SessionState.CHARGING if accepted else SessionState.REJECTED
            started = await workflow.execute_activity_method(
                SessionActivities.record_session,
                SessionRecord(
                    session_id=self.params.session_id,
                    station_id=self.params.station_id,
                    transaction_id=self.params.transaction_id,
                    connector_id=request.connector_id,
                    id_token=request.id_token,
                    driver_id=authorization.driver_id,
                    state=state,
                    started_at=request.timestamp,
                    meter_start_wh=request.meter_start_wh,
                    review_reason=None if accepted else f"started with {authorization.status}",
                ),
                start_to_close_timeout=_ACTIVITY_TIMEOUT,
                retry_policy=_STORE_RETRY,
            )
            self.tariff = Tariff.model_validate(started.tariff)
            self.start_request = request
            self.view.state = state
            self.view.connector_id = request.connector_id
            self.view.started_at = request.timestamp
            self.view.meter_start_wh = request.meter_start_wh
            self.view.currency = self.tariff.currency
            self._note_token(authorization)
            self.start_result = StartResult(
                transaction_id=self.params.transaction_id, authorization=authorization
            )
            return self.start_result

    @start.validator
    def _validate_start(self, request: StartRequest) -> None:
        if self.view.state in (SessionState.EXPIRED, SessionState.COMPLETED):
            raise ValueError(f"session is {self.view.state}")

    # ---- signals (the gateway has already answered the charger) --------------------------

    @workflow.signal(name=contract.SIGNAL_METER)
    def meter(self, update: MeterUpdate) -> None:
        """A compact live reading; raw samples are already in the store."""
        if update.power_w is not None:
            self.view.power_w = update.power_w
        if update.energy_wh is not None:
            self.view.last_energy_wh = update.energy_wh
        self._refresh_live_cost(update)

    @workflow.signal(name=contract.SIGNAL_STOP)
    def stop(self, request: StopRequest) -> None:
        """The transaction ended; the first stop wins, repeats are ignored."""
        if self.stop_request is None:
            self.stop_request = request

    # ---- the session itself --------------------------------------------------------------

    @workflow.run
    async def run(self, params: SessionInput) -> SessionView:
        started = await self._wait(
            lambda: self.start_request is not None or self._refused_before_start(),
            params.authorization_timeout_s,
        )
        if not started or self.start_request is None:
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self.start_request is None:
                final = (
                    SessionState.REJECTED if self._refused_before_start() else SessionState.EXPIRED
                )
                reason = (
                    "credential refused"
                    if final == SessionState.REJECTED
                    else ("authorized but never started")
                )
                return self._finish(final, reason)

        stopped = await self._wait(lambda: self.stop_request is not None, params.max_session_s)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not stopped:
            # "Eternal" guard: close with the last known energy and flag for review.
            self.stop_request = StopRequest(
                timestamp=workflow.now(),
                meter_stop_wh=self.view.last_energy_wh,
                reason="MaxDurationExceeded",
            )
        return await self._settle()

    async def _settle(self) -> SessionView:
        assert self.start_request is not None and self.stop_request is not None
        stop = self.stop_request
        self.view.stopped_at = stop.timestamp
        self.view.stop_reason = stop.reason
        accepted = self.view.state != SessionState.REJECTED
        await self._record(
            SessionState.STOPPED if accepted else SessionState.REJECTED,
            stopped_at=stop.timestamp,
            meter_stop_wh=stop.meter_stop_wh,
            stop_reason=stop.reason,
        )
        if not accepted:
            return self._finish(SessionState.REJECTED, "credential refused; not billed")

        rated = await workflow.execute_activity_method(
            SessionActivities.rate_session,
            RateRequest(session_id=self.params.session_id),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_STORE_RETRY,
        )
        self.view.energy_wh = rated.energy_wh
        self.view.cost_so_far = rated.rating.total
        self.view.total = rated.rating.total
        self.view.currency = rated.rating.currency

        try:
            payment = await workflow.execute_activity_method(
                SessionActivities.charge_payment,
                ChargeRequest(
                    session_id=self.params.session_id,
                    driver_id=self.view.driver_id,
                    amount=rated.rating.total,
                    currency=rated.rating.currency,
                ),
                start_to_close_timeout=_ACTIVITY_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_interval=timedelta(seconds=60),
                    non_retryable_error_types=["PaymentDeclined"],
                ),
            )
            payment_failed = payment.status == "failed"
            failure = payment.failure_reason
        except ActivityError as err:
            payment_failed = True
            cause = err.cause
            failure = cause.message if isinstance(cause, ApplicationError) else str(err)

        await workflow.execute_activity_method(
            SessionActivities.issue_receipt,
            ReceiptRequest(session_id=self.params.session_id),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_STORE_RETRY,
        )
        if payment_failed:
            await self._record(SessionState.PAYMENT_FAILED, review_reason=failure)
            return self._finish(SessionState.PAYMENT_FAILED, failure or "payment failed")
        if stop.reason == "MaxDurationExceeded":
            await self._record(SessionState.NEEDS_REVIEW, review_reason="maximum duration exceeded")
            return self._finish(SessionState.NEEDS_REVIEW, "maximum duration exceeded")
        await self._record(SessionState.COMPLETED)
        return self._finish(SessionState.COMPLETED, f"stopped: {stop.reason}")

    # ---- helpers -------------------------------------------------------------------------

    async def _wait(self, condition, timeout_s: int) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=timedelta(seconds=timeout_s))
            return True
        except TimeoutError:
            return False

    def _refused_before_start(self) -> bool:
        return (
            self.start_request is None
            and self.authorization is not None
            and self.authorization.status != AuthorizationStatus.ACCEPTED
        )

    async def _authorize(self, id_token: str) -> Authorization:
        return await workflow.execute_activity_method(
            SessionActivities.authorize_token,
            AuthorizeRequest(id_token=id_token),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=_STORE_RETRY,
        )

    async def _record(self, state: SessionState, **fields) -> None:
        await workflow.execute_activity_method(
            SessionActivities.record_session,
            SessionRecord(
                session_id=self.params.session_id,
                station_id=self.params.station_id,
                transaction_id=self.params.transaction_id,
                state=state,
                **fields,
            ),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
            retry_policy=_STORE_RETRY,
        )

    def _note_token(self, authorization: Authorization) -> None:
        self.view.id_token_fingerprint = token_fingerprint(authorization.id_token)
        self.view.driver_id = authorization.driver_id
        updates = [
            contract.ID_TOKEN.value_set(self.view.id_token_fingerprint),
            contract.SESSION_STATE.value_set(self.view.state.value),
        ]
        if authorization.driver_id is not None:
            updates.append(contract.DRIVER_ID.value_set(str(authorization.driver_id)))
        workflow.upsert_search_attributes(updates)

    def _refresh_live_cost(self, update: MeterUpdate) -> None:
        if self.start_request is None or self.tariff is None:
            return
        if self.view.last_energy_wh is not None:
            self.view.energy_wh = max(
                self.view.last_energy_wh - self.start_request.meter_start_wh, 0
            )
        elapsed = (update.timestamp - self.start_request.timestamp).total_seconds()
        usage = Consumption(energy_wh=self.view.energy_wh, duration_s=max(int(elapsed), 0))
        self.view.cost_so_far = rate(self.tariff, usage).total

    def _finish(self, state: SessionState, reason: str) -> SessionView:
        self.view.state = state
        self.view.final_reason = reason
        workflow.upsert_search_attributes([contract.SESSION_STATE.value_set(state.value)])
        return self.view
