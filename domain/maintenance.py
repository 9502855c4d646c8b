"""Remote maintenance, OCPP-neutral: diagnostics, firmware updates and rollouts, self-healing.

The contract section (workflow names, ids, signals, queries) is what the gateway and the API use
to start, signal and query the maintenance workflows by name; the models cross into Temporal.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

# ---- contract: names, ids, signals, queries ----------------------------------------------

DIAGNOSTICS = "Diagnostics"
FIRMWARE_UPDATE = "FirmwareUpdate"
FIRMWARE_ROLLOUT = "FirmwareRollout"
SELF_HEALING = "SelfHealing"
MAINTENANCE_WORKFLOWS = (DIAGNOSTICS, FIRMWARE_UPDATE, FIRMWARE_ROLLOUT, SELF_HEALING)

SIGNAL_STATION_EVENT = "station_event"  # StationSignal, from the gateway's listener
SIGNAL_UPLOAD_RECEIVED = "upload_received"  # UploadedFile, from the API's upload endpoint
SIGNAL_PAUSE = "pause"  # RolloutControl
SIGNAL_RESUME = "resume"  # RolloutControl
SIGNAL_CANCEL = "cancel"  # RolloutControl
QUERY_PROGRESS = "progress"


def compact_time(at: datetime) -> str:
    """e.g. `20260101T120000123456`, the time part of job ids."""
    return at.strftime("%Y%m%dT%H%M%S%f")


def upload_token_hash(token: str) -> str:
    """Upload tokens are stored only as their sha256."""
    return hashlib.sha256(token.encode()).hexdigest()


def diagnostics_workflow_id(station_id: str, stamp: str) -> str:
    return f"diagnostics-{station_id}-{stamp}"


def firmware_workflow_id(station_id: str, stamp: str) -> str:
    return f"firmware-{station_id}-{stamp}"


def rollout_workflow_id(name: str) -> str:
    return f"rollout-{name}"


def healing_workflow_id(station_id: str) -> str:
    """One self-healing workflow per station at a time."""
    return f"healing-{station_id}"


# ---- jobs: what operators list -----------------------------------------------------------


class JobKind(StrEnum):
    DIAGNOSTICS = "diagnostics"
    FIRMWARE_UPDATE = "firmware_update"
    FIRMWARE_ROLLOUT = "firmware_rollout"
    SELF_HEALING = "self_healing"


WORKFLOW_KINDS = {
    DIAGNOSTICS: JobKind.DIAGNOSTICS,
    FIRMWARE_UPDATE: JobKind.FIRMWARE_UPDATE,
    FIRMWARE_ROLLOUT: JobKind.FIRMWARE_ROLLOUT,
    SELF_HEALING: JobKind.SELF_HEALING,
}


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobRecord(BaseModel):
    """A maintenance job as stored (one row per workflow id), written by the workflow itself."""

    workflow_id: str
    run_id: str = ""  # first run id of the chain (ids like `healing-{station}` are reused)
    kind: JobKind
    station_id: str | None = None
    state: JobState = JobState.RUNNING
    requested_by: str = "system"
    summary: str = ""
    reason: str | None = None
    detail: dict = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None


# ---- station events, as the listener forwards them to workflows --------------------------


class SignalKind(StrEnum):
    DIAGNOSTICS_STATUS = "diagnostics_status"
    FIRMWARE_STATUS = "firmware_status"
    BOOTED = "booted"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CONNECTOR_STATUS = "connector_status"
    SILENT = "silent"


class StationSignal(BaseModel):
    """One station event, OCPP-neutral, delivered to the maintenance jobs of the station."""

    kind: SignalKind
    station_id: str
    at: datetime
    status: str | None = None
    request_id: int | None = None
    firmware_version: str | None = None
    connector_id: int | None = None


# Which events each kind of job wants (the listener filters with this).
JOB_INTERESTS: dict[JobKind, frozenset[SignalKind]] = {
    JobKind.DIAGNOSTICS: frozenset({SignalKind.DIAGNOSTICS_STATUS}),
    JobKind.FIRMWARE_UPDATE: frozenset(
        {
            SignalKind.FIRMWARE_STATUS,
            SignalKind.BOOTED,
            SignalKind.CONNECTED,
            SignalKind.DISCONNECTED,
        }
    ),
    JobKind.FIRMWARE_ROLLOUT: frozenset(),
    JobKind.SELF_HEALING: frozenset(
        {
            SignalKind.CONNECTOR_STATUS,
            SignalKind.BOOTED,
            SignalKind.CONNECTED,
            SignalKind.DISCONNECTED,
            SignalKind.SILENT,
        }
    ),
}


class StatusSeen(BaseModel):
    status: str
    at: datetime


# ---- diagnostics and logs ----------------------------------------------------------------

# 1.6 DiagnosticsStatus and 1.6-security / 2.0.1 UploadLogStatus values that end an attempt.
UPLOAD_FAILURES = frozenset(
    {"UploadFailed", "UploadFailure", "BadMessage", "PermissionDenied", "NotSupportedOperation"}
)
UPLOAD_DONE = "Uploaded"


class LogType(StrEnum):
    DIAGNOSTICS = "DiagnosticsLog"  # 1.6 GetDiagnostics, 2.0.1 GetLog DiagnosticsLog
    SECURITY = "SecurityLog"  # GetLog SecurityLog (2.0.1, 1.6 security extension)


class DiagnosticsRequest(BaseModel):
    """Input of the `Diagnostics` workflow (durations in seconds)."""

    station_id: str
    log_type: LogType = LogType.DIAGNOSTICS
    oldest: datetime | None = None
    latest: datetime | None = None
    upload_base_url: str  # the API's public base URL; the upload URL is built on it
    max_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    upload_ttl_s: int = Field(default=3600, gt=0)
    attempts: int = Field(default=2, ge=1, le=10)  # our own retries (new URL each)
    retry_delay_s: float = Field(default=30.0, ge=0)
    command_timeout_s: float = Field(default=30.0, gt=0, le=300)
    upload_timeout_s: float = Field(default=900.0, gt=0)  # per attempt, request to file
    uploaded_grace_s: float = Field(default=15.0, gt=0)  # "Uploaded" seen, file not yet
    station_retries: int | None = None  # the charger's own upload retries
    station_retry_interval_s: int | None = None
    requested_by: str = "system"


class UploadSlotRequest(BaseModel):
    workflow_id: str
    station_id: str
    base_url: str
    max_bytes: int
    ttl_s: int


class UploadSlot(BaseModel):
    """A one-time upload URL (the token is in the path; only its hash is stored)."""

    upload_id: int
    url: str
    expires_at: datetime


class UploadedFile(BaseModel):
    upload_id: int
    file_name: str
    size: int
    sha256: str
    received_at: datetime


class DiagnosticsState(StrEnum):
    REQUESTED = "requested"
    UPLOADING = "uploading"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DiagnosticsProgress(BaseModel):
    """Query result and final result of the `Diagnostics` workflow."""

    workflow_id: str
    station_id: str
    log_type: LogType
    state: DiagnosticsState = DiagnosticsState.REQUESTED
    attempt: int = 0
    request_id: int | None = None
    station_file_name: str | None = None
    statuses: list[StatusSeen] = Field(default_factory=list)
    file: UploadedFile | None = None
    reason: str | None = None


# ---- firmware ----------------------------------------------------------------------------

FIRMWARE_FAILURES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed"}
)
FIRMWARE_INSTALL_PHASE = frozenset({"Installing", "InstallRebooting", "Installed"})
UPDATE_ACCEPTED = frozenset({"Accepted", "AcceptedCanceled"})  # 2.0.1; 1.6 answers no status


class FirmwareSpec(BaseModel):
    """Which firmware to install and where the charger fetches it."""

    location: str
    expected_version: str | None = None  # the version the charger must boot with
    firmware_id: int | None = None  # the repository image, when it comes from there
    signature: str | None = None  # 2.0.1 (base64)
    signing_certificate: str | None = None  # 2.0.1 (PEM)


class FirmwareUpdatePolicy(BaseModel):
    """How patient and how forceful an update is (durations in seconds)."""

    force: bool = False  # install even while a session is charging
    wait_while_charging: bool = False  # wait for the session to end instead of refusing
    busy_timeout_s: float = Field(default=4 * 3600.0, gt=0)
    busy_poll_s: float = Field(default=60.0, gt=0)
    retrieve_at: datetime | None = None  # default: now
    install_at: datetime | None = None  # 2.0.1 installDateTime
    station_retries: int | None = None
    station_retry_interval_s: int | None = None
    send_attempts: int = Field(default=3, ge=1, le=20)  # offline / timeout -> send again
    send_retry_delay_s: float = Field(default=30.0, ge=0)
    command_timeout_s: float = Field(default=30.0, gt=0, le=300)
    install_timeout_s: float = Field(default=2 * 3600.0, gt=0)  # retrieve time -> new boot
    boot_timeout_s: float = Field(default=900.0, gt=0)  # install phase seen -> new boot
    reapply_configuration: bool = True


class FirmwareUpdateRequest(BaseModel):
    """Input of the `FirmwareUpdate` workflow."""

    station_id: str
    firmware: FirmwareSpec
    policy: FirmwareUpdatePolicy = Field(default_factory=FirmwareUpdatePolicy)
    requested_by: str = "system"
    rollout: str | None = None  # the rollout this update belongs to


class FirmwareState(StrEnum):
    WAITING_FOR_IDLE = "waiting_for_idle"
    REQUESTED = "requested"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    REBOOTING = "rebooting"
    CONFIGURING = "configuring"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FirmwareProgress(BaseModel):
    """Query result and final result of the `FirmwareUpdate` workflow."""

    workflow_id: str
    station_id: str
    expected_version: str | None
    state: FirmwareState = FirmwareState.REQUESTED
    request_id: int | None = None
    send_attempts: int = 0
    statuses: list[StatusSeen] = Field(default_factory=list)
    booted_versions: list[str | None] = Field(default_factory=list)
    configuration: dict[str, str] = Field(default_factory=dict)  # key -> outcome/status
    reason: str | None = None


class DesiredConfiguration(BaseModel):
    """The configuration a station should have (re-applied after a firmware update)."""

    station_id: str
    values: dict[str, str] = Field(default_factory=dict)


# ---- rollouts ----------------------------------------------------------------------------


class RolloutTargets(BaseModel):
    """Which stations: an explicit list and/or vendor, model and current versions."""

    station_ids: list[str] | None = None
    vendor: str | None = None
    model: str | None = None
    current_versions: list[str] | None = None


class TargetQuery(BaseModel):
    targets: RolloutTargets
    expected_version: str | None = None


class TargetList(BaseModel):
    station_ids: list[str]
    skipped: dict[str, str] = Field(default_factory=dict)  # station -> why


class RolloutState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"  # failure ratio crossed the threshold; resume to go on
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class RolloutProgress(BaseModel):
    """Query result and final result of the `FirmwareRollout` workflow."""

    name: str
    state: RolloutState = RolloutState.RUNNING
    total: int = 0
    waves: list[list[str]] = Field(default_factory=list)
    wave: int = 0  # index of the wave being worked on
    pending: list[str] = Field(default_factory=list)  # not started, current and later waves
    running: dict[str, str] = Field(default_factory=dict)  # station -> child workflow id
    succeeded: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)  # station -> reason
    skipped: dict[str, str] = Field(default_factory=dict)
    window_done: int = 0  # results since the start or the last resume (the ratio's base)
    window_failed: int = 0
    halted_reason: str | None = None
    stamp: str = ""  # the time part of the children's ids

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failure_ratio(self) -> float:
        return self.window_failed / self.window_done if self.window_done else 0.0


class RolloutRequest(BaseModel):
    """Input of the `FirmwareRollout` workflow (and of its continued runs)."""

    name: str
    firmware: FirmwareSpec
    policy: FirmwareUpdatePolicy = Field(default_factory=FirmwareUpdatePolicy)
    targets: RolloutTargets
    canary_size: int = Field(default=1, ge=1)
    growth_factor: float = Field(default=2.0, ge=1.0)
    max_wave_size: int = Field(default=50, ge=1)
    max_concurrency: int = Field(default=10, ge=1)
    failure_threshold: float = Field(default=0.2, ge=0.0, le=1.0)  # halt above this ratio
    min_results: int = Field(default=1, ge=1)  # results needed before the ratio counts
    requested_by: str = "system"
    history_limit: int = Field(default=10_000, ge=10)  # continue-as-new between waves past this
    carry: RolloutProgress | None = None  # set on continue-as-new


class RolloutControl(BaseModel):
    """A pause, resume or cancel signal and who sent it."""

    requested_by: str = "system"
    reason: str | None = None


def plan_waves(stations: list[str], canary: int, growth: float, max_wave: int) -> list[list[str]]:
    """A canary wave, then batches growing by `growth`, each at most `max_wave` stations."""
    waves: list[list[str]] = []
    size, index = min(canary, max_wave), 0
    while index < len(stations):
        waves.append(stations[index : index + size])
        index += size
        size = max(size + 1 if growth > 1 else size, int(size * growth))
        size = min(size, max_wave)
    return waves


# ---- self-healing ------------------------------------------------------------------------

HEALING_STEPS = ("probe", "soft_reset", "hard_reset", "alert")


class HealingTrigger(StrEnum):
    FAULT = "fault"  # a connector (or the station) reported Faulted
    SILENT = "silent"  # nothing heard from a connected station for too long


class HealingPolicy(BaseModel):
    """The playbook (configurable): steps in order, and how long to wait after each."""

    steps: list[str] = Field(default_factory=lambda: list(HEALING_STEPS))
    settle_s: float = Field(default=60.0, gt=0)  # wait after a step before judging it
    silent_after_s: float = Field(default=900.0, gt=0)
    charging_wait_s: float = Field(default=300.0, gt=0)  # a session charges: look again then
    max_charging_waits: int = Field(default=12, ge=0)
    poll_s: float = Field(default=5.0, gt=0)  # look at the station this often while settling
    max_runs_per_day: int = Field(default=3, ge=1)  # more: flapping, alert at once
    command_timeout_s: float = Field(default=30.0, gt=0, le=300)


class HealingRequest(BaseModel):
    """Input of the `SelfHealing` workflow."""

    station_id: str
    trigger: HealingTrigger
    connector_id: int | None = None
    policy: HealingPolicy = Field(default_factory=HealingPolicy)


class HealthQuery(BaseModel):
    station_id: str
    silent_after_s: float


class StationHealth(BaseModel):
    """What the store knows about a station's health right now."""

    station_id: str
    connected: bool
    silent: bool
    faulted_connectors: list[int] = Field(default_factory=list)
    charging_session: str | None = None
    open_alert_id: int | None = None
    last_seen_at: datetime | None = None
    recent_runs: int = 0  # finished self-healing runs in the last 24 hours


class HealingStep(BaseModel):
    step: str
    outcome: str  # ok / offline / rejected / ... / deferred / skipped
    at: datetime


class HealingState(StrEnum):
    CHECKING = "checking"
    ACTING = "acting"
    SETTLING = "settling"
    WAITING_FOR_IDLE = "waiting_for_idle"
    HEALED = "healed"
    ALERTED = "alerted"
    UNRESOLVED = "unresolved"  # playbook done without an alert step, still unhealthy
    SUPPRESSED = "suppressed"  # an operator alert is already open for the station


class HealingProgress(BaseModel):
    """Query result and final result of the `SelfHealing` workflow."""

    workflow_id: str
    station_id: str
    trigger: HealingTrigger
    state: HealingState = HealingState.CHECKING
    steps: list[HealingStep] = Field(default_factory=list)
    triggers_seen: int = 1
    alert_id: int | None = None
    reason: str | None = None


class AlertRequest(BaseModel):
    """An operator alert (a row operators list and resolve)."""

    station_id: str
    kind: str
    message: str
    workflow_id: str | None = None
    detail: dict = Field(default_factory=dict)


# ---- device model ------------------------------------------------------------------------


class DeviceModelEntry(BaseModel):
    """One variable of a station's device model, as stored and listed."""

    component_key: str
    variable_key: str
    component: dict
    variable: dict
    attributes: list[dict] = Field(default_factory=list)
    characteristics: dict | None = None


def device_model_entry(report_item: dict) -> DeviceModelEntry:
    """A 2.0.1 NotifyReport `reportData` item, keyed by component and variable."""
    component, variable = report_item["component"], report_item["variable"]
    component_key = component["name"]
    if component.get("instance"):
        component_key += f"[{component['instance']}]"
    evse = component.get("evse")
    if evse:
        component_key += f"@{evse['id']}"
        if evse.get("connectorId") is not None:
            component_key += f".{evse['connectorId']}"
    variable_key = variable["name"]
    if variable.get("instance"):
        variable_key += f"[{variable['instance']}]"
    return DeviceModelEntry(
        component_key=component_key,
        variable_key=variable_key,
        component=component,
        variable=variable,
        attributes=list(report_item.get("variableAttribute", [])),
        characteristics=report_item.get("variableCharacteristics"),
    )


def configuration_entries(configuration_keys: list[dict]) -> list[DeviceModelEntry]:
    """OCPP 1.6 GetConfiguration keys as device-model entries (component `Configuration`)."""
    return [
        DeviceModelEntry(
            component_key="Configuration",
            variable_key=item["key"],
            component={"name": "Configuration"},
            variable={"name": item["key"]},
            attributes=[
                {
                    "type": "Actual",
                    "value": item.get("value"),
                    "mutability": "ReadOnly" if item.get("readonly") else "ReadWrite",
                }
            ],
        )
        for item in configuration_keys
    ]
