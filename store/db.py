"""Engine and session factory. One engine per process, created from a database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session, create_engine


def sqlalchemy_url(url: str) -> str:
    """Normalise any PostgreSQL URL to SQLAlchemy's psycopg-3 dialect."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    """The same URL in the plain libpq form that psycopg accepts directly."""
    return sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """A pooled engine for the given PostgreSQL URL."""
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        hide_parameters=True,  # error logs never carry the values (tokens, e-mail, passwords)
    )


class Database:
    """Owns the engine; hands out short-lived sessions."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
