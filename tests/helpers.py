"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from domain.session import SessionView
from workflows import contract


async def session_result(client: Client, station_id: str, transaction_id, timeout: float = 30):
    """Wait for a session workflow to finish and return its final view."""
    workflow_id = contract.session_workflow_id(station_id, transaction_id)
    handle = client.get_workflow_handle(workflow_id, result_type=SessionView)
    return await asyncio.wait_for(handle.result(), timeout)


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Retry an async or sync `check` until it returns a truthy value (or fail after timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)
