"""What a caller may see of logged values: station passwords never, the secret token of a
one-time upload URL only with a role that sends station commands (admin, technician)."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel

from domain.access import hide_upload_urls, redact_secrets
from domain.roles import Principal, Role

SEES_UPLOAD_URLS = frozenset({Role.ADMIN, Role.TECHNICIAN})
M = TypeVar("M", bound=BaseModel)


def shown(value: object, caller: Principal | None = None) -> object:
    """`value` (JSON-like) as `caller` may see it (None: passwords hidden only)."""
    value = redact_secrets(value)
    if caller is not None and caller.role not in SEES_UPLOAD_URLS:
        value = hide_upload_urls(value)
    return value


def shown_model(model: M, caller: Principal | None = None) -> M:
    """A copy of a response model with its logged values as `caller` may see them."""
    data = shown(model.model_dump(mode="json"), caller)
    return type(model).model_validate(data)


def shown_frame(payload: str, caller: Principal) -> str:
    """A stored OCPP frame (JSON text) as `caller` may see it."""
    try:
        frame = json.loads(payload)
    except ValueError:
        text = payload if caller.role in SEES_UPLOAD_URLS else hide_upload_urls(payload)
        return str(text)
    return json.dumps(shown(frame, caller), separators=(",", ":"))
