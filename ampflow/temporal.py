"""Connecting to Temporal with the pydantic data converter (every client uses this)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from ampflow.settings import Settings


async def connect(settings: Settings) -> Client:
    """A Temporal client for the configured address and namespace."""
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
