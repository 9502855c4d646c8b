"""`MonthlyReport`: builds and stores the HTML report of a month (one activity).

Started by the Temporal Schedule `monthly-report-{task_queue}` (created idempotently by
`PUT /reports/schedule`, or at worker start) on the 1st of every month at 02:00 in
`report_time_zone`, for the month before; or on demand by `POST /reports/monthly`
(id `monthly-report-{YYYY-MM}`). The stored report is listed by `GET /reports`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.monitoring_activities import MonitoringActivities
    from domain.analytics import MONTHLY_REPORT, MonthlyReportRequest, ReportRef


@workflow.defn(name=MONTHLY_REPORT)
class MonthlyReport:
    @workflow.run
    async def run(self, request: MonthlyReportRequest) -> ReportRef:
        return await workflow.execute_activity_method(
            MonitoringActivities.build_monthly_report,
            request,
            start_to_close_timeout=timedelta(minutes=15),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1)),
        )
