"""The production sandbox catches non-deterministic calls in workflow code (defect 7)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from tests.helpers import eventually
from tests.workflows import sandbox_probe
from workers.session_worker import WORKFLOWS, workflow_runner


def test_workflow_modules_are_not_passed_through() -> None:
    runner = workflow_runner()
    assert isinstance(runner, SandboxedWorkflowRunner)
    restrictions = runner.restrictions
    assert not restrictions.passthrough_all_modules
    for cls in WORKFLOWS:
        module = cls.__module__
        assert module.startswith("workflows.")
        parents = {".".join(module.split(".")[: i + 1]) for i in range(module.count(".") + 1)}
        assert not parents & restrictions.passthrough_modules, module


async def _first_task_failure(client: Client, workflow_id: str) -> str | None:
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            # The payload codec encrypts failure messages too: decode like the UI would.
            failure = event.workflow_task_failed_event_attributes.failure
            return str(await client.data_converter.decode_failure(failure))
    return None


@pytest.mark.parametrize(
    "probe, refused",
    [(sandbox_probe.WallClock, "datetime.datetime.now"), (sandbox_probe.Environment, "os.environ")],
)
async def test_non_deterministic_calls_fail_the_workflow_task(
    temporal_client: Client, probe: type, refused: str
) -> None:
    queue = f"sandbox-{uuid.uuid4().hex[:12]}"
    workflow_id = f"sandbox-probe-{uuid.uuid4().hex[:12]}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[probe, sandbox_probe.Deterministic],
        workflow_runner=workflow_runner(),
    ):
        handle = await temporal_client.start_workflow(
            probe.run, id=workflow_id, task_queue=queue, run_timeout=timedelta(minutes=1)
        )
        message = await eventually(lambda: _first_task_failure(temporal_client, workflow_id))
        await handle.terminate("sandbox test done")
        # And the same worker runs sandbox-safe code.
        clock = await temporal_client.execute_workflow(
            sandbox_probe.Deterministic.run, id=f"{workflow_id}-ok", task_queue=queue
        )
    assert "Cannot access" in message and refused in message, message
    assert clock
