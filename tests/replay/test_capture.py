"""The capture path (tests/histories/capture.py) writes histories the replayer accepts."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from tests.helpers import eventually
from tests.histories.capture import capture_task_queue
from tests.workflows import sandbox_probe
from workers.session_worker import workflow_runner


async def test_capture_writes_replayable_histories(temporal_client: Client, tmp_path: Path):
    queue = f"capture-{uuid.uuid4().hex[:12]}"
    probe = sandbox_probe.Deterministic
    async with Worker(temporal_client, task_queue=queue, workflows=[probe]):
        for n in range(2):
            await temporal_client.execute_workflow(probe.run, id=f"{queue}-{n}", task_queue=queue)

    async def listed() -> bool:  # visibility may lag the runs a moment
        count = await temporal_client.count_workflows(f'TaskQueue = "{queue}"')
        return count.count == 2

    await eventually(listed)
    written = await capture_task_queue(temporal_client, queue, "test_capture", tmp_path)

    files = sorted((tmp_path / "SandboxProbeDeterministic").glob("*.json"))
    assert written == len(files) == 2
    replayer = Replayer(workflows=[probe], workflow_runner=workflow_runner())
    for path in files:
        await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
