"""Persistence: SQLModel tables, engine and sessions, migrations. The system of record."""
