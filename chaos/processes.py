"""Ampflow roles as real OS processes (`ampflow gateway|worker|api`), killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RoleProcess:
    """One `ampflow <role>` process with its environment; start, SIGKILL, start again."""

    role: str
    env: dict[str, str]
    log_path: Path
    port: int | None = None  # a port that accepts connections once the role is ready
    ready_text: str | None = None  # or: a line the role logs once it is ready (the worker)
    cwd: Path | None = None  # run from this source tree (with PYTHONPATH set to it in `env`)
    process: subprocess.Popen | None = field(default=None, repr=False)
    _log_offset: int = field(default=0, repr=False)

    def start(self) -> None:
        env = {**os.environ, **self.env}
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ampflow.cli", self.role],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cwd,
            )

    async def ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the role's port accepts connections, or it logged `ready_text` (or the
        process dies)."""
        assert self.process is not None and (self.port is not None or self.ready_text)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.role} exited with {self.process.returncode}")
            if self.port is None:
                if self._logged(self.ready_text or ""):
                    return
                await asyncio.sleep(0.2)
                continue
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.role} not ready on port {self.port} in {timeout_s}s")

    def _logged(self, text: str) -> bool:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return text.encode() in log.read()

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, exactly what a crash leaves behind."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
