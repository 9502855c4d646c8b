"""`FirmwareRollout`: a firmware version across a fleet, in waves, as `FirmwareUpdate` children.

Id `rollout-{name}`, query `progress`, signals `pause`, `resume`, `cancel`. A canary wave
first, then batches growing by `growth_factor` (at most `max_wave_size`), at most
`max_concurrency` updates at once. When the failure ratio of the results since the start (or
the last resume) crosses `failure_threshold`, the rollout halts: nothing new starts until an
operator resumes it. Cancel stops starting and cancels the running updates. Long rollouts
continue as new between waves.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import CancelledError, ChildWorkflowError, FailureError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance_activities import MaintenanceActivities
    from domain.maintenance import (
        FIRMWARE_ROLLOUT,
        FIRMWARE_UPDATE,
        QUERY_PROGRESS,
        SIGNAL_CANCEL,
        SIGNAL_PAUSE,
        SIGNAL_RESUME,
        FirmwareProgress,
        FirmwareState,
        FirmwareUpdateRequest,
        JobKind,
        JobRecord,
        JobState,
        RolloutControl,
        RolloutProgress,
        RolloutRequest,
        RolloutState,
        TargetQuery,
        compact_time,
        firmware_workflow_id,
        plan_waves,
    )
    from workflows import contract

_STORE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
_JOB_STATES = {
    RolloutState.COMPLETED: JobState.SUCCEEDED,
    RolloutState.CANCELLED: JobState.CANCELLED,
}


@workflow.defn(name=FIRMWARE_ROLLOUT)
class FirmwareRollout:
    """A fleet rollout; each station's update is a child `FirmwareUpdate` workflow."""

    @workflow.init
    def __init__(self, request: RolloutRequest) -> None:
        self.request = request
        self.progress = request.carry or RolloutProgress(name=request.name)
        self._children: dict[str, ChildWorkflowHandle] = {}
        self._tasks: set[asyncio.Task] = set()

    @workflow.query(name=QUERY_PROGRESS)
    def get_progress(self) -> RolloutProgress:
        return self.progress

    @workflow.signal(name=SIGNAL_PAUSE)
    def pause(self, control: RolloutControl) -> None:
        if self.progress.state == RolloutState.RUNNING:
            self.progress.state = RolloutState.PAUSED

    @workflow.signal(name=SIGNAL_RESUME)
    def resume(self, control: RolloutControl) -> None:
        """Go on after a pause or a halt (a halt's failures no longer count in the ratio)."""
        if self.progress.state == RolloutState.HALTED:
            self.progress.window_done = self.progress.window_failed = 0
            self.progress.halted_reason = None
        if self.progress.state in (RolloutState.PAUSED, RolloutState.HALTED):
            self.progress.state = RolloutState.RUNNING

    @workflow.signal(name=SIGNAL_CANCEL)
    def cancel(self, control: RolloutControl) -> None:
        if self.progress.state not in (RolloutState.COMPLETED, RolloutState.CANCELLED):
            self.progress.state = RolloutState.CANCELLED
            self.progress.halted_reason = control.reason or f"cancelled by {control.requested_by}"

    @workflow.run
    async def run(self, request: RolloutRequest) -> RolloutProgress:
        try:
            if request.carry is None:
                await self._plan()
            await self._roll()
        except asyncio.CancelledError:  # the workflow itself was cancelled
            self.progress.state = RolloutState.CANCELLED
            await self._drain()
            await self._record()
            raise
        await self._record()
        return self.progress

    async def _plan(self) -> None:
        progress, request = self.progress, self.request
        progress.stamp = compact_time(workflow.now())
        targets = await workflow.execute_activity_method(
            MaintenanceActivities.select_rollout_targets,
            TargetQuery(
                targets=request.targets, expected_version=request.firmware.expected_version
            ),
            **_STORE,
        )
        progress.total = len(targets.station_ids)
        progress.skipped = targets.skipped
        progress.pending = list(targets.station_ids)
        progress.waves = plan_waves(
            targets.station_ids, request.canary_size, request.growth_factor, request.max_wave_size
        )
        await self._record()

    async def _roll(self) -> None:
        progress = self.progress
        while progress.wave < len(progress.waves):
            for station in [s for s in progress.waves[progress.wave] if s in progress.pending]:
                await workflow.wait_condition(self._may_start)
                if progress.state == RolloutState.CANCELLED:
                    break
                self._start(station)
            await workflow.wait_condition(
                lambda: not progress.running or progress.state == RolloutState.CANCELLED
            )
            if progress.state == RolloutState.CANCELLED:
                await self._drain()
                return
            progress.wave += 1
            await self._record()
            if progress.wave < len(progress.waves):
                await workflow.wait_condition(
                    lambda: progress.state in (RolloutState.RUNNING, RolloutState.CANCELLED)
                )
                if progress.state == RolloutState.CANCELLED:
                    return
                info = workflow.info()
                long = info.get_current_history_length() > self.request.history_limit
                if long or info.is_continue_as_new_suggested():
                    workflow.continue_as_new(self.request.model_copy(update={"carry": progress}))
        if progress.state != RolloutState.CANCELLED:
            progress.state = RolloutState.COMPLETED

    def _may_start(self) -> bool:
        progress = self.progress
        if progress.state == RolloutState.CANCELLED:
            return True
        return (
            progress.state == RolloutState.RUNNING
            and len(progress.running) < self.request.max_concurrency
        )

    def _start(self, station: str) -> None:
        self.progress.pending.remove(station)
        self.progress.running[station] = firmware_workflow_id(station, self.progress.stamp)
        task = asyncio.create_task(self._update(station))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _update(self, station: str) -> None:
        """Run one station's update as a child and count its result."""
        request = self.request
        child_id = self.progress.running[station]
        try:
            handle = await workflow.start_child_workflow(
                FIRMWARE_UPDATE,
                FirmwareUpdateRequest(
                    station_id=station,
                    firmware=request.firmware,
                    policy=request.policy,
                    requested_by=request.requested_by,
                    rollout=request.name,
                ),
                id=child_id,
                result_type=FirmwareProgress,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(contract.STATION_ID, station)]
                ),
                static_summary=f"Firmware {request.firmware.expected_version} on {station}",
            )
            self._children[station] = handle
            result: FirmwareProgress = await handle
            failure = None if result.state == FirmwareState.SUCCEEDED else result.reason
        except ChildWorkflowError as err:
            if isinstance(err.cause, CancelledError):  # cancelled with the rollout
                self.progress.failed[station] = "cancelled"
                return
            failure = err.cause.message if isinstance(err.cause, FailureError) else str(err)
        except asyncio.CancelledError:
            self.progress.failed[station] = "cancelled"
            return
        finally:
            self._children.pop(station, None)
            self.progress.running.pop(station, None)
        if self._count(station, failure):
            await self._record()

    def _count(self, station: str, failure: str | None) -> bool:
        """Count a result; True when it halts the rollout."""
        progress, request = self.progress, self.request
        progress.window_done += 1
        if failure is None:
            progress.succeeded.append(station)
            return False
        progress.failed[station] = failure or "failed"
        progress.window_failed += 1
        if (
            progress.state == RolloutState.RUNNING
            and progress.window_done >= request.min_results
            and progress.failure_ratio > request.failure_threshold
        ):
            progress.state = RolloutState.HALTED
            progress.halted_reason = (
                f"{progress.window_failed} of {progress.window_done} updates failed "
                f"(ratio {progress.failure_ratio:.2f} > {request.failure_threshold:g})"
            )
            return True
        return False

    async def _drain(self) -> None:
        """Cancel the running updates and wait for them to record their end."""
        for handle in list(self._children.values()):
            handle.cancel()
        if self._tasks:
            await workflow.wait(list(self._tasks))

    async def _record(self) -> None:
        progress, request = self.progress, self.request
        state = _JOB_STATES.get(progress.state, JobState.RUNNING)
        await workflow.execute_activity_method(
            MaintenanceActivities.record_job,
            JobRecord(
                workflow_id=workflow.info().workflow_id,
                run_id=workflow.info().first_execution_run_id,
                kind=JobKind.FIRMWARE_ROLLOUT,
                state=state,
                requested_by=request.requested_by,
                summary=f"rollout {request.name}: firmware {request.firmware.expected_version}",
                reason=progress.halted_reason,
                detail=progress.model_dump(mode="json"),
                started_at=workflow.info().start_time,
                finished_at=None if state == JobState.RUNNING else workflow.now(),
            ),
            **_STORE,
        )
