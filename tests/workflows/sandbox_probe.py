"""Workflows that break the sandbox's rules, for `test_sandbox.py` (never registered in production).

They live outside `workflows/` on purpose, but are sandboxed exactly as `workflows.*` modules are:
not passed through (`workers.session_worker.PASSTHROUGH_MODULES`), imported afresh per run.
"""

from __future__ import annotations

import os
from datetime import datetime

from temporalio import workflow


@workflow.defn(name="SandboxProbeWallClock")
class WallClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # not workflow.now(): the sandbox must refuse it


@workflow.defn(name="SandboxProbeEnvironment")
class Environment:
    @workflow.run
    async def run(self) -> str:
        return os.environ.get("HOME", "")  # configuration belongs in the input, not the env


@workflow.defn(name="SandboxProbeDeterministic")
class Deterministic:
    @workflow.run
    async def run(self) -> str:
        return workflow.now().isoformat()
