"""Where chargers upload diagnostics and logs: one-time URLs `/uploads/{token}[/{file_name}]`.

No API key (chargers have none): the unguessable token in the path is the credential, valid
once and until it expires; only its sha256 is stored. Chargers upload by HTTP PUT (raw body)
or POST (multipart/form-data, the first file part; or a raw body). The body is streamed to
storage (`api.streamed_files`); bodies over the slot's limit are refused with 413. The stored
file is announced to the `Diagnostics` workflow.

Also the shared helpers for streaming stored files back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import select
from temporalio.service import RPCError

from api.deps import SessionDep, TemporalDep
from api.streamed_files import spool_upload, store_spooled
from domain.maintenance import SIGNAL_UPLOAD_RECEIVED, UploadedFile, upload_token_hash
from store.db import Database
from store.maintenance_tables import DiagnosticsUpload

log = logging.getLogger(__name__)

router = APIRouter(prefix="/uploads", tags=["maintenance"])

_CHUNK = 1024 * 1024


class UploadReceipt(BaseModel):
    upload_id: int
    file_name: str
    size: int
    sha256: str


# ---- shared helpers ----------------------------------------------------------------------


def safe_file_name(name: str | None, default: str) -> str:
    """A plain file name (no directories, no control characters), at most 200 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '"')
    return name[:200] or default


def file_response(
    database: Database, file_id: int, size: int, file_name: str, media_type: str
) -> StreamingResponse:
    """Stream a stored file in chunks (each chunk is one `substring` read)."""

    def chunks() -> Iterator[bytes]:
        for offset in range(0, size, _CHUNK):
            with database.session() as db:
                chunk = db.exec(  # type: ignore[call-overload]
                    text(
                        "SELECT substring(content FROM :start FOR :length) "
                        "FROM maintenance_files WHERE id = :id"
                    ),
                    params={"start": offset + 1, "length": _CHUNK, "id": file_id},
                ).scalar_one()
            yield bytes(chunk)

    return StreamingResponse(
        chunks(),
        media_type=media_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{file_name}"',
        },
    )


# ---- the charger's upload ----------------------------------------------------------------


async def _receive(
    token: str, file_name: str | None, request: Request, db: SessionDep, temporal: TemporalDep
) -> UploadReceipt:
    slot = db.exec(
        select(DiagnosticsUpload).where(DiagnosticsUpload.token_hash == upload_token_hash(token))
    ).first()
    if slot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown upload URL")
    if slot.state != "open" or slot.expires_at <= datetime.now(UTC):
        raise HTTPException(status.HTTP_410_GONE, "this upload URL was used or has expired")
    upload = await spool_upload(request, slot.max_bytes)  # streamed, never all in memory
    # One upload per URL, even when two arrive at once.
    slot = db.exec(
        select(DiagnosticsUpload).where(DiagnosticsUpload.id == slot.id).with_for_update()
    ).one()
    if slot.state != "open":
        raise HTTPException(status.HTTP_410_GONE, "this upload URL was used or has expired")
    stored = store_spooled(db, "diagnostics", upload)
    upload.file.close()
    slot.state = "received"
    slot.file_id = stored.id
    slot.file_name = safe_file_name(
        file_name or upload.file_name, f"{slot.station_id}-diagnostics-{slot.id}"
    )
    slot.size, slot.sha256 = stored.size, stored.sha256
    slot.received_at = datetime.now(UTC)
    db.add(slot)
    db.commit()
    assert slot.id is not None and slot.file_name is not None
    received = UploadedFile(
        upload_id=slot.id,
        file_name=slot.file_name,
        size=stored.size,
        sha256=stored.sha256,
        received_at=slot.received_at,
    )
    try:  # the workflow also looks in the store, should this signal be lost
        await temporal.get_workflow_handle(slot.workflow_id).signal(
            SIGNAL_UPLOAD_RECEIVED, received
        )
    except RPCError as err:
        log.warning("upload %s stored; could not tell %s: %s", slot.id, slot.workflow_id, err)
    log.info("diagnostics upload %s from %s: %d bytes", slot.id, slot.station_id, stored.size)
    return UploadReceipt(**received.model_dump(exclude={"received_at"}))


@router.put("/{token}", status_code=status.HTTP_201_CREATED)
async def put_upload(
    token: str, request: Request, db: SessionDep, temporal: TemporalDep
) -> UploadReceipt:
    """Upload the file as the raw request body."""
    return await _receive(token, None, request, db, temporal)


@router.post("/{token}", status_code=status.HTTP_201_CREATED)
async def post_upload(
    token: str, request: Request, db: SessionDep, temporal: TemporalDep
) -> UploadReceipt:
    """Upload the file as multipart/form-data (the first file part) or as the raw body."""
    return await _receive(token, None, request, db, temporal)


@router.put("/{token}/{file_name}", status_code=status.HTTP_201_CREATED)
async def put_named_upload(
    token: str, file_name: str, request: Request, db: SessionDep, temporal: TemporalDep
) -> UploadReceipt:
    """PUT to the URL plus a file name (chargers that append theirs)."""
    return await _receive(token, file_name, request, db, temporal)


@router.post("/{token}/{file_name}", status_code=status.HTTP_201_CREATED)
async def post_named_upload(
    token: str, file_name: str, request: Request, db: SessionDep, temporal: TemporalDep
) -> UploadReceipt:
    """POST to the URL plus a file name (chargers that append theirs)."""
    return await _receive(token, file_name, request, db, temporal)
