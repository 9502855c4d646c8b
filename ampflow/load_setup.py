"""Registers the stations and the id tag a load run uses (idempotent, in bulk)."""

from __future__ import annotations

import psycopg

from domain.credentials import hash_password
from store.db import libpq_url


def register_load_stations(
    database_url: str, prefix: str, count: int, password: str, id_tag: str
) -> None:
    """Stations `{prefix}00000..` with one shared password hash, and an accepted `id_tag`."""
    password_hash = hash_password(password)  # one hash for all: hashing is deliberately slow
    rows = [(f"{prefix}{i:05d}", password_hash) for i in range(count)]
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO stations (id, password_hash, security_profile, ocpp_versions, "
            "connector_count, registration_status, connected) "
            "VALUES (%s, %s, 1, 'ocpp1.6,ocpp2.0.1', 1, 'Accepted', false) "
            "ON CONFLICT (id) DO UPDATE SET password_hash = EXCLUDED.password_hash",
            rows,
        )
        # The tag belongs to a driver: sessions are billed to an account (the ledger).
        cur.execute(
            "INSERT INTO drivers (name, email) VALUES ('Load Driver', %s) "
            "ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            (f"{id_tag.lower()}@load.invalid",),
        )
        driver_id = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO id_tokens (token, token_type, status, driver_id) "
            "VALUES (%s, 'ISO14443', 'Accepted', %s) "
            "ON CONFLICT (token) DO UPDATE SET driver_id = EXCLUDED.driver_id",
            (id_tag, driver_id),
        )


def register_demo_chargers(database_url: str, count: int, password: str) -> None:
    """Stations VC-1 … VC-N (1 connector, both OCPP versions) and, for each, a driver with its
    own accepted card VC-TAG-n — idempotent (`ampflow dev --demo N`)."""
    password_hash = hash_password(password)
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        for n in range(1, count + 1):
            cur.execute(
                "INSERT INTO stations (id, password_hash, security_profile, ocpp_versions, "
                "connector_count, registration_status, connected) "
                "VALUES (%s, %s, 1, 'ocpp1.6,ocpp2.0.1', 1, 'Accepted', false) "
                "ON CONFLICT (id) DO UPDATE SET password_hash = EXCLUDED.password_hash",
                (f"VC-{n}", password_hash),
            )
            cur.execute(
                "INSERT INTO drivers (name, email) VALUES (%s, %s) "
                "ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                (f"Virtual Driver {n}", f"vc-driver-{n}@demo.invalid"),
            )
            driver_id = cur.fetchone()[0]
            cur.execute(
                "INSERT INTO id_tokens (token, token_type, status, driver_id) "
                "VALUES (%s, 'ISO14443', 'Accepted', %s) "
                "ON CONFLICT (token) DO UPDATE SET driver_id = EXCLUDED.driver_id",
                (f"VC-TAG-{n}", driver_id),
            )
