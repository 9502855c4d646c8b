"""`StationCommand`: one command to one station, routed to the gateway holding its socket.

Readable in the Temporal UI as `cmd-{station}-{name}-{time}`; the result says how it ended:
ok (with the station's status), offline, rejected, timeout or not_supported.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.command_activities import CommandActivities
    from domain import commands
    from domain.commands import CommandRecord, CommandResult, StationCommand
    from workflows import contract

_STORE = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10)),
}


_NOT_CONNECTED = "is not connected"
# The route lookup and the command log run as local activities in the workflow's own task: a
# command costs two workflow tasks and one activity task (the gateway's) instead of four and three.
STORE_LOCALLY = "command-store-local-activities"


def reached_station(record: CommandRecord) -> bool | None:
    """Did the command reach the station? True (it answered), False (it was never sent: no
    gateway held the station, or the charger refused it), None (unknown: sent, but the answer
    was lost to a gateway, Temporal or network fault, or timed out)."""
    if record.outcome in ("ok", "rejected", "not_supported"):
        return True
    if record.outcome == "offline" and (record.error or "").endswith(_NOT_CONNECTED):
        return False
    return None


async def send_to_station(command: StationCommand) -> CommandRecord:
    """Route a command to its station's gateway and describe the outcome (any workflow may)."""
    record = CommandRecord(
        workflow_id=workflow.info().workflow_id,
        station_id=command.station_id,
        name=command.name,
        params=command.params,
        requested_by=command.requested_by,
        outcome="offline",
    )
    if workflow.patched(STORE_LOCALLY):
        route = await workflow.execute_local_activity_method(
            CommandActivities.route_for_station, command.station_id, **_STORE
        )
    else:
        route = await workflow.execute_activity_method(
            CommandActivities.route_for_station, command.station_id, **_STORE
        )
    if not route.connected or route.task_queue is None:
        record.error = f"{command.station_id} {_NOT_CONNECTED}"
        return record
    try:
        # A dead gateway never drains its queue: schedule_to_start bounds the wait.
        result: CommandResult = await workflow.execute_activity(
            "send_to_station",
            command,
            task_queue=route.task_queue,
            schedule_to_start_timeout=timedelta(seconds=10),
            start_to_close_timeout=timedelta(seconds=command.timeout_s + 5),
            retry_policy=RetryPolicy(maximum_attempts=1),
            result_type=CommandResult,
        )
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            record.outcome = commands.ERROR_OUTCOMES.get(cause.type or "", "error")
            record.error = cause.message
        elif isinstance(cause, ActivityTimeoutError):
            record.outcome = "offline"
            record.error = commands.GATEWAY_DID_NOT_ANSWER
        else:
            record.outcome, record.error = "error", str(err)
        return record
    record.outcome = "ok"
    record.status = result.status
    record.response = result.response
    return record


@workflow.defn(name=contract.STATION_COMMAND)
class StationCommandWorkflow:
    """Send one command, record its outcome, return it."""

    @workflow.run
    async def run(self, command: StationCommand) -> CommandRecord:
        record = await send_to_station(command)
        record.finished_at = workflow.now()
        if workflow.patched(STORE_LOCALLY):
            await workflow.execute_local_activity_method(
                CommandActivities.record_command, record, **_STORE
            )
        else:
            await workflow.execute_activity_method(
                CommandActivities.record_command, record, **_STORE
            )
        return record
