"""The codec endpoint (Temporal's codec server protocol) for the Temporal UI and CLI.

`POST /codec/decode` and `POST /codec/encode` take and return `{"payloads": [...]}` in
proto3 JSON (metadata values and data base64), running them through the same payload codec
as every worker and client (`runtime.temporal.converter_for`). Decoding shows personal data
(id tokens, e-mail addresses), so it is for admin and support only (`domain/roles.py`), and
each call is audited. Browsers reach it only from the Temporal UI's origin (`CodecCors`);
bodies are bounded (`BODY_LIMIT`). The UI sends `X-Namespace`; another namespace than ours is
refused. Threat model and dev wiring: docs/security.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, status
from google.protobuf import json_format
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload

from api.deps import OperatorDep, SessionDep, SettingsDep
from api.request_guard import MIB, Limit
from runtime.codec import CodecError, EncryptionCodec
from runtime.settings import Settings
from runtime.temporal import converter_for
from store.audit import audit

PREFIX = "/codec"
BODY_LIMIT = Limit(f"{PREFIX}/", 4 * MIB)  # a 2 MiB payload (Temporal's blob limit) as base64
MAX_PAYLOADS = 1000

router = APIRouter(prefix=PREFIX, tags=["codec"])


class CodecPayload(BaseModel):
    """A Temporal payload in proto3 JSON: metadata values and data are base64."""

    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)
    data: str = ""


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list, max_length=MAX_PAYLOADS)


def _codec(settings: Settings) -> EncryptionCodec:
    codec = converter_for(settings).payload_codec
    assert isinstance(codec, EncryptionCodec)
    return codec


def _check_namespace(settings: Settings, namespace: str | None) -> None:
    if namespace is not None and namespace != settings.temporal_namespace:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this codec serves another namespace")


def _to_proto(body: CodecPayloads) -> list[Payload]:
    try:
        return [json_format.ParseDict(p.model_dump(), Payload()) for p in body.payloads]
    except json_format.ParseError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "invalid payload") from error


def _to_json(payloads: list[Payload]) -> CodecPayloads:
    return CodecPayloads(
        payloads=[CodecPayload.model_validate(json_format.MessageToDict(p)) for p in payloads]
    )


@router.post("/decode")
async def decode(
    body: CodecPayloads,
    settings: SettingsDep,
    db: SessionDep,
    who: OperatorDep,
    namespace: Annotated[str | None, Header(alias="X-Namespace")] = None,
) -> CodecPayloads:
    """Decrypt payloads (unencrypted ones come back unchanged); audited."""
    _check_namespace(settings, namespace)
    payloads = _to_proto(body)
    try:
        decoded = await _codec(settings).decode(payloads)
    except CodecError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    audit(db, who, "codec.decode", settings.temporal_namespace, {"payloads": len(payloads)})
    return _to_json(decoded)


@router.post("/encode")
async def encode(
    body: CodecPayloads,
    settings: SettingsDep,
    db: SessionDep,
    who: OperatorDep,
    namespace: Annotated[str | None, Header(alias="X-Namespace")] = None,
) -> CodecPayloads:
    """Encrypt payloads with the current key (input typed into the UI); audited."""
    _check_namespace(settings, namespace)
    encoded = await _codec(settings).encode(_to_proto(body))
    audit(db, who, "codec.encode", settings.temporal_namespace, {"payloads": len(encoded)})
    return _to_json(encoded)


def ui_origins(settings: Settings) -> list[str]:
    """The Temporal UI's origin(s): `AMPFLOW_TEMPORAL_UI_URL`, else the dev UI."""
    if settings.temporal_ui_url:
        return [settings.temporal_ui_url.rstrip("/")]
    port = settings.temporal_ui_port
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


class CodecCors:
    """CORS for `/codec/*` only, and only for the Temporal UI's origin; every other path of
    the API stays same-origin."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["Content-Type", "X-Namespace", "Authorization", "X-API-Key"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(f"{PREFIX}/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
