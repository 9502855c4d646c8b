"""`Diagnostics`: fetch a diagnostics or security log from one station through a one-time URL.

Id `diagnostics-{station}-{time}`, search attribute StationId, query `progress`. Each attempt
opens a fresh upload URL on our API, asks the station (1.6 GetDiagnostics / GetLog, 2.0.1
GetLog) and follows its status notifications (signals from the gateway's listener) until the
file arrives (a signal from the upload endpoint), the station reports a failure, or the attempt
times out; failed attempts are retried per the request. Ends with the stored file, or fails
with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.maintenance_activities import MaintenanceActivities
    from domain.commands import StationCommand
    from domain.maintenance import (
        DIAGNOSTICS,
        QUERY_PROGRESS,
        SIGNAL_STATION_EVENT,
        SIGNAL_UPLOAD_RECEIVED,
        UPLOAD_DONE,
        UPLOAD_FAILURES,
        DiagnosticsProgress,
        DiagnosticsRequest,
        DiagnosticsState,
        JobKind,
        JobRecord,
        JobState,
        LogType,
        SignalKind,
        StationSignal,
        StatusSeen,
        UploadedFile,
        UploadSlot,
        UploadSlotRequest,
    )
    from workflows.station_command import send_to_station

_STORE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
_FINAL_STATUSES = {"NotSupportedOperation", "PermissionDenied"}  # retrying will not help


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


class _AttemptFailed(Exception):
    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@workflow.defn(name=DIAGNOSTICS)
class Diagnostics:
    """One diagnostics / log request to one station, readable in the Temporal UI."""

    @workflow.init
    def __init__(self, request: DiagnosticsRequest) -> None:
        self.request = request
        self.progress = DiagnosticsProgress(
            workflow_id=workflow.info().workflow_id,
            station_id=request.station_id,
            log_type=request.log_type,
        )
        self._slot: UploadSlot | None = None
        self._file: UploadedFile | None = None
        self._outcome: str | None = None  # Uploaded or a failure status, this attempt
        self._first_status = 0  # index of this attempt's first status in the progress

    @workflow.query(name=QUERY_PROGRESS)
    def get_progress(self) -> DiagnosticsProgress:
        return self.progress

    @workflow.signal(name=SIGNAL_STATION_EVENT)
    def station_event(self, signal: StationSignal) -> None:
        """A DiagnosticsStatusNotification / LogStatusNotification from the station."""
        if signal.kind != SignalKind.DIAGNOSTICS_STATUS or signal.status is None:
            return
        if signal.request_id is not None and signal.request_id != self.progress.request_id:
            return  # 2.0.1: another request's status
        self.progress.statuses.append(StatusSeen(status=signal.status, at=signal.at))
        if signal.status == "Uploading":
            self.progress.state = DiagnosticsState.UPLOADING
        elif signal.status == UPLOAD_DONE or signal.status in UPLOAD_FAILURES:
            self._outcome = signal.status

    @workflow.signal(name=SIGNAL_UPLOAD_RECEIVED)
    def upload_received(self, file: UploadedFile) -> None:
        """The upload endpoint stored a file on this attempt's URL."""
        if self._slot is not None and file.upload_id == self._slot.upload_id:
            self._file = file

    @workflow.run
    async def run(self, request: DiagnosticsRequest) -> DiagnosticsProgress:
        try:
            await self._record(JobState.RUNNING)
            await self._attempts()
        except asyncio.CancelledError:
            self.progress.state = DiagnosticsState.CANCELLED
            self.progress.reason = "cancelled"
            await self._record(JobState.CANCELLED)
            raise
        if self.progress.state == DiagnosticsState.FAILED:
            await self._record(JobState.FAILED)
            raise ApplicationError(
                self.progress.reason or "failed", type="DiagnosticsFailed", non_retryable=True
            )
        await self._record(JobState.SUCCEEDED)
        return self.progress

    async def _attempts(self) -> None:
        for attempt in range(1, self.request.attempts + 1):
            try:
                self.progress.file = await self._attempt(attempt)
            except _AttemptFailed as failure:
                self.progress.reason = failure.reason
                if not failure.retryable or attempt == self.request.attempts:
                    self.progress.state = DiagnosticsState.FAILED
                    return
                self.progress.state = DiagnosticsState.RETRYING
                await self._record(JobState.RUNNING)
                await workflow.sleep(self.request.retry_delay_s)
                continue
            self.progress.state = DiagnosticsState.SUCCEEDED
            self.progress.reason = None
            return

    async def _attempt(self, attempt: int) -> UploadedFile:
        request = self.request
        self.progress.attempt = attempt
        self.progress.state = DiagnosticsState.REQUESTED
        self.progress.request_id = workflow.random().randint(1, 2**31 - 1)
        self._file, self._outcome = None, None
        self._first_status = len(self.progress.statuses)
        self._slot = await workflow.execute_activity_method(
            MaintenanceActivities.open_upload_slot,
            UploadSlotRequest(
                workflow_id=self.progress.workflow_id,
                station_id=request.station_id,
                base_url=request.upload_base_url,
                max_bytes=request.max_bytes,
                ttl_s=request.upload_ttl_s,
            ),
            **_STORE,
        )
        record = await send_to_station(
            StationCommand(
                station_id=request.station_id,
                name="get_log" if request.log_type == LogType.SECURITY else "get_diagnostics",
                params={
                    "location": self._slot.url,
                    "log_type": request.log_type.value,
                    "oldest": _iso(request.oldest),
                    "latest": _iso(request.latest),
                    "request_id": self.progress.request_id,
                    "retries": request.station_retries,
                    "retry_interval": request.station_retry_interval_s,
                },
                timeout_s=request.command_timeout_s,
                requested_by=request.requested_by,
            )
        )
        if record.outcome != "ok":
            retryable = record.outcome in ("offline", "timeout")
            raise _AttemptFailed(
                f"request not delivered: {record.outcome} ({record.error})", retryable
            )
        response = record.response or {}
        if record.status is not None and record.status not in ("Accepted", "AcceptedCanceled"):
            raise _AttemptFailed(f"station answered {record.status}", False)
        self.progress.station_file_name = response.get("fileName") or response.get("filename")
        if record.status is None and not self.progress.station_file_name:
            raise _AttemptFailed("station has no diagnostics for this period", False)
        await self._record(JobState.RUNNING)
        return await self._wait_for_file(self._slot)

    async def _wait_for_file(self, slot: UploadSlot) -> UploadedFile:
        request = self.request
        try:
            await workflow.wait_condition(
                lambda: self._file is not None or self._outcome is not None,
                timeout=request.upload_timeout_s,
                timeout_summary="upload deadline",
            )
        except TimeoutError:
            file = await self._find(slot)  # a lost signal: look in the store
            if file is not None:
                return file
            seen = self.progress.statuses[self._first_status :]
            last = seen[-1].status if seen else "none"
            raise _AttemptFailed(
                f"no upload within {request.upload_timeout_s:g}s (last status: {last})", True
            ) from None
        if self._file is not None:
            await self._await_uploaded_status()
            return self._file
        if self._outcome in UPLOAD_FAILURES:
            raise _AttemptFailed(
                f"station reported {self._outcome}", self._outcome not in _FINAL_STATUSES
            )
        try:  # "Uploaded": the file should be here already, or very soon
            await workflow.wait_condition(
                lambda: self._file is not None, timeout=request.uploaded_grace_s
            )
        except TimeoutError:
            file = await self._find(slot)
            if file is None:
                raise _AttemptFailed(
                    "station reported Uploaded but no file arrived", True
                ) from None
            return file
        assert self._file is not None
        return self._file

    async def _await_uploaded_status(self) -> None:
        """The file is here; give the station's own "Uploaded" a moment, for the record."""
        try:
            await workflow.wait_condition(
                lambda: self._outcome is not None, timeout=self.request.uploaded_grace_s
            )
        except TimeoutError:
            pass

    async def _find(self, slot: UploadSlot) -> UploadedFile | None:
        return await workflow.execute_activity_method(
            MaintenanceActivities.find_upload, slot.upload_id, **_STORE
        )

    async def _record(self, state: JobState) -> None:
        request = self.request
        await workflow.execute_activity_method(
            MaintenanceActivities.record_job,
            JobRecord(
                workflow_id=self.progress.workflow_id,
                run_id=workflow.info().first_execution_run_id,
                kind=JobKind.DIAGNOSTICS,
                station_id=request.station_id,
                state=state,
                requested_by=request.requested_by,
                summary=f"{request.log_type.value} from {request.station_id}",
                reason=self.progress.reason,
                detail=self.progress.model_dump(mode="json"),
                started_at=workflow.info().start_time,
                finished_at=None if state == JobState.RUNNING else workflow.now(),
            ),
            **_STORE,
        )
