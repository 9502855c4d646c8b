"""Where the pepper of station password hashes comes from (`domain.credentials.StationKeys`).

`AMPFLOW_STATION_PASSWORD_PEPPER`; unset, it is derived from `AMPFLOW_ADMIN_API_KEY` (HMAC with a
fixed label: every process of one deployment gets the same), and without either a random one is
created once and kept in `AMPFLOW_DATA_DIR/station_password_pepper`. Peppers that were current
before go to `AMPFLOW_STATION_PASSWORD_OLD_PEPPERS` (comma-separated) while stations reconnect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache
from pathlib import Path

from domain.credentials import StationKeys
from runtime.secret_files import read_or_create
from runtime.settings import Settings


def station_keys(settings: Settings) -> StationKeys:
    """The current and older peppers of these settings."""
    return _keys(
        settings.station_password_pepper,
        settings.station_password_old_peppers,
        settings.admin_api_key,
        str(settings.data_dir),
    )


@cache
def _keys(pepper: str | None, old: str, admin_key: str | None, data_dir: str) -> StationKeys:
    older = [p.strip().encode() for p in old.split(",") if p.strip()]
    if pepper:
        return StationKeys.of(pepper.encode(), *older)
    if admin_key:
        label = b"ampflow station password pepper v1"
        return StationKeys.of(hmac.new(admin_key.encode(), label, hashlib.sha256).digest(), *older)
    pepper_file = Path(data_dir) / "station_password_pepper"
    return StationKeys.of(read_or_create(pepper_file, secrets.token_urlsafe(48)).encode(), *older)
