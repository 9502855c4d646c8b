"""`LocalListSync`: keeps one station's local authorization list in step with the store.

Id `local-list-{station}`; woken (or started) by the `changed` signal whenever credentials
change. Each pass plans an update (differential, or full when asked, when the station has
none yet, or when it refused a differential), sends it as a `StationCommand` child workflow
(SendLocalList) and records the answer. An offline station is retried every `retry_s`; the
workflow ends once the station is in sync and no change is pending. A change signalled during
the last attempt at an offline station gets attempts of its own instead of being dropped with
the give-up (patch `local-list-change-during-last-attempt`).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from activities.local_list_activities import LocalListActivities
    from domain.access import (
        LOCAL_LIST_SYNC,
        SIGNAL_LOCAL_LIST_CHANGED,
        LocalListChanged,
        LocalListNext,
        LocalListOutcome,
        LocalListPlanRequest,
        LocalListSyncInput,
    )
    from domain.commands import CommandRecord, StationCommand

from workflows import contract  # sandboxed like the rest of `workflows`

# Patch ids (docs/adr/ADR-006-workflow-versioning.md).
LATE_CHANGE_PATCH = "local-list-change-during-last-attempt"

_STORE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}


@workflow.defn(name=LOCAL_LIST_SYNC)
class LocalListSync:
    @workflow.init
    def __init__(self, params: LocalListSyncInput) -> None:
        self.pending = True
        self.full = params.full
        self.requested_by = params.requested_by
        self.pushed: list[str] = []

    @workflow.signal(name=SIGNAL_LOCAL_LIST_CHANGED)
    def changed(self, change: LocalListChanged) -> None:
        self.pending = True
        self.full = self.full or change.full
        self.requested_by = change.requested_by

    @workflow.query(name="pushed")
    def pushed_versions(self) -> list[str]:
        """`v{version} {update type}: {outcome}` for each update this run sent."""
        return self.pushed

    @workflow.run
    async def run(self, params: LocalListSyncInput) -> list[str]:
        offline = 0
        while self.pending:
            self.pending = False
            full, self.full = self.full, False
            plan = await workflow.execute_activity_method(
                LocalListActivities.plan_local_list,
                LocalListPlanRequest(station_id=params.station_id, full=full),
                **_STORE,
            )
            if plan.version_id is None:
                continue  # in sync (or no list); a signal may have set `pending` again
            record = await self._send(params.station_id, plan.version, plan.params)
            step = await workflow.execute_activity_method(
                LocalListActivities.record_local_list,
                LocalListOutcome(
                    version_id=plan.version_id,
                    outcome=record.outcome,
                    status=record.status,
                    error=record.error,
                ),
                **_STORE,
            )
            self.pushed.append(f"v{plan.version} {plan.update_type}: {step.value}")
            if step == LocalListNext.RETRY_FULL:
                self.full = self.pending = True
            elif step == LocalListNext.RETRY_LATER:
                offline += 1
                if offline > params.max_offline_retries:
                    if not (self.pending and workflow.patched(LATE_CHANGE_PATCH)):
                        break
                    offline = 0  # a change arrived during the last attempt: try it afresh
                    continue
                await self._wait_or_change(params.retry_s)
                self.pending = True
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    LocalListSyncInput(
                        **{
                            **params.model_dump(),
                            "full": self.full,
                            "requested_by": self.requested_by,
                        }
                    )
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.pushed

    async def _send(self, station_id: str, version: int, params: dict) -> CommandRecord:
        stamp = workflow.now().strftime("%Y%m%dT%H%M%S%f")
        return await workflow.execute_child_workflow(
            contract.STATION_COMMAND,
            StationCommand(
                station_id=station_id,
                name="send_local_list",
                params=params,
                requested_by=self.requested_by,
            ),
            id=contract.command_workflow_id(station_id, "send_local_list", f"{stamp}-v{version}"),
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(contract.STATION_ID, station_id)]
            ),
            result_type=CommandRecord,
        )

    async def _wait_or_change(self, seconds: int) -> None:
        try:
            await workflow.wait_condition(lambda: self.pending, timeout=timedelta(seconds=seconds))
        except TimeoutError:
            pass
