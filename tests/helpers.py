"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.session import SessionView
from workflows import contract


async def session_result(client: Client, station_id: str, transaction_id, timeout: float = 30):
    """Wait for a session workflow to finish and return its final view."""
    workflow_id = contract.session_workflow_id(station_id, transaction_id)
    handle = client.get_workflow_handle(workflow_id, result_type=SessionView)
    return await asyncio.wait_for(_result_once_started(handle), timeout)


async def _result_once_started(handle):
    """The workflow's result; a workflow not started yet (an outbox still delivering) is awaited."""
    while True:
        try:
            return await handle.result()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.2)


def charger_session_id(db, station_id: str, transaction_id) -> str:
    """The session a 2.0.1 charger's transactionId was mapped to (ADR-005)."""
    from sqlalchemy import text

    with db.session() as session:
        row = session.exec(  # type: ignore[call-overload]
            text(
                "SELECT session_id FROM charger_transactions "
                "WHERE station_id = :s AND transaction_id = :t"
            ),
            params={"s": station_id, "t": str(transaction_id)},
        ).first()
    assert row is not None, f"no session for {station_id} transaction {transaction_id}"
    return row[0]


async def charger_session_result(
    client: Client, db, station_id: str, transaction_id, timeout: float = 30
) -> SessionView:
    """Wait for the session of a 2.0.1 charger's transaction to finish; its final view."""
    workflow_id = await eventually(lambda: _try_session_id(db, station_id, transaction_id))
    handle = client.get_workflow_handle(workflow_id, result_type=SessionView)
    return await asyncio.wait_for(handle.result(), timeout)


def _try_session_id(db, station_id: str, transaction_id) -> str | None:
    try:
        return charger_session_id(db, station_id, transaction_id)
    except AssertionError:
        return None


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
