"""`FirmwareUpdate`: install a firmware image on one station and prove it booted into it.

Id `firmware-{station}-{time}`, search attribute StationId, query `progress`.
Refuses (or waits, by policy) while a session is charging unless forced; sends UpdateFirmware
(retried while the station is offline or silent); follows the firmware status notifications
(Downloading ... Installed, or a failure) and waits for the BootNotification that reports the
expected version; then re-applies the station's desired configuration. Fails with a readable
reason: a failure status, "rebooted into X, expected Y", or a timeout naming what it waited for.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.maintenance_activities import MaintenanceActivities
    from domain.commands import CommandRecord, StationCommand
    from domain.maintenance import (
        FIRMWARE_FAILURES,
        FIRMWARE_INSTALL_PHASE,
        FIRMWARE_UPDATE,
        QUERY_PROGRESS,
        SIGNAL_STATION_EVENT,
        UPDATE_ACCEPTED,
        FirmwareProgress,
        FirmwareState,
        FirmwareUpdateRequest,
        JobKind,
        JobRecord,
        JobState,
        SignalKind,
        StationSignal,
        StatusSeen,
    )
    from workflows.station_command import send_to_station

_STORE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
_CONFIG_OK = {"Accepted", "RebootRequired"}
_STATES = {
    "Downloading": FirmwareState.DOWNLOADING,
    "Downloaded": FirmwareState.DOWNLOADING,
    "DownloadScheduled": FirmwareState.DOWNLOADING,
    "DownloadPaused": FirmwareState.DOWNLOADING,
    "SignatureVerified": FirmwareState.DOWNLOADING,
    "InstallScheduled": FirmwareState.INSTALLING,
    "Installing": FirmwareState.INSTALLING,
    "InstallRebooting": FirmwareState.REBOOTING,
    "Installed": FirmwareState.REBOOTING,
}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


class _Failed(Exception):
    pass


def _configuration_status(record: CommandRecord) -> str:
    """Accepted / RebootRequired / Rejected ... (1.6 status, 2.0.1 attributeStatus) or the
    command's outcome (offline, timeout, ...)."""
    if record.outcome != "ok":
        return record.outcome
    if record.status is not None:
        return record.status
    results = (record.response or {}).get("setVariableResult") or [{}]
    return results[0].get("attributeStatus", "Accepted")


@workflow.defn(name=FIRMWARE_UPDATE)
class FirmwareUpdate:
    """One station's firmware update, from request to verified boot."""

    @workflow.init
    def __init__(self, request: FirmwareUpdateRequest) -> None:
        self.request = request
        self.progress = FirmwareProgress(
            workflow_id=workflow.info().workflow_id,
            station_id=request.station_id,
            expected_version=request.firmware.expected_version,
        )
        self._sent = False  # boots count only once the request went out
        self._failure: str | None = None
        self._install_seen_at: datetime | None = None
        self._boots: list[str | None] = []
        self._installed_after_boot = False  # 1.6 habit: Installed is sent after the reboot

    @workflow.query(name=QUERY_PROGRESS)
    def get_progress(self) -> FirmwareProgress:
        return self.progress

    @workflow.signal(name=SIGNAL_STATION_EVENT)
    def station_event(self, signal: StationSignal) -> None:
        """Firmware status notifications, boots and the link, from the gateway's listener."""
        if signal.kind == SignalKind.FIRMWARE_STATUS and signal.status is not None:
            if signal.request_id is not None and signal.request_id != self.progress.request_id:
                return  # 2.0.1: another request's status
            self.progress.statuses.append(StatusSeen(status=signal.status, at=signal.at))
            if signal.status in FIRMWARE_FAILURES and self._failure is None:
                self._failure = signal.status
            if signal.status in FIRMWARE_INSTALL_PHASE and self._install_seen_at is None:
                self._install_seen_at = workflow.now()
            if signal.status == "Installed" and self._boots:
                self._installed_after_boot = True
            if signal.status in _STATES and self.progress.state not in (
                FirmwareState.CONFIGURING,
                FirmwareState.SUCCEEDED,
                FirmwareState.FAILED,
            ):
                self.progress.state = _STATES[signal.status]
        elif signal.kind == SignalKind.BOOTED and self._sent:
            self._boots.append(signal.firmware_version)
            self.progress.booted_versions.append(signal.firmware_version)
        elif signal.kind == SignalKind.DISCONNECTED and self._install_seen_at is not None:
            self.progress.state = FirmwareState.REBOOTING

    @workflow.run
    async def run(self, request: FirmwareUpdateRequest) -> FirmwareProgress:
        try:
            await self._record(JobState.RUNNING)
            await self._wait_until_idle()
            await self._send()
            await self._record(JobState.RUNNING)
            await self._follow_install()
            await self._reapply_configuration()
        except _Failed as failure:
            self.progress.state = FirmwareState.FAILED
            self.progress.reason = str(failure)
            await self._record(JobState.FAILED)
            raise ApplicationError(
                str(failure), type="FirmwareUpdateFailed", non_retryable=True
            ) from None
        except asyncio.CancelledError:
            self.progress.state = FirmwareState.CANCELLED
            self.progress.reason = "cancelled"
            await self._record(JobState.CANCELLED)
            raise
        self.progress.state = FirmwareState.SUCCEEDED
        await self._record(JobState.SUCCEEDED)
        return self.progress

    # ---- steps -----------------------------------------------------------------------------

    async def _wait_until_idle(self) -> None:
        """Refuse, or wait by policy, while a session is charging (unless forced)."""
        policy = self.request.policy
        if policy.force:
            return
        session = await self._active_session()
        if session is None:
            return
        if not policy.wait_while_charging:
            raise _Failed(
                f"refused: session {session} is charging; set policy wait_while_charging to "
                "wait for it to end (up to busy_timeout_s), or force to install anyway"
            )
        self.progress.state = FirmwareState.WAITING_FOR_IDLE
        await self._record(JobState.RUNNING)
        deadline = workflow.now() + timedelta(seconds=policy.busy_timeout_s)
        while session is not None:
            if workflow.now() >= deadline:
                raise _Failed(f"session {session} still charging after {policy.busy_timeout_s:g}s")
            await workflow.sleep(policy.busy_poll_s)
            session = await self._active_session()
        self.progress.state = FirmwareState.REQUESTED

    async def _send(self) -> None:
        """UpdateFirmware, sent again while the station is offline or does not answer."""
        request, policy = self.request, self.request.policy
        self.progress.request_id = workflow.random().randint(1, 2**31 - 1)
        command = StationCommand(
            station_id=request.station_id,
            name="update_firmware",
            params={
                "location": request.firmware.location,
                "retrieve_at": _iso(policy.retrieve_at or workflow.now()),
                "install_at": _iso(policy.install_at),
                "retries": policy.station_retries,
                "retry_interval": policy.station_retry_interval_s,
                "request_id": self.progress.request_id,
                "signature": request.firmware.signature,
                "signing_certificate": request.firmware.signing_certificate,
            },
            timeout_s=policy.command_timeout_s,
            requested_by=request.requested_by,
        )
        for attempt in range(1, policy.send_attempts + 1):
            self.progress.send_attempts = attempt
            self._sent = True
            record = await send_to_station(command)
            if record.outcome == "ok":
                if record.status is not None and record.status not in UPDATE_ACCEPTED:
                    raise _Failed(f"station answered UpdateFirmware with {record.status}")
                return
            if record.outcome not in ("offline", "timeout") or attempt == policy.send_attempts:
                raise _Failed(f"UpdateFirmware not delivered: {record.outcome} ({record.error})")
            await workflow.sleep(policy.send_retry_delay_s)

    async def _follow_install(self) -> None:
        """Until a boot into the expected version, a failure status, or a deadline."""
        policy = self.request.policy
        expected = self.request.firmware.expected_version
        start = max(workflow.now(), policy.retrieve_at or workflow.now())
        install_deadline = start + timedelta(seconds=policy.install_timeout_s)
        seen = 0
        while True:
            if self._install_seen_at is not None:
                deadline = self._install_seen_at + timedelta(seconds=policy.boot_timeout_s)
                waiting_for = "the reboot into the new firmware"
            else:
                deadline, waiting_for = install_deadline, "the installation"
            remaining = (deadline - workflow.now()).total_seconds()
            phase = self._install_seen_at
            try:
                if remaining <= 0:
                    raise TimeoutError
                await workflow.wait_condition(
                    lambda seen=seen, phase=phase: self._news(seen, phase),
                    timeout=remaining,
                    timeout_summary="firmware deadline",
                )
            except TimeoutError:
                last = self.progress.statuses[-1].status if self.progress.statuses else "none"
                raise _Failed(
                    f"timed out waiting for {waiting_for} (last status: {last})"
                ) from None
            if self._failure is not None:
                raise _Failed(f"station reported {self._failure}")
            for version in self._boots[seen:]:
                if (expected is None and self._install_seen_at is not None) or (
                    expected is not None and version == expected
                ):
                    self.progress.state = FirmwareState.CONFIGURING
                    return
                if self._install_seen_at is not None:
                    raise _Failed(f"rebooted into {version}, expected {expected}")
            seen = len(self._boots)
            if self._installed_after_boot:  # the boot we let pass was the new firmware's
                if expected is None or self._boots[-1] == expected:
                    self.progress.state = FirmwareState.CONFIGURING
                    return
                raise _Failed(f"rebooted into {self._boots[-1]}, expected {expected}")

    def _news(self, seen: int, phase: datetime | None) -> bool:
        """A failure, a boot, or the install phase began (or Installed after a boot)."""
        return (
            self._failure is not None
            or len(self._boots) > seen
            or self._install_seen_at != phase
            or self._installed_after_boot
        )

    async def _reapply_configuration(self) -> None:
        """Send the station's desired configuration again (firmware may have reset it)."""
        if not self.request.policy.reapply_configuration:
            return
        self.progress.state = FirmwareState.CONFIGURING
        desired = await workflow.execute_activity_method(
            MaintenanceActivities.load_desired_configuration, self.request.station_id, **_STORE
        )
        problems: list[str] = []
        for key, value in desired.values.items():
            record = await send_to_station(
                StationCommand(
                    station_id=self.request.station_id,
                    name="change_configuration",
                    params={"key": key, "value": value},
                    timeout_s=self.request.policy.command_timeout_s,
                    requested_by=self.request.requested_by,
                )
            )
            outcome = _configuration_status(record)
            self.progress.configuration[key] = outcome
            if outcome not in _CONFIG_OK:
                problems.append(f"{key}: {outcome}")
        if problems:
            self.progress.reason = "configuration not fully re-applied: " + ", ".join(problems)

    # ---- helpers ---------------------------------------------------------------------------

    async def _active_session(self) -> str | None:
        return await workflow.execute_activity_method(
            MaintenanceActivities.find_active_session, self.request.station_id, **_STORE
        )

    async def _record(self, state: JobState) -> None:
        request = self.request
        version = request.firmware.expected_version or request.firmware.location
        await workflow.execute_activity_method(
            MaintenanceActivities.record_job,
            JobRecord(
                workflow_id=self.progress.workflow_id,
                run_id=workflow.info().first_execution_run_id,
                kind=JobKind.FIRMWARE_UPDATE,
                station_id=request.station_id,
                state=state,
                requested_by=request.requested_by,
                summary=f"firmware {version} on {request.station_id}"
                + (f" (rollout {request.rollout})" if request.rollout else ""),
                reason=self.progress.reason,
                detail=self.progress.model_dump(mode="json"),
                started_at=workflow.info().start_time,
                finished_at=None if state == JobState.RUNNING else workflow.now(),
            ),
            **_STORE,
        )
