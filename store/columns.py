"""Column helpers shared by every table module."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime
from sqlmodel import Field


def timestamp_field(**kwargs: Any) -> Any:
    """A timezone-aware timestamp column (`timestamptz`)."""
    return Field(sa_column=Column(DateTime(timezone=True), **kwargs))
