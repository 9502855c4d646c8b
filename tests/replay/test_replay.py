"""Every stored history (tests/histories/<WorkflowType>/*.json) replays against today's code.

A workflow change that would break a running workflow fails here, before it ships: see
docs/adr/ADR-006-workflow-versioning.md for how to ship such a change with `workflow.patched`.
No server is needed: the replayer runs the workflows like the worker does (same workflow list,
sandbox and data converter, `workers.session_worker.build_replayer`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory

from workers.session_worker import WORKFLOWS, build_replayer

HISTORIES = Path(__file__).parent.parent / "histories"
STORED = sorted(HISTORIES.glob("*/*.json"))


def workflow_type(cls: type) -> str:
    definition = workflow._Definition.must_from_class(cls)
    assert definition.name is not None
    return definition.name


def test_every_workflow_type_has_a_stored_history() -> None:
    stored = {path.parent.name for path in STORED}
    missing = {workflow_type(cls) for cls in WORKFLOWS} - stored
    assert not missing, f"no stored history for {sorted(missing)}: capture one (tests/histories)"


def test_stored_histories_belong_to_registered_workflows() -> None:
    registered = {workflow_type(cls) for cls in WORKFLOWS}
    assert {path.parent.name for path in STORED} <= registered


@pytest.mark.parametrize("path", STORED, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await build_replayer().replay_workflow(history)
