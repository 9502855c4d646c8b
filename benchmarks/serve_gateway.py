"""Runs the Ampflow gateway alone, for benchmarks (env: AMPFLOW_DATABASE_URL etc.)."""

from __future__ import annotations

import asyncio
import logging

from ampflow.processes import run_gateway
from runtime.settings import Settings

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    asyncio.run(run_gateway(settings, settings.database_url or ""))
