"""The seeded demo station DEMO-1 as a scripted virtual charger (`chargers.script`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from tests.conftest import DEMO_PASSWORD


def demo_201(url: str, script: Any = None, **options: Any) -> AbstractAsyncContextManager[Any]:
    """DEMO-1 over `ocpp2.0.1`, booted (Accepted); `script` continues an earlier connection's
    clock, meters and transactions (the same station, reconnected)."""
    return scripted(url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1", script=script, **options)
