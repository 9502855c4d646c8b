"""`SelfHealing`: the playbook for a faulted or silent station, one per station at a time.

Id `healing-{station}`, search attribute StationId, query `progress`; started (signal-with-start)
by the gateway's maintenance listener. Runs the configured steps in order — probe
(TriggerMessage StatusNotification / Heartbeat), soft reset, hard reset, operator alert — and
after each waits for the station to settle, stopping as soon as it is healthy. Never resets
while a session is charging (it waits, then skips the step). Does nothing while an operator
alert is open for the station, and alerts at once when the station keeps needing help.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance_activities import MaintenanceActivities
    from domain.commands import StationCommand
    from domain.maintenance import (
        QUERY_PROGRESS,
        SELF_HEALING,
        SIGNAL_STATION_EVENT,
        AlertRequest,
        HealingProgress,
        HealingRequest,
        HealingState,
        HealingStep,
        HealingTrigger,
        HealthQuery,
        JobKind,
        JobRecord,
        JobState,
        SignalKind,
        StationHealth,
        StationSignal,
    )

# Workflow code: imported into the sandbox, not passed through.
from workflows.station_command import send_to_station

_STORE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
_RESETS = {"soft_reset": "Soft", "hard_reset": "Hard"}
# Patch ids (docs/adr/ADR-006-workflow-versioning.md).
LATE_EVENTS_PATCH = "healing-late-station-events"

_JOB_STATES = {
    HealingState.HEALED: JobState.SUCCEEDED,
    HealingState.SUPPRESSED: JobState.CANCELLED,
}


@workflow.defn(name=SELF_HEALING)
class SelfHealing:
    """Probe, soft reset, hard reset, alert — until the station is healthy again."""

    @workflow.init
    def __init__(self, request: HealingRequest) -> None:
        self.request = request
        self.progress = HealingProgress(
            workflow_id=workflow.info().workflow_id,
            station_id=request.station_id,
            trigger=request.trigger,
        )
        self._changed = False  # something happened at the station: look again
        # Connectors that must not be faulted (None: any); more may fault while we heal.
        silent = request.trigger == HealingTrigger.SILENT
        self._watched: set[int | None] = set() if silent else {request.connector_id}
        # Faults and silences reported since the last health check began (it may not see them).
        self._unseen: list[StationSignal] = []

    @workflow.query(name=QUERY_PROGRESS)
    def get_progress(self) -> HealingProgress:
        return self.progress

    @workflow.signal(name=SIGNAL_STATION_EVENT)
    def station_event(self, signal: StationSignal) -> None:
        """Status changes, boots and the link (and repeated triggers) from the listener."""
        self._changed = True
        repeated = signal.kind == SignalKind.SILENT or (
            signal.kind == SignalKind.CONNECTOR_STATUS and signal.status == "Faulted"
        )
        if repeated:
            self.progress.triggers_seen += 1
            self._unseen.append(signal)
        if signal.kind == SignalKind.CONNECTOR_STATUS and signal.status == "Faulted":
            self._watched.add(signal.connector_id)  # another connector: heal it too

    @workflow.run
    async def run(self, request: HealingRequest) -> HealingProgress:
        try:
            await self._record()
            await self._playbook()
        except asyncio.CancelledError:
            self.progress.state = HealingState.SUPPRESSED
            self.progress.reason = "cancelled"
            await self._record()
            raise
        await self._record()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if (
            self._unseen
            and self.progress.state == HealingState.HEALED
            and workflow.patched(LATE_EVENTS_PATCH)
        ):
            workflow.continue_as_new(self._late_request())
        return self.progress

    def _late_request(self) -> HealingRequest:
        """A new playbook for what was reported after the last look at the station."""
        faulted = {s.connector_id for s in self._unseen if s.kind == SignalKind.CONNECTOR_STATUS}
        return HealingRequest(
            station_id=self.request.station_id,
            trigger=HealingTrigger.FAULT if faulted else HealingTrigger.SILENT,
            connector_id=faulted.pop() if len(faulted) == 1 else None,
            policy=self.request.policy,
        )

    async def _playbook(self) -> None:
        progress, policy = self.progress, self.request.policy
        # The trigger signal of signal-with-start arrives with the start: it is not news.
        self._changed = False
        health = await self._health()
        if health.open_alert_id is not None:
            progress.state = HealingState.SUPPRESSED
            progress.reason = f"alert #{health.open_alert_id} is open for the station"
            return
        steps = list(policy.steps)
        if health.recent_runs >= policy.max_runs_per_day and "alert" in steps:
            steps = ["alert"]  # flapping: resets did not last
            progress.reason = f"{health.recent_runs} self-healing runs in 24 h"
        for step in steps:
            if self._healthy(health):
                return self._healed()
            if step in _RESETS:
                health = await self._wait_until_idle(health)
                if self._healthy(health):
                    return self._healed()
                if health.charging_session is not None:
                    self._note(step, f"skipped: session {health.charging_session} charging")
                    continue
            if step == "alert":
                await self._alert(health)
                return
            progress.state = HealingState.ACTING
            self._note(step, await self._act(step))
            health = await self._settle()
        if self._healthy(health):
            return self._healed()
        progress.state = HealingState.UNRESOLVED
        progress.reason = "still unhealthy after the playbook"

    # ---- steps -----------------------------------------------------------------------------

    async def _act(self, step: str) -> str:
        """Run one probe or reset; the command's outcome (ok, offline, rejected, ...)."""
        request = self.request
        if step == "probe":
            silent = request.trigger == HealingTrigger.SILENT
            name, params = (
                "trigger_message",
                {
                    "message": "Heartbeat" if silent else "StatusNotification",
                    "connector_id": None if silent else request.connector_id,
                },
            )
        elif step in _RESETS:
            name, params = "reset", {"type": _RESETS[step]}
        else:
            return "skipped: unknown step"
        record = await send_to_station(
            StationCommand(
                station_id=request.station_id,
                name=name,
                params=params,
                timeout_s=request.policy.command_timeout_s,
                requested_by="self-healing",
            )
        )
        if record.outcome != "ok":
            return record.outcome
        return record.status or "ok"

    async def _alert(self, health: StationHealth) -> None:
        progress = self.progress
        done = ", ".join(f"{s.step} ({s.outcome})" for s in progress.steps) or "no steps"
        problem = "silent" if health.silent else f"faulted {health.faulted_connectors}"
        if not health.connected:
            problem = "offline"
        progress.alert_id = await workflow.execute_activity_method(
            MaintenanceActivities.open_alert,
            AlertRequest(
                station_id=self.request.station_id,
                kind="self_healing",
                message=f"{self.request.station_id} still {problem} after: {done}",
                workflow_id=progress.workflow_id,
                detail=progress.model_dump(mode="json"),
            ),
            **_STORE,
        )
        self._note("alert", f"alert #{progress.alert_id}")
        progress.state = HealingState.ALERTED
        progress.reason = progress.reason or f"still {problem} after the playbook"

    async def _wait_until_idle(self, health: StationHealth) -> StationHealth:
        """Never reset under a charging session: wait (bounded) for it to end."""
        policy = self.request.policy
        waits = 0
        while health.charging_session is not None and waits < policy.max_charging_waits:
            self.progress.state = HealingState.WAITING_FOR_IDLE
            await workflow.sleep(policy.charging_wait_s)
            waits += 1
            health = await self._health()
            if self._healthy(health):
                break
        return health

    async def _settle(self) -> StationHealth:
        """Wait up to `settle_s` for the step to work, looking again on news or every poll."""
        policy = self.request.policy
        self.progress.state = HealingState.SETTLING
        deadline = workflow.now() + timedelta(seconds=policy.settle_s)
        while True:
            remaining = (deadline - workflow.now()).total_seconds()
            if remaining > 0:
                self._changed = False
                try:
                    await workflow.wait_condition(
                        lambda: self._changed, timeout=min(policy.poll_s, remaining)
                    )
                except TimeoutError:
                    pass
            health = await self._health()
            if remaining <= 0 or self._healthy(health):
                return health

    # ---- helpers ---------------------------------------------------------------------------

    def _healthy(self, health: StationHealth) -> bool:
        if not health.connected or health.silent:
            return False
        if None in self._watched:
            return not health.faulted_connectors
        return not self._watched.intersection(health.faulted_connectors)

    def _healed(self) -> None:
        last = self.progress.steps[-1].step if self.progress.steps else None
        self.progress.state = HealingState.HEALED
        self.progress.reason = f"healthy after {last}" if last else "recovered by itself"

    def _note(self, step: str, outcome: str) -> None:
        self.progress.steps.append(HealingStep(step=step, outcome=outcome, at=workflow.now()))

    async def _health(self) -> StationHealth:
        self._unseen.clear()  # the store holds what was reported so far: this check sees it
        return await workflow.execute_activity_method(
            MaintenanceActivities.check_station_health,
            HealthQuery(
                station_id=self.request.station_id,
                silent_after_s=self.request.policy.silent_after_s,
            ),
            **_STORE,
        )

    async def _record(self) -> None:
        progress, request = self.progress, self.request
        finished = progress.state in (
            HealingState.HEALED,
            HealingState.ALERTED,
            HealingState.UNRESOLVED,
            HealingState.SUPPRESSED,
        )
        state = _JOB_STATES.get(progress.state, JobState.FAILED) if finished else JobState.RUNNING
        await workflow.execute_activity_method(
            MaintenanceActivities.record_job,
            JobRecord(
                workflow_id=workflow.info().workflow_id,
                run_id=workflow.info().first_execution_run_id,
                kind=JobKind.SELF_HEALING,
                station_id=request.station_id,
                state=state,
                requested_by="self-healing",
                summary=f"self-healing of {request.station_id} ({request.trigger.value})",
                reason=progress.reason,
                detail=progress.model_dump(mode="json"),
                started_at=workflow.info().start_time,
                finished_at=workflow.now() if finished else None,
            ),
            **_STORE,
        )
