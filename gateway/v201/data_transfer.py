"""P. Data transfer: DataTransfer from the station (P02)."""

from __future__ import annotations

from gateway.connection import StationConnection


async def data_transfer(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """No vendor extensions are registered yet: UnknownVendorId for every vendorId."""
    return {"status": "UnknownVendorId"}
