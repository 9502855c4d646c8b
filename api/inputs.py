"""Bounded input types shared by request models and route parameters.

Every value a client sends must fit what PostgreSQL stores and what Python can compute with,
so that bad input is a 422 with a clear message and never a 500 later:

- integers fit a PostgreSQL `integer` (row ids, counts, money in minor units, offsets);
- date-times carry an offset within ±14:00 (Python accepts up to ±24 h, PostgreSQL ±15:59),
  are converted to UTC at the edge (naive ones are taken as UTC) and lie between the years
  1900 and 9000, so that neither the conversion nor later arithmetic overflows;
- text carries no NUL character (PostgreSQL text cannot hold it).

`api.errors` turns whatever still slips through to the database into a 422 as a last resort.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field

INT32_MAX = 2_147_483_647  # the largest PostgreSQL integer
ID_MAX = INT32_MAX
PRICE_MAX = 10_000_000  # minor units per kWh, hour or session (100,000.00 in a 2-digit currency)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
NO_NUL = r"^[^\x00]*$"
MAX_OFFSET = timedelta(hours=14)  # the widest real time zone offset (PostgreSQL: ±15:59)


def utc(value: datetime) -> datetime:
    """The instant in UTC (a naive value is taken as UTC); refused outside 1900–9000."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise ValueError("UTC offset must lie within ±14:00")
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError) as err:
        raise ValueError("date-time out of range after conversion to UTC") from err
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"date-time must lie between {EARLIEST:%Y} and {LATEST:%Y}")
    return value


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


UtcDateTime = Annotated[datetime, AfterValidator(utc)]
Int32 = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]  # non-negative quantities (Wh, seconds, ...)
PositiveId = Annotated[int, Field(ge=1, le=ID_MAX)]  # a row id in a body
Money = Annotated[int, Field(ge=0, le=INT32_MAX, description="minor units")]
Price = Annotated[int, Field(ge=0, le=PRICE_MAX, description="minor units")]
Text = Annotated[str, AfterValidator(no_nul)]

# Route parameters
RowId = Annotated[int, Path(ge=1, le=ID_MAX, description="a row id")]
ConnectorId = Annotated[int, Path(ge=0, le=INT32_MAX, description="a connector id")]
Offset = Annotated[int, Query(ge=0, le=ID_MAX)]
