"""A stand-in for a maintenance workflow: raises a job-failed alert twice, then resolves it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.alerts import JobKind
    from workflows.alerts import raise_job_failed_alert, resolve_job_failed_alert


@workflow.defn(name="TestFailingJob")
class FailingJob:
    @workflow.run
    async def run(self, station_id: str) -> list:
        first = await raise_job_failed_alert(
            JobKind.FIRMWARE, station_id, "fw-1", "InstallationFailed"
        )
        second = await raise_job_failed_alert(
            JobKind.FIRMWARE, station_id, "fw-1", "InstallationFailed"
        )
        await resolve_job_failed_alert(JobKind.FIRMWARE, station_id, note="fw-2 installed")
        return [first, second]
