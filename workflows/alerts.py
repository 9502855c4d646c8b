"""`AlertSweep`: the time-based alerts and the webhook outbox; helpers for other workflows.

One sweep per worker task queue, id `alert-sweep-{task_queue}`, started (signal-with-start
`wake`) by the gateways' live listeners. It runs the `sweep_alerts` activity every
`alert_sweep_interval_s` (the activity's result, readable in the Temporal UI, lists the keys it
raised and resolved) and, when woken in between (an alert was raised elsewhere), delivers the
pending webhooks at once. It continues as new every 100 sweeps (`SweepInput.sweeps_per_run`)
to keep its history short.

Why one sweep rather than a per-station `StationMonitor` with timers: three of the causes are
facts only the database knows (payment failures written by session workflows, refusals in the
message log, sessions without samples), so a periodic look is needed anyway; the sweep also
covers a missed Disconnected event, costs no Temporal traffic per station event, and shows its
whole work per run in the UI. The price is detection within threshold + one interval.

Other workflows raise and resolve alerts through `raise_job_failed_alert` /
`resolve_job_failed_alert` (or `raise_alert` / `resolve_alerts` for any `AlertRaise`), called
from their own workflow code; the worker registers the activities on the same task queue.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.monitoring_activities import MonitoringActivities
    from activities.payments.activities import PaymentActivities
    from domain.alerts import (
        ALERT_SWEEP,
        SIGNAL_WAKE,
        AlertRaise,
        AlertResolve,
        DeliveryRequest,
        JobKind,
        SweepInput,
        SweepRequest,
        job_failed,
        job_failed_key,
    )
    from domain.payments import StaleGuestSweep

_ACTIVITY = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
# The guest-payment sweep must not hold up the alerts while the payment provider is down: a few
# attempts, then the next sweep tries again.
_GUEST_SWEEP = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3),
}
_GUEST_SWEEP_PATCH = "sweep-stale-guest-holds"  # ADR-006


@workflow.defn(name=ALERT_SWEEP)
class AlertSweep:
    """Sweep, wait (interval or a `wake` signal), repeat; continue-as-new now and then."""

    def __init__(self) -> None:
        self._woken = False

    @workflow.signal(name=SIGNAL_WAKE)
    def wake(self) -> None:
        self._woken = True

    @workflow.run
    async def run(self, params: SweepInput) -> None:
        sweeps = 0
        next_sweep = workflow.now()
        while sweeps < params.sweeps_per_run:
            if workflow.now() >= next_sweep:
                self._woken = False
                result = await workflow.execute_activity_method(
                    MonitoringActivities.sweep_alerts, SweepRequest(), **_ACTIVITY
                )
                if workflow.patched(_GUEST_SWEEP_PATCH):
                    await self._release_stale_guest_holds()
                sweeps += 1
                next_sweep = workflow.now() + timedelta(seconds=result.next_in_s)
            elif self._woken:
                self._woken = False
                await workflow.execute_activity_method(
                    MonitoringActivities.deliver_alert_webhooks, DeliveryRequest(), **_ACTIVITY
                )
            wait = max((next_sweep - workflow.now()).total_seconds(), 0.0)
            try:
                await workflow.wait_condition(lambda: self._woken, timeout=timedelta(seconds=wait))
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(params.model_copy(update={"runs": params.runs + 1}))

    async def _release_stale_guest_holds(self) -> None:
        """Every guest payment ends captured or released: one no session took up within
        `guest_hold_release_after_s` (the webhook never arrived, the start never happened) is
        released here."""
        try:
            await workflow.execute_activity_method(
                PaymentActivities.release_stale_guest_holds, StaleGuestSweep(), **_GUEST_SWEEP
            )
        except ActivityError as err:
            workflow.logger.warning("guest payment sweep failed; next sweep retries: %s", err)


# ---- for other workflows (call from workflow code) ------------------------------------------


async def raise_alert(alert: AlertRaise) -> int | None:
    """Open an alert; its id, or None when one is already open for the same cause."""
    return await workflow.execute_activity_method(
        MonitoringActivities.raise_alert, alert, **_ACTIVITY
    )


async def resolve_alerts(keys: list[str], actor: str = "system", note: str | None = None) -> list:
    """Resolve the open alerts of these keys; the keys that were open."""
    request = AlertResolve(keys=keys, actor=actor, note=note)
    return await workflow.execute_activity_method(
        MonitoringActivities.resolve_alerts, request, **_ACTIVITY
    )


async def raise_job_failed_alert(
    kind: JobKind, station_id: str, job_id: str, reason: str
) -> int | None:
    """A firmware or diagnostics job failed at a station (one open alert per kind and station)."""
    return await raise_alert(job_failed(kind, station_id, job_id, reason))


async def resolve_job_failed_alert(kind: JobKind, station_id: str, note: str | None = None) -> list:
    """A later job of this kind succeeded at the station: the failure is no longer current."""
    return await resolve_alerts([job_failed_key(kind, station_id)], note=note)
