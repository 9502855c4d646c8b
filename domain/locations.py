"""Locations (sites) and connector specifications, shaped like OCPI 2.2.1 `Location`, `EVSE` and
`Connector` so roaming can map them later.

A location is the site: the address drivers see, and the grouping analytics and reports use
(`?site=` is a location id). A station belongs to at most one location; each connector may carry
its specification (standard, format, power type, limits). Also the driver-facing price text: gross
prices formatted in the tariff's currency.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from pydantic import BaseModel, Field, field_validator, model_validator

LOCATION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
LOCATION_ID = re.compile(LOCATION_ID_PATTERN)
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_END_HHMM = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"


class ConnectorStandard(StrEnum):
    """OCPI `ConnectorType`."""

    CHADEMO = "CHADEMO"
    CHAOJI = "CHAOJI"
    DOMESTIC_A = "DOMESTIC_A"
    DOMESTIC_B = "DOMESTIC_B"
    DOMESTIC_C = "DOMESTIC_C"
    DOMESTIC_D = "DOMESTIC_D"
    DOMESTIC_E = "DOMESTIC_E"
    DOMESTIC_F = "DOMESTIC_F"
    DOMESTIC_G = "DOMESTIC_G"
    DOMESTIC_H = "DOMESTIC_H"
    DOMESTIC_I = "DOMESTIC_I"
    DOMESTIC_J = "DOMESTIC_J"
    DOMESTIC_K = "DOMESTIC_K"
    DOMESTIC_L = "DOMESTIC_L"
    DOMESTIC_M = "DOMESTIC_M"
    DOMESTIC_N = "DOMESTIC_N"
    DOMESTIC_O = "DOMESTIC_O"
    GBT_AC = "GBT_AC"
    GBT_DC = "GBT_DC"
    IEC_60309_2_SINGLE_16 = "IEC_60309_2_single_16"
    IEC_60309_2_THREE_16 = "IEC_60309_2_three_16"
    IEC_60309_2_THREE_32 = "IEC_60309_2_three_32"
    IEC_60309_2_THREE_64 = "IEC_60309_2_three_64"
    IEC_62196_T1 = "IEC_62196_T1"
    IEC_62196_T1_COMBO = "IEC_62196_T1_COMBO"
    IEC_62196_T2 = "IEC_62196_T2"
    IEC_62196_T2_COMBO = "IEC_62196_T2_COMBO"
    IEC_62196_T3A = "IEC_62196_T3A"
    IEC_62196_T3C = "IEC_62196_T3C"
    NEMA_5_20 = "NEMA_5_20"
    NEMA_6_30 = "NEMA_6_30"
    NEMA_6_50 = "NEMA_6_50"
    NEMA_10_30 = "NEMA_10_30"
    NEMA_10_50 = "NEMA_10_50"
    NEMA_14_30 = "NEMA_14_30"
    NEMA_14_50 = "NEMA_14_50"
    PANTOGRAPH_BOTTOM_UP = "PANTOGRAPH_BOTTOM_UP"
    PANTOGRAPH_TOP_DOWN = "PANTOGRAPH_TOP_DOWN"
    TESLA_R = "TESLA_R"
    TESLA_S = "TESLA_S"


class ConnectorFormat(StrEnum):
    """OCPI `ConnectorFormat`: a socket (bring your own cable) or a tethered cable."""

    SOCKET = "SOCKET"
    CABLE = "CABLE"


class PowerType(StrEnum):
    """OCPI `PowerType`."""

    AC_1_PHASE = "AC_1_PHASE"
    AC_2_PHASE = "AC_2_PHASE"
    AC_2_PHASE_SPLIT = "AC_2_PHASE_SPLIT"
    AC_3_PHASE = "AC_3_PHASE"
    DC = "DC"


class ParkingType(StrEnum):
    """OCPI `ParkingType`."""

    ALONG_MOTORWAY = "ALONG_MOTORWAY"
    PARKING_GARAGE = "PARKING_GARAGE"
    PARKING_LOT = "PARKING_LOT"
    ON_DRIVEWAY = "ON_DRIVEWAY"
    ON_STREET = "ON_STREET"
    UNDERGROUND_GARAGE = "UNDERGROUND_GARAGE"


class RegularHours(BaseModel):
    """OCPI `RegularHours`: open on `weekday` (1 = Monday … 7 = Sunday) from begin to end
    (local time of the location; `24:00` closes at midnight)."""

    weekday: int = Field(ge=1, le=7)
    period_begin: str = Field(pattern=_HHMM, examples=["08:00"])
    period_end: str = Field(pattern=_END_HHMM, examples=["20:00"])

    @model_validator(mode="after")
    def _ordered(self) -> RegularHours:
        if self.period_end <= self.period_begin:
            raise ValueError("period_end must be after period_begin")
        return self


class OpeningTimes(BaseModel):
    """OCPI `Hours`: open around the clock, or the listed regular hours."""

    twentyfourseven: bool = True
    regular_hours: list[RegularHours] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> OpeningTimes:
        if self.twentyfourseven and self.regular_hours:
            raise ValueError("regular_hours are only given when twentyfourseven is false")
        if not self.twentyfourseven and not self.regular_hours:
            raise ValueError("give regular_hours, or twentyfourseven: true")
        return self


class Coordinates(BaseModel):
    """OCPI `GeoLocation` (WGS 84), as decimal degrees."""

    latitude: Decimal = Field(ge=-90, le=90, max_digits=10, decimal_places=7)
    longitude: Decimal = Field(ge=-180, le=180, max_digits=10, decimal_places=7)


class LocationFields(BaseModel):
    """What an operator edits on a location (all optional in a PATCH)."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    address: str | None = Field(default=None, max_length=45)
    city: str | None = Field(default=None, max_length=45)
    postal_code: str | None = Field(default=None, max_length=10)
    state: str | None = Field(default=None, max_length=20)
    country: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3, e.g. DEU"
    )
    coordinates: Coordinates | None = None
    time_zone: str | None = Field(default=None, max_length=64, examples=["Europe/Berlin"])
    parking_type: ParkingType | None = None
    opening_times: OpeningTimes | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value


class ConnectorSpecFields(BaseModel):
    """OCPI `Connector` fields of one connector (voltage V, current A, power W)."""

    standard: ConnectorStandard
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int = Field(ge=1, le=2000)
    max_amperage: int = Field(ge=1, le=2000)
    max_electric_power: int | None = Field(default=None, ge=1, le=2_000_000)
    phase: int | None = Field(
        default=None,
        ge=1,
        le=3,
        description="AC_1_PHASE: the site phase (1-3) it is wired to, for load management "
        "per phase (not given: L1)",
    )


# ---- driver-facing prices ------------------------------------------------------------------


def gross(price: int, vat_rate_bp: int, includes_vat: bool) -> Fraction:
    """A price in minor units with VAT, exactly (never rounded)."""
    return Fraction(price) if includes_vat else Fraction(price * (10_000 + vat_rate_bp), 10_000)


def format_price(minor: Fraction, currency: str) -> str:
    """`0.42 EUR`: two decimals, more (up to four, then half-up) when a unit price needs them."""
    amount = Decimal(minor.numerator) / Decimal(minor.denominator) / 100
    text = f"{amount.quantize(Decimal('0.0001'), rounding='ROUND_HALF_UP'):f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')} {currency}"


def format_percent(basis_points: int) -> str:
    """`20 %`, `7.7 %`."""
    text = f"{Decimal(basis_points) / 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"
