"""Tariffs: what a session costs. Snapshotted onto each session at start."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Tariff(BaseModel):
    """A price list; all prices in integer minor units of `currency`.

    `prices_include_vat` says whether the prices below are gross (VAT-inclusive) or net.
    """

    id: int | None = None
    name: str = "Standard"
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    energy_price_per_kwh: int = Field(default=0, ge=0)
    time_price_per_hour: int = Field(default=0, ge=0)
    session_fee: int = Field(default=0, ge=0)
    vat_rate_bp: int = Field(default=0, ge=0, le=10_000, description="VAT in basis points")
    prices_include_vat: bool = False
