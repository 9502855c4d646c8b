"""`ChargingSession`: one durable workflow per charging session.

authorize → start → meter updates → stop → rate → charge payment → receipt.

The gateway drives it: Authorize and the transaction start are *updates* (the charger waits for
the answer); meter readings, connector status, the station's link and the stop are *signals*.
The API asks for remote stops (signal) and starts remote sessions (workflow input). Guards:
never started (released), never stopped (remote stop, then closed), charger offline too long
(closed with the last known energy and flagged), spend limit (remote stop before it is passed).
Long sessions continue-as-new with their whole memory. Side effects are activities, so a crashed
worker resumes exactly where it was and nothing is billed twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.credentials import token_fingerprint
    from domain.final_price import EV_IDLE_STATUSES, IDLE_STATUSES
    from domain.payments import HoldRequest, SettleRequest, TimelineRateRequest
    from domain.rating import Consumption, rate
    from domain.session import (
        Authorization,
        AuthorizationStatus,
        AuthorizeRequest,
        ConnectorStatusUpdate,
        IdleInterval,
        LinkUpdate,
        MeterUpdate,
        SessionInput,
        SessionMemory,
        SessionRecord,
        SessionState,
        SessionView,
        StartRequest,
        StartResult,
        StopCommand,
        StopRequest,
    )
    from domain.tariff import Tariff
    from workflows import contract
    from workflows import session_steps as steps
    from workflows.station_command import reached_station

_FINAL = (SessionState.COMPLETED, SessionState.EXPIRED, SessionState.REJECTED)

# Patch ids (docs/adr/ADR-006-workflow-versioning.md): one per change, never reused.
_ORDERED_LINKS = "session-ordered-links"  # link changes by gateway time; readings prove online
_STOP_RETRIES = "session-remote-stop-retries"  # re-send an unacknowledged remote stop
_CLEAN_CANCEL = "session-clean-cancel"  # a cancelled session stops, settles and says why
_GUEST_RELEASE = "session-release-guest"  # a guest's payment is released if never charged
_PROMPT_STOP = "session-prompt-stop"  # a stop asked for before the start is sent at once
_STORED_START = "session-wait-stored-start"  # no expiry while the charger's start is stored
_UNSURE_REMOTE_START = "session-unsure-remote-start"  # a remote start's lost answer: wait
_TOLD_REFUSAL = "session-told-refusal"  # a start the charger was told was refused stays refused
# A hold placed by a local activity whose workflow task was lost (Temporal killed before the task
# completed) is in the store but not in the history: an ending session releases by its id.
_UNRECORDED_HOLD = "session-release-unrecorded-hold"
# The running cost is pushed when it changed since the last push, not at every interval: a
# session whose charger stopped reporting (a lost stop) no longer floods the charger's line.
_COST_ON_CHANGE = "session-cost-push-on-change"
_STORED_START_CHECKS = 15  # minutes at most


@workflow.defn(name=contract.CHARGING_SESSION)
class ChargingSession:
    """A charging session, readable in the Temporal UI by its id `session-{station}-{tx}`."""

    @workflow.init
    def __init__(self, params: SessionInput) -> None:
        self.params = params
        self.m = params.carry or SessionMemory(
            view=SessionView(
                session_id=params.session_id,
                station_id=params.station_id,
                transaction_id=params.transaction_id,
                state=SessionState.PENDING if params.remote_start else SessionState.AUTHORIZED,
            )
        )
        self._lock = asyncio.Lock()  # authorize/start handlers run one at a time
        self._wake = False  # a signal changed something the main loop must look at
        self._closing = False  # deciding to end without a start: new updates are refused

    @property
    def view(self) -> SessionView:
        return self.m.view

    # ---- query -----------------------------------------------------------------------------

    @workflow.query(name=contract.QUERY_STATE)
    def state(self) -> SessionView:
        """Live state: energy and cost so far, status, idle time, stop reason."""
        return self.view

    # ---- updates (the charger waits for these answers) -------------------------------------

    @workflow.update(name=contract.UPDATE_AUTHORIZE)
    async def authorize(self, request: AuthorizeRequest) -> Authorization:
        """Decide on a credential: before the start, or for a started plug-in-first session."""
        async with self._lock:
            known = self.m.authorization
            if known is not None and known.id_token == request.id_token:
                return known
            authorization = await self._with_hold(
                await steps.authorize(
                    request.id_token,
                    request.token_type,
                    self.params.station_id,
                    self.params.session_id,
                )
            )
            self.m.authorization = authorization
            self._note_token(authorization)
            if self.m.start_request is not None and self.view.state == SessionState.PENDING:
                accepted = authorization.status == AuthorizationStatus.ACCEPTED
                self.view.state = SessionState.CHARGING if accepted else SessionState.REJECTED
                await self._record(
                    self.view.state, id_token=request.id_token, driver_id=authorization.driver_id
                )
            return authorization

    @authorize.validator
    def _validate_authorize(self, request: AuthorizeRequest) -> None:
        # A validator raises to reject; a rejected update writes nothing to history.
        if self.m.stop_request is not None or self.view.state in _FINAL or self._closing:
            raise ValueError("session already ended")
        if self.m.start_request is not None and self.view.state != SessionState.PENDING:
            raise ValueError("session already authorized")

    @workflow.update(name=contract.UPDATE_START)
    async def start(self, request: StartRequest) -> StartResult:
        """Record the start of the transaction and tell the charger whether its token is valid."""
        async with self._lock:
            told_refusal = request.refused_as is not None and workflow.patched(_TOLD_REFUSAL)
            if self.m.start_result is not None:  # a retransmitted start
                if told_refusal and self.view.state == SessionState.CHARGING:
                    await self._take_told_refusal(request)
                return self.m.start_result
            authorization = self.m.authorization
            if told_refusal:
                # The charger was answered with this refusal and stopped: so is the session.
                authorization = _told(request)
            elif request.id_token and (
                authorization is None or authorization.id_token != request.id_token
            ):
                authorization = await steps.authorize(
                    request.id_token,
                    request.token_type,
                    self.params.station_id,
                    self.params.session_id,
                )
            if authorization is None:  # no id token: charging is free at a free-vend station
                free = await steps.authorize("", "NoAuthorization", self.params.station_id)
                authorization = free if free.free_vend else None
            if authorization is not None:
                authorization = await self._with_hold(authorization, request.connector_id)
                self.m.authorization = authorization
            if authorization is None:
                state = SessionState.PENDING  # plug-in first: waiting for an id token
            elif authorization.status == AuthorizationStatus.ACCEPTED:
                state = SessionState.CHARGING
            else:
                state = SessionState.REJECTED
            started = await self._record(
                state,
                connector_id=request.connector_id,
                id_token=request.id_token or None,
                driver_id=authorization.driver_id if authorization else None,
                started_at=request.timestamp,
                meter_start_wh=request.meter_start_wh,
                free_vend=bool(authorization and authorization.free_vend),
                review_reason=(
                    f"started with {authorization.status}"
                    if state == SessionState.REJECTED and authorization
                    else None
                ),
            )
            self.m.tariff = started.tariff
            self.m.start_request = request
            self.view.state = state
            self.view.connector_id = request.connector_id
            self.view.started_at = request.timestamp
            self.view.meter_start_wh = request.meter_start_wh
            self.view.currency = self._tariff().currency
            if authorization is not None:
                self._note_token(authorization)
            workflow.upsert_memo({"connector": request.connector_id, "tariff": self._tariff().name})
            self.m.start_result = StartResult(
                transaction_id=self.params.transaction_id, authorization=authorization
            )
            return self.m.start_result

    async def _take_told_refusal(self, request: StartRequest) -> None:
        """The start was accepted here, but the charger had been told a refusal (the gateway's
        fallback decision, delivered after the start itself) and stopped: the session agrees
        with the charger and bills nothing."""
        authorization = _told(request)
        reason = f"the charger was told {authorization.status} (gateway fallback decision)"
        self.m.authorization = authorization
        self.view.state = SessionState.REJECTED
        await self._release_hold(reason)
        await self._record(SessionState.REJECTED, review_reason=reason)
        self.m.start_result = StartResult(
            transaction_id=self.params.transaction_id, authorization=authorization
        )

    @start.validator
    def _validate_start(self, request: StartRequest) -> None:
        if self.view.state in _FINAL:
            raise ValueError(f"session is {self.view.state}")
        if self._closing and self.m.start_request is None:
            raise ValueError("session is closing (never started)")

    # ---- signals (the gateway has already answered the charger) ----------------------------

    @workflow.signal(name=contract.SIGNAL_METER)
    def meter(self, update: MeterUpdate) -> None:
        """A compact live reading; the raw samples are already in the store."""
        if update.power_w is not None:
            self.view.power_w = update.power_w
        if update.energy_wh is not None:
            self.view.last_energy_wh = update.energy_wh
        if update.received_at is not None and self.m.offline_since is not None:
            self._reading_proves_online(update.received_at)
        self._refresh_live_cost(update.timestamp)
        limit = self.params.spend_limit or self.m.spend_limit
        # Stop with a margin (90 %): energy keeps flowing until the charger acts on the stop.
        near_limit = limit is not None and self.view.cost_so_far * 10 >= limit * 9
        if near_limit and self.m.stop_command is None:
            self.m.stop_command = StopCommand(requested_by="spend-limit", reason="SpendLimit")
            self._wake = True

    @workflow.signal(name=contract.SIGNAL_STOP)
    def stop(self, request: StopRequest) -> None:
        """The transaction ended; the first stop wins, repeats are ignored."""
        if self.m.stop_request is None:
            self.m.stop_request = request
        elif "closed without a stop from the charger" in self.view.flags:
            self.m.late_stop = request  # reconciles a session closed by a guard
        self._wake = True

    @workflow.signal(name=contract.SIGNAL_REQUEST_STOP)
    def request_stop(self, command: StopCommand) -> None:
        """A driver or operator wants the session stopped (sent to the charger as a command)."""
        if self.m.stop_command is None:
            self.m.stop_command = command
            self._wake = True

    @workflow.signal(name=contract.SIGNAL_CONNECTOR_STATUS)
    def connector_status(self, update: ConnectorStatusUpdate) -> None:
        """Track idle time: plugged in but not charging."""
        self.view.connector_status = update.status
        open_idle = self.m.idle[-1] if self.m.idle and self.m.idle[-1].end is None else None
        if open_idle is not None and open_idle.status != update.status:
            open_idle.end = update.timestamp
            open_idle = None
        if update.status in IDLE_STATUSES and open_idle is None:
            self.m.idle.append(IdleInterval(start=update.timestamp, status=update.status))
        self.view.idle_s = self._idle_seconds(update.timestamp)

    @workflow.signal(name=contract.SIGNAL_LINK)
    def link(self, update: LinkUpdate) -> None:
        """The station went offline or came back (offline guard). Applied in the order the
        gateways saw them: an older change arriving late (a half-open socket on another gateway
        closing after the charger moved) is ignored."""
        if workflow.patched(_ORDERED_LINKS):
            if self.m.last_link_at is not None and update.timestamp <= self.m.last_link_at:
                return
            self.m.last_link_at = update.timestamp
        self.view.online = update.online
        self.m.offline_since = None if update.online else (self.m.offline_since or workflow.now())
        self._wake = True

    def _reading_proves_online(self, received_at: datetime) -> None:
        """A reading the gateway got after the last link change means the charger is online."""
        if not workflow.patched(_ORDERED_LINKS):
            return
        if self.m.last_link_at is not None and received_at <= self.m.last_link_at:
            return
        self.m.last_link_at = received_at
        self.view.online = True
        self.m.offline_since = None
        self._wake = True

    # ---- the session -----------------------------------------------------------------------

    @workflow.run
    async def run(self, params: SessionInput) -> SessionView:
        try:
            return await self._run(params)
        except asyncio.CancelledError:
            if not params.decision_only and workflow.patched(_CLEAN_CANCEL):
                await self._end_cancelled()
            raise

    async def _end_cancelled(self) -> None:
        """Cancelled (Temporal UI or CLI): stop the charger, settle or release, record why."""
        reason = "cancelled in Temporal"
        if self.view.state in _FINAL:
            return
        if self.m.start_request is None:  # never started: nothing to bill
            await self._release_hold(reason)
            await self._record(SessionState.EXPIRED, review_reason=reason)
            self._finish(SessionState.EXPIRED, reason)
            return
        if self.m.stop_request is None:
            if self.view.state == SessionState.CHARGING:
                await self._send_remote_stop(StopCommand(requested_by="cancel", reason="Remote"))
            self.view.flags.append(reason)
            self._close_without_stop("Cancelled")
        await self._settle()

    async def _run(self, params: SessionInput) -> SessionView:
        if params.decision_only:  # answers one Authorize, then ends (no session, no money)
            await self._wait(lambda: self.m.authorization is not None, 60)
            await workflow.wait_condition(workflow.all_handlers_finished)
            status = self.m.authorization.status if self.m.authorization else "no request"
            return self._finish(
                SessionState.AUTHORIZED if status == "Accepted" else SessionState.REJECTED,
                f"token decision: {status}",
            )
        if self.m.start_request is None:
            outcome = await self._until_started()
            if outcome is not None:
                return outcome
        if self.m.charging_since is None:
            self.m.charging_since = workflow.now()
        while self.m.stop_request is None:
            if await self._guard_tick():
                break
            if workflow.info().get_current_history_length() > params.history_limit:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(params.model_copy(update={"carry": self.m}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        view = await self._settle()
        if "closed without a stop from the charger" in self.view.flags:
            await self._reconcile()
        return view

    async def _until_started(self) -> SessionView | None:
        """Wait for the transaction to start; None when it did, else the final view."""
        remote = self.params.remote_start
        if remote is not None:
            await self._record(
                SessionState.PENDING, id_token=remote.id_token, connector_id=remote.connector_id
            )
            params = {
                "id_token": remote.id_token,
                "connector_id": remote.connector_id,
                "remote_start_id": _number(self.params.transaction_id),
            }
            sent = await steps.command(
                self.params.station_id, "remote_start", params, remote.requested_by
            )
            accepted = sent.outcome == "ok" and sent.status == "Accepted"
            reason = f"remote start not accepted: {sent.status or sent.outcome}"
            if not accepted and workflow.patched(_UNSURE_REMOTE_START):
                if self.m.start_request is not None:
                    # A charger start joined this session meanwhile (the refusal was of a
                    # repeated request): the transaction runs, and is billed, here.
                    workflow.logger.info("%s, but a start joined; going on", reason)
                elif reached_station(sent) is None:
                    # The answer was lost (a gateway or Temporal fault): the charger may have
                    # accepted and started. Wait for its start as after an Accepted; the
                    # authorization timeout (and a start stored in the outbox) decide.
                    workflow.logger.info("remote start answer lost (%s); waiting", sent.outcome)
                else:
                    await self._release_hold(reason)  # a start's hold, had one raced in
                    await self._release_guest(reason)
                    await self._record(SessionState.EXPIRED, review_reason=reason)
                    return self._finish(SessionState.EXPIRED, reason)
            elif not accepted:
                await self._release_guest(reason)
                await self._record(SessionState.EXPIRED, review_reason=reason)
                return self._finish(SessionState.EXPIRED, reason)
        started = await self._wait(
            lambda: self.m.start_request is not None or self._refused_before_start(),
            self.params.authorization_timeout_s,
        )
        if self.m.start_request is None and not self._refused_before_start():
            await self._wait_for_stored_start()
        # Ending without a start: refuse updates from now on (a start arriving now gets a new
        # session from the gateway), but let one already accepted finish and count.
        self._closing = self.m.start_request is None
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.m.start_request is not None:
            self._closing = False
            return None
        if started and self._refused_before_start():
            return self._finish(SessionState.REJECTED, "credential refused")
        reason = "the EV never started charging" if remote else "authorized but never started"
        await self._release_hold(reason)
        await self._release_guest(reason)
        if remote is not None:
            await self._record(SessionState.EXPIRED, review_reason=reason)
        return self._finish(SessionState.EXPIRED, reason)

    async def _wait_for_stored_start(self) -> None:
        """The charger may have started already and been answered while Temporal was away: its
        start waits in the station outbox. Give it time to arrive (bounded) before expiring."""
        if not workflow.patched(_STORED_START):
            return
        for _ in range(_STORED_START_CHECKS):
            if not await steps.start_pending(self.params.session_id):
                return
            if await self._wait(lambda: self.m.start_request is not None, 60):
                return

    async def _guard_tick(self) -> bool:
        """Wait for the next event or deadline and apply the guards; True when stopped."""
        now = workflow.now()
        deadlines = [self.m.charging_since + timedelta(seconds=self.params.max_session_s)]
        if self.m.stop_command_sent_at is not None:
            deadlines.append(
                self.m.stop_command_sent_at + timedelta(seconds=self.params.remote_stop_grace_s)
            )
            if self._stop_retry_due_at() is not None:
                deadlines.append(self._stop_retry_due_at())  # type: ignore[arg-type]
        if self.m.offline_since is not None:
            deadlines.append(self.m.offline_since + timedelta(seconds=self.params.offline_close_s))
        if self.params.cost_update_interval_s and self.view.state == SessionState.CHARGING:
            last = self.m.last_cost_push or self.m.charging_since
            deadlines.append(last + timedelta(seconds=self.params.cost_update_interval_s))
        unsent_stop = self.m.stop_command is not None and self.m.stop_command_sent_at is None
        if unsent_stop and workflow.patched(_PROMPT_STOP):
            deadlines.append(now)  # asked for before the start (e.g. while Pending): send it now
        timeout = max(min(deadlines) - now, timedelta(milliseconds=1))
        self._wake = False
        try:
            await workflow.wait_condition(
                lambda: (
                    self._wake
                    or self.m.stop_request is not None
                    or workflow.info().get_current_history_length() > self.params.history_limit
                ),
                timeout=timeout,
            )
        except TimeoutError:
            pass
        if self.m.stop_request is not None:
            return True
        now = workflow.now()
        if now >= deadlines[0] and self.m.stop_command is None:
            self.m.stop_command = StopCommand(requested_by="guard", reason="MaxDurationExceeded")
        if self.m.stop_command is not None and self.m.stop_command_sent_at is None:
            await self._send_remote_stop(self.m.stop_command)
        elif (retry_at := self._stop_retry_due_at()) is not None and now >= retry_at:
            await self._send_remote_stop(self.m.stop_command, again=True)  # type: ignore[arg-type]
        elif self.m.stop_command_sent_at is not None and now >= self.m.stop_command_sent_at + (
            timedelta(seconds=self.params.remote_stop_grace_s)
        ):
            return self._close_without_stop(self.m.stop_command.reason)  # type: ignore[union-attr]
        if self.m.offline_since is not None and now >= self.m.offline_since + timedelta(
            seconds=self.params.offline_close_s
        ):
            return self._close_without_stop("ChargerOffline")
        if self.params.cost_update_interval_s and self.view.state == SessionState.CHARGING:
            last = self.m.last_cost_push or self.m.charging_since
            if now >= last + timedelta(seconds=self.params.cost_update_interval_s):
                unchanged = self.m.last_cost_pushed == self.view.cost_so_far
                if unchanged and workflow.patched(_COST_ON_CHANGE):
                    self.m.last_cost_push = now  # nothing new to tell
                else:
                    await self._push_cost()
        return False

    async def _send_remote_stop(self, command: StopCommand, again: bool = False) -> None:
        """Ask the charger to stop. Not acknowledged (offline, a gateway restarting, no answer)?
        Sent again within the grace period, through whichever gateway holds the station then."""
        now = workflow.now()
        if not again:
            self.m.stop_command_sent_at = now
        self.m.stop_command_last_try = now
        sent = await steps.command(
            self.params.station_id,
            "remote_stop",
            {"transaction_id": self._station_transaction_id()},
            command.requested_by,
        )
        if sent.outcome == "ok" and sent.status in ("Accepted", None):
            self.m.stop_command_acked = True
        elif not again and not workflow.patched(_STOP_RETRIES):
            # (now retried; a stop that never comes is flagged when the grace period ends)
            self.view.flags.append(f"remote stop not accepted: {sent.status or sent.outcome}")

    def _stop_retry_due_at(self) -> datetime | None:
        """When an unacknowledged remote stop is sent again (None: not to be re-sent)."""
        sent_at, last = self.m.stop_command_sent_at, self.m.stop_command_last_try
        if sent_at is None or self.m.stop_command_acked or self.m.stop_command is None:
            return None
        if not workflow.patched(_STOP_RETRIES):
            return None
        interval = timedelta(seconds=max(1, min(15, self.params.remote_stop_grace_s // 4)))
        due = (last or sent_at) + interval
        grace_ends = sent_at + timedelta(seconds=self.params.remote_stop_grace_s)
        return due if due < grace_ends else None

    async def _push_cost(self) -> None:
        """Tell a 2.0.1 charger the running cost (CostUpdated; 1.6 has no such message)."""
        self.m.last_cost_push = workflow.now()
        self.m.last_cost_pushed = self.view.cost_so_far
        if await steps.station_version(self.params.station_id) != "ocpp2.0.1":
            return
        payload = {
            "totalCost": self.view.cost_so_far / 100,
            "transactionId": self._station_transaction_id(),
        }
        await steps.command(
            self.params.station_id, "raw", {"action": "CostUpdated", "payload": payload}, "session"
        )

    def _close_without_stop(self, reason: str) -> bool:
        """A guard closes the session with the last known energy; it is flagged for review."""
        self.view.flags.append("closed without a stop from the charger")
        self.m.stop_request = StopRequest(
            timestamp=self.m.last_reading_at or workflow.now(),
            meter_stop_wh=self.view.last_energy_wh,
            reason=reason,
        )
        return True

    async def _settle(self) -> SessionView:
        """Record the stop, rate, charge, receipt; then the final state."""
        assert self.m.stop_request is not None
        stop = self.m.stop_request
        self.view.stopped_at = stop.timestamp
        self.view.stop_reason = stop.reason
        billable = self.view.state == SessionState.CHARGING
        await self._record(
            SessionState.STOPPED if billable else SessionState.REJECTED,
            stopped_at=stop.timestamp,
            meter_stop_wh=stop.meter_stop_wh,
            stop_reason=stop.reason,
        )
        if not billable:
            refused = self.m.authorization.status if self.m.authorization else None
            why = f"credential refused ({refused})" if refused else "never authorized"
            self.view.state = SessionState.REJECTED
            await self._release_hold(why)
            await self._record(SessionState.REJECTED, review_reason=f"{why}; not billed")
            return self._finish(SessionState.REJECTED, f"{why}; not billed")

        rated = await steps.rate_timeline(
            TimelineRateRequest(session_id=self.params.session_id, idle=self._billable_idle())
        )
        self.view.energy_wh = rated.energy_wh
        self.view.cost_so_far = self.view.total = rated.rating.total
        self.view.currency = rated.rating.currency
        payment = await steps.settle(
            SettleRequest(
                session_id=self.params.session_id,
                driver_id=self.view.driver_id,
                amount=rated.rating.total,
                currency=rated.rating.currency,
            )
        )
        await steps.issue_session_receipt(self.params.session_id)
        if payment.status == "failed":
            reason = payment.failure_reason or "payment failed"
            await self._record(SessionState.PAYMENT_FAILED, review_reason=reason)
            return self._finish(SessionState.PAYMENT_FAILED, reason)
        if self.view.flags:
            reason = "; ".join(self.view.flags) + f" ({stop.reason})"
            await self._record(SessionState.NEEDS_REVIEW, review_reason=reason)
            return self._finish(SessionState.NEEDS_REVIEW, reason)
        await self._record(SessionState.COMPLETED)
        return self._finish(SessionState.COMPLETED, f"stopped: {stop.reason}")

    async def _reconcile(self) -> None:
        """After a guard closed the session, wait for the charger's own stop and compare."""
        arrived = await self._wait(
            lambda: self.m.late_stop is not None, self.params.reconcile_window_s
        )
        if not arrived or self.m.late_stop is None:
            return
        late = self.m.late_stop
        billed = self.view.total or 0
        await self._record(
            SessionState.NEEDS_REVIEW,
            stopped_at=late.timestamp,
            meter_stop_wh=late.meter_stop_wh,
            stop_reason=late.reason,
        )
        rated = await steps.rate_timeline(
            TimelineRateRequest(session_id=self.params.session_id, idle=self._billable_idle())
        )
        note = (
            f"reconciled with the charger's stop ({late.reason}): rated "
            f"{rated.rating.total}, billed {billed} {rated.rating.currency}"
        )
        self.view.flags.append(note)
        self.view.energy_wh = rated.energy_wh
        await self._record(SessionState.NEEDS_REVIEW, review_reason=note)
        self.view.final_reason = note

    # ---- helpers ---------------------------------------------------------------------------

    async def _with_hold(
        self, authorization: Authorization, connector_id: int | None = None
    ) -> Authorization:
        """Reserve the payment for an accepted credential; a declined hold refuses it."""
        if (
            authorization.status != AuthorizationStatus.ACCEPTED
            or self.m.hold_status
            or self.params.decision_only
            or authorization.free_vend  # nothing to pay at a free-vend station
        ):
            return authorization
        hold = await steps.place_hold(
            HoldRequest(
                session_id=self.params.session_id,
                station_id=self.params.station_id,
                driver_id=authorization.driver_id,
                group_id=authorization.group_id,
                connector_id=connector_id,
                guest_token=authorization.id_token if authorization.guest else None,
            )
        )
        self.m.hold_status = hold.status.value
        if authorization.guest and hold.status.value == "held":
            self.m.spend_limit = hold.amount
        if hold.status.value == "declined":
            self.view.flags.append(f"payment hold declined: {hold.failure_reason}")
            return authorization.model_copy(update={"status": AuthorizationStatus.NO_CREDIT})
        return authorization

    async def _release_hold(self, reason: str) -> None:
        if self.m.hold_status == "held":
            await steps.release_hold(self.params.session_id, reason)
            self.m.hold_status = "released"
        elif (
            self.m.hold_status is None
            and not self.params.decision_only
            and workflow.patched(_UNRECORDED_HOLD)
        ):  # none we know of; one may exist (a no-op at the provider when there is none)
            await steps.release_hold(self.params.session_id, reason)
            self.m.hold_status = "released"

    async def _release_guest(self, reason: str) -> None:
        """A guest paid by link for a session that never started: release that payment."""
        remote = self.params.remote_start
        if remote is None or remote.requested_by != "guest" or self.m.hold_status == "released":
            return
        if workflow.patched(_GUEST_RELEASE):
            await steps.release_hold(self.params.session_id, reason)
            self.m.hold_status = "released"

    def _station_transaction_id(self) -> str:
        """The id the charger knows the transaction by (differs for joined 2.0.1 starts)."""
        start = self.m.start_request
        return (start and start.station_transaction_id) or self.params.transaction_id

    def _billable_idle(self) -> list[IdleInterval]:
        """Idle time the driver pays for: the car's doing, not the station's."""
        return [i for i in self.m.idle if i.status in EV_IDLE_STATUSES]

    async def _wait(self, condition, timeout_s: int) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=timedelta(seconds=timeout_s))
            return True
        except TimeoutError:
            return False

    def _refused_before_start(self) -> bool:
        return (
            self.m.start_request is None
            and self.m.authorization is not None
            and self.m.authorization.status != AuthorizationStatus.ACCEPTED
        )

    async def _record(self, state: SessionState, **fields):
        self.m.record_seq += 1
        return await steps.record(
            SessionRecord(
                session_id=self.params.session_id,
                station_id=self.params.station_id,
                transaction_id=self.params.transaction_id,
                state=state,
                seq=self.m.record_seq,
                **fields,
            )
        )

    def _tariff(self) -> Tariff:
        return Tariff.model_validate(self.m.tariff or {})

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

    def _idle_seconds(self, now: datetime) -> int:
        total = 0.0
        for interval in self.m.idle:
            total += ((interval.end or now) - interval.start).total_seconds()
        return max(int(total), 0)

    def _refresh_live_cost(self, at: datetime) -> None:
        start = self.m.start_request
        if start is None or self.m.tariff is None:
            return
        self.m.last_reading_at = at
        if self.view.last_energy_wh is not None:
            self.view.energy_wh = max(self.view.last_energy_wh - start.meter_start_wh, 0)
        elapsed = max(int((at - start.timestamp).total_seconds()), 0)
        usage = Consumption(energy_wh=self.view.energy_wh, duration_s=elapsed)
        self.view.cost_so_far = rate(self._tariff(), usage).total

    def _finish(self, state: SessionState, reason: str) -> SessionView:
        self.view.state = state
        self.view.final_reason = reason
        workflow.upsert_search_attributes([contract.SESSION_STATE.value_set(state.value)])
        return self.view


def _number(transaction_id: str) -> int | None:
    return int(transaction_id) if transaction_id.isdigit() else None


def _told(request: StartRequest) -> Authorization:
    """The refusal the charger was told (`StartRequest.refused_as`) as an authorization."""
    told = request.refused_as
    known = told in AuthorizationStatus._value2member_map_
    return Authorization(
        status=AuthorizationStatus(told) if known else AuthorizationStatus.INVALID,
        id_token=request.id_token,
    )
