"""Capture the histories of the workflows a test ran, for the replay tests.

Opt-in: set ``AMPFLOW_CAPTURE_HISTORIES`` to a directory and run the tests whose scenarios you
want. At the end of each test that uses the ``settings`` fixture, every workflow run on that
test's task queue (each run of a continue-as-new chain too) is written as
``<dir>/<WorkflowType>/<test name>--<workflow id>--<run>.json``. Pick the ones worth keeping,
give them a short name and move them to ``tests/histories/<WorkflowType>/<name>.json``::

    AMPFLOW_CAPTURE_HISTORIES=/tmp/histories .venv/bin/pytest -q tests/sessions

Never re-capture a history to make a failing replay pass: a failing replay means running
workflows would break (see docs/adr/ADR-006-workflow-versioning.md).
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from temporalio.client import Client

ENV = "AMPFLOW_CAPTURE_HISTORIES"
HISTORIES = Path(__file__).parent


def capture_dir() -> Path | None:
    """The directory to capture into, or None when capture is off."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


async def capture_task_queue(client: Client, task_queue: str, test_name: str, out: Path) -> int:
    """Write the history of every workflow run on ``task_queue``; returns how many."""
    written = 0
    async for execution in client.list_workflows(f'TaskQueue = "{task_queue}"'):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        folder = out / execution.workflow_type
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{_safe(test_name)}--{_safe(execution.id)}--{execution.run_id[-8:]}.json"
        (folder / name).write_text(history.to_json())
        written += 1
    return written


def run_capture(address: str, task_queue: str, test_name: str, out: Path) -> None:
    """`capture_task_queue` from synchronous code (a fixture's teardown), on its own loop."""
    from concurrent.futures import ThreadPoolExecutor

    async def capture() -> int:
        client = await Client.connect(address)
        return await capture_task_queue(client, task_queue, test_name, out)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, capture()).result()
