"""Firmware: the image repository, updates of one station, and fleet rollouts.

Operators upload images (raw body with query parameters, or multipart/form-data with a `file`
part and the same fields); the sha256 is computed and, when given, verified. Chargers fetch an
image at `/firmware/files/{token}/{file_name}` — no API key, the per-image token is the
credential. Updates and rollouts are workflows; their progress is a query.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import OperatorDep, SessionDep, SettingsDep, TemporalDep
from api.inputs import PositiveId, RowId, UtcDateTime
from api.routes.maintenance import JobStarted, start_station_job
from api.routes.uploads import file_response, safe_file_name
from api.streamed_files import spool_upload, store_spooled
from domain.maintenance import (
    FIRMWARE_ROLLOUT,
    FIRMWARE_UPDATE,
    QUERY_PROGRESS,
    SIGNAL_CANCEL,
    SIGNAL_PAUSE,
    SIGNAL_RESUME,
    FirmwareSpec,
    FirmwareUpdatePolicy,
    FirmwareUpdateRequest,
    JobKind,
    RolloutControl,
    RolloutProgress,
    RolloutRequest,
    RolloutTargets,
    compact_time,
    firmware_workflow_id,
    rollout_workflow_id,
)
from store.maintenance_tables import FirmwareImage
from store.tables import Station

router = APIRouter(tags=["firmware"])


class FirmwarePublic(BaseModel):
    id: int
    version: str
    vendor: str | None
    model: str | None
    file_name: str
    size: int
    sha256: str
    signature: str | None
    signing_certificate: str | None
    notes: str | None
    uploaded_by: str
    created_at: datetime
    download_url: str  # what chargers are given


_WEEK = 7 * 86_400.0


class BoundedPolicy(FirmwareUpdatePolicy):
    """The update policy with every duration, count and date bounded (API input)."""

    busy_timeout_s: float = Field(default=4 * 3600.0, gt=0, le=_WEEK)
    busy_poll_s: float = Field(default=60.0, gt=0, le=86_400)
    retrieve_at: UtcDateTime | None = None
    install_at: UtcDateTime | None = None
    station_retries: int | None = Field(default=None, ge=0, le=100)
    station_retry_interval_s: int | None = Field(default=None, ge=0, le=86_400)
    send_retry_delay_s: float = Field(default=30.0, ge=0, le=86_400)
    install_timeout_s: float = Field(default=2 * 3600.0, gt=0, le=_WEEK)
    boot_timeout_s: float = Field(default=900.0, gt=0, le=_WEEK)


class FirmwareUpdateCreate(BaseModel):
    """Update one station: an image from the repository (or any location and version)."""

    firmware_id: PositiveId | None = None
    location: str | None = Field(default=None, max_length=512, description="instead of firmware_id")
    version: str | None = Field(
        default=None, max_length=64, description="expected version, with location"
    )
    policy: BoundedPolicy = Field(default_factory=BoundedPolicy)


class RolloutCreate(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9._\-]{1,80}$")
    firmware_id: PositiveId
    targets: RolloutTargets
    policy: BoundedPolicy = Field(default_factory=BoundedPolicy)
    canary_size: int = Field(default=1, ge=1, le=100_000)
    growth_factor: float = Field(default=2.0, ge=1.0, le=100.0)
    max_wave_size: int = Field(default=50, ge=1, le=100_000)
    max_concurrency: int = Field(default=10, ge=1, le=10_000)
    failure_threshold: float = Field(default=0.2, ge=0.0, le=1.0)
    min_results: int = Field(default=1, ge=1, le=100_000)
    history_limit: int = Field(default=10_000, ge=10, le=50_000)


def _download_url(base_url: str, image: FirmwareImage) -> str:
    return f"{base_url.rstrip('/')}/firmware/files/{image.download_token}/{image.file_name}"


def _public(image: FirmwareImage, base_url: str) -> FirmwarePublic:
    return FirmwarePublic(
        **image.model_dump(exclude={"file_id", "download_token"}),
        download_url=_download_url(base_url, image),
    )


def _image(db: Session, firmware_id: int) -> FirmwareImage:
    image = db.get(FirmwareImage, firmware_id)
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown firmware image")
    return image


def _spec(image: FirmwareImage, base_url: str) -> FirmwareSpec:
    return FirmwareSpec(
        location=_download_url(base_url, image),
        expected_version=image.version,
        firmware_id=image.id,
        signature=image.signature,
        signing_certificate=image.signing_certificate,
    )


# ---- the repository ----------------------------------------------------------------------


@router.post("/firmware", status_code=status.HTTP_201_CREATED)
async def upload_firmware(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    who: OperatorDep,
    version: str | None = Query(None, max_length=64),
    vendor: str | None = Query(None, max_length=64),
    model: str | None = Query(None, max_length=64),
    sha256: str | None = Query(None, max_length=64, description="expected checksum, verified"),
    file_name: str | None = Query(None, max_length=200),
    signature: str | None = Query(None, max_length=4096, description="2.0.1: base64 signature"),
    signing_certificate: str | None = Query(
        None, max_length=8192, description="2.0.1: PEM certificate"
    ),
    notes: str | None = Query(None, max_length=2000),
) -> FirmwarePublic:
    """Add an image: the raw body, or multipart/form-data with `file` and the same fields."""
    upload = await spool_upload(request, settings.firmware_max_bytes)  # streamed to a spool
    given = {
        "version": version,
        "vendor": vendor,
        "model": model,
        "sha256": sha256,
        "signature": signature,
        "signing_certificate": signing_certificate,
        "notes": notes,
    }
    fields = {k: v or upload.fields.get(k) or None for k, v in given.items()}
    if not fields["version"]:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "version is required")
    if not upload.size:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the image is empty")
    duplicate = db.exec(
        select(FirmwareImage.id).where(
            FirmwareImage.vendor == fields["vendor"],
            FirmwareImage.model == fields["model"],
            FirmwareImage.version == fields["version"],
        )
    ).first()
    if duplicate is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"already stored as image {duplicate}")
    stored = store_spooled(db, "firmware", upload)
    upload.file.close()
    expected = fields.pop("sha256")
    if expected and expected.lower() != stored.sha256:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"checksum mismatch: computed sha256 {stored.sha256}, expected {expected}",
        )
    assert stored.id is not None
    name = file_name or upload.fields.get("file_name") or upload.file_name
    image = FirmwareImage(
        **fields,
        file_name=safe_file_name(name, f"firmware-{fields['version']}.bin"),
        file_id=stored.id,
        size=stored.size,
        sha256=stored.sha256,
        download_token=secrets.token_urlsafe(24),
        uploaded_by=who,
    )
    db.add(image)
    db.flush()
    return _public(image, settings.api_base_url)


@router.get("/firmware")
def list_firmware(
    db: SessionDep,
    settings: SettingsDep,
    _: OperatorDep,
    vendor: str | None = None,
    model: str | None = None,
) -> list[FirmwarePublic]:
    statement = select(FirmwareImage).order_by(FirmwareImage.id.desc())  # type: ignore[union-attr]
    if vendor is not None:
        statement = statement.where(FirmwareImage.vendor == vendor)
    if model is not None:
        statement = statement.where(FirmwareImage.model == model)
    return [_public(image, settings.api_base_url) for image in db.exec(statement).all()]


@router.get("/firmware/{firmware_id}")
def get_firmware(
    firmware_id: RowId, db: SessionDep, settings: SettingsDep, _: OperatorDep
) -> FirmwarePublic:
    return _public(_image(db, firmware_id), settings.api_base_url)


@router.get("/firmware/{firmware_id}/content")
def download_firmware(
    firmware_id: RowId, request: Request, db: SessionDep, _: OperatorDep
) -> StreamingResponse:
    """The image itself, for operators."""
    image = _image(db, firmware_id)
    return file_response(
        request.app.state.db, image.file_id, image.size, image.file_name, "application/octet-stream"
    )


@router.get("/firmware/files/{token}/{file_name}")
def serve_firmware(token: str, file_name: str, request: Request, db: SessionDep):
    """The image, for chargers (the token in the URL is the credential)."""
    image = db.exec(select(FirmwareImage).where(FirmwareImage.download_token == token)).first()
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown firmware")
    return file_response(
        request.app.state.db, image.file_id, image.size, image.file_name, "application/octet-stream"
    )


# ---- one station -------------------------------------------------------------------------


@router.post("/stations/{station_id}/firmware-update", status_code=status.HTTP_202_ACCEPTED)
async def update_station_firmware(
    station_id: str,
    body: FirmwareUpdateCreate,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> JobStarted:
    """Start a `FirmwareUpdate`; follow it at GET /maintenance/jobs/{workflow_id}."""
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    if body.firmware_id is not None:
        image = _image(db, body.firmware_id)
        fits = (image.vendor in (None, station.vendor)) and (image.model in (None, station.model))
        if not fits and not body.policy.force:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"image is for {image.vendor}/{image.model}, station is "
                f"{station.vendor}/{station.model} (force to override)",
            )
        spec = _spec(image, settings.api_base_url)
    elif body.location:
        spec = FirmwareSpec(location=body.location, expected_version=body.version)
    else:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "firmware_id or location")
    return await start_station_job(
        db,
        temporal,
        JobKind.FIRMWARE_UPDATE,
        station_id,
        FIRMWARE_UPDATE,
        FirmwareUpdateRequest(
            station_id=station_id, firmware=spec, policy=body.policy, requested_by=who
        ),
        workflow_id=firmware_workflow_id(station_id, compact_time(datetime.now(UTC))),
        task_queue=settings.task_queue,
        requested_by=who,
        summary=f"firmware {spec.expected_version} on {station_id}",
    )


# ---- rollouts ----------------------------------------------------------------------------


@router.post("/rollouts", status_code=status.HTTP_202_ACCEPTED)
async def start_rollout(
    body: RolloutCreate,
    db: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    who: OperatorDep,
) -> JobStarted:
    """Start a `FirmwareRollout` (`rollout-{name}`); follow it at GET /rollouts/{name}."""
    image = _image(db, body.firmware_id)
    targets = body.targets
    if targets.vendor is None and image.vendor is not None:
        targets = targets.model_copy(update={"vendor": image.vendor})
    if targets.model is None and image.model is not None:
        targets = targets.model_copy(update={"model": image.model})
    workflow_id = rollout_workflow_id(body.name)
    try:
        await temporal.start_workflow(
            FIRMWARE_ROLLOUT,
            RolloutRequest(
                **body.model_dump(exclude={"firmware_id", "targets", "policy"}),
                firmware=_spec(image, settings.api_base_url),
                policy=body.policy,
                targets=targets,
                requested_by=who,
            ),
            id=workflow_id,
            task_queue=settings.task_queue,
            static_summary=f"Rollout {body.name}: firmware {image.version}",
        )
    except WorkflowAlreadyStartedError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{workflow_id} is already running") from err
    return JobStarted(workflow_id=workflow_id)


@router.get("/rollouts/{name}")
async def get_rollout(name: str, temporal: TemporalDep, _: OperatorDep) -> RolloutProgress:
    """Live progress: waves, running, succeeded, failed, the failure ratio, the state."""
    handle = temporal.get_workflow_handle(rollout_workflow_id(name))
    try:
        return await handle.query(QUERY_PROGRESS, result_type=RolloutProgress)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown rollout") from err
        raise


async def _control(temporal, name: str, signal: str, control: RolloutControl) -> JobStarted:
    handle = temporal.get_workflow_handle(rollout_workflow_id(name))
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown rollout") from err
        raise
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise HTTPException(status.HTTP_409_CONFLICT, "the rollout has ended")
    await handle.signal(signal, control)
    return JobStarted(workflow_id=handle.id)


@router.post("/rollouts/{name}/pause")
async def pause_rollout(name: str, temporal: TemporalDep, who: OperatorDep) -> JobStarted:
    """Start no new updates (running ones finish)."""
    return await _control(temporal, name, SIGNAL_PAUSE, RolloutControl(requested_by=who))


@router.post("/rollouts/{name}/resume")
async def resume_rollout(name: str, temporal: TemporalDep, who: OperatorDep) -> JobStarted:
    """Go on after a pause or an automatic halt."""
    return await _control(temporal, name, SIGNAL_RESUME, RolloutControl(requested_by=who))


@router.post("/rollouts/{name}/cancel")
async def cancel_rollout(name: str, temporal: TemporalDep, who: OperatorDep) -> JobStarted:
    """Start nothing more and cancel the running updates."""
    return await _control(temporal, name, SIGNAL_CANCEL, RolloutControl(requested_by=who))
