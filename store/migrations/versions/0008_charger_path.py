"""The charger path (ADR-005): charger_transactions, station_outbox, charger_authorizations

- charger_transactions: a 2.0.1 charger's transactionId -> our session, per station;
- station_outbox: what a charger reported for a session workflow, stored before it is answered
  and delivered in order by the gateways;
- charger_authorizations: a 1.6 Authorize's session, joined by the Start with the same idTag;
- sessions' meter columns widened to 64 bits (registers pass 2^31 Wh).

Revision ID: 0008_charger_path
Revises: 0007

Session ids are `session-{station}-{n}` with `n` from `session_number_seq` for both OCPP
versions; a 2.0.1 charger's own transactionId is looked up here, always by the authenticated
station id. The backfill maps the transactions of sessions started under the old scheme (the
charger's id in the workflow id, or a `TransactionLinked` station event) so that running
sessions keep receiving their events after the upgrade.
"""

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql  # noqa: F401  (JSONB)
from alembic import op

revision = "0008_charger_path"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charger_transactions",
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("station_id", "transaction_id"),
    )
    # Linked transactions (remote starts, reused ids): the newest link per transaction.
    op.execute(
        "INSERT INTO charger_transactions (station_id, transaction_id, session_id) "
        "SELECT DISTINCT ON (station_id, detail->>'transactionId') station_id, "
        "left(detail->>'transactionId', 64), "
        "'session-' || station_id || '-' || (detail->>'session_key') "
        "FROM station_events WHERE kind = 'TransactionLinked' "
        "AND detail->>'transactionId' IS NOT NULL AND detail->>'session_key' IS NOT NULL "
        "ORDER BY station_id, detail->>'transactionId', id DESC"
    )
    # Sessions keyed by the charger's own id: 2.0.1 stations (non-numeric ids are never ours).
    op.execute(
        "INSERT INTO charger_transactions (station_id, transaction_id, session_id) "
        "SELECT s.station_id, left(s.transaction_id, 64), s.id FROM sessions s "
        "LEFT JOIN stations st ON st.id = s.station_id "
        "WHERE s.id = 'session-' || s.station_id || '-' || s.transaction_id "
        "AND (s.transaction_id !~ '^[0-9]+$' OR st.connected_version = 'ocpp2.0.1') "
        "ON CONFLICT DO NOTHING"
    )

    op.create_table(
        "station_outbox",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("session_id", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(160), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_station_outbox_pending",
        "station_outbox",
        ["station_id", "id"],
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.create_index("ix_station_outbox_message", "station_outbox", ["station_id", "message_id"])
    op.create_index(
        "ix_station_outbox_recent", "station_outbox", ["station_id", "kind", "created_at"]
    )
    # Meter registers of busy DC chargers pass 2^31 Wh over their life (ADR-005, edge limits).
    for column in ("meter_start_wh", "meter_stop_wh", "energy_wh"):
        op.alter_column("sessions", column, type_=sa.BigInteger())
    op.create_table(
        "session_claims",  # a Pending (remote-start) session joined by one charger start only
        sa.Column("session_id", sa.String(120), primary_key=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
    )
    op.create_table(
        "charger_authorizations",
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("id_token", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(120), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "id_token"),
    )


def downgrade() -> None:
    op.drop_table("session_claims")
    op.drop_table("charger_authorizations")
    for column in ("meter_start_wh", "meter_stop_wh", "energy_wh"):
        op.alter_column("sessions", column, type_=sa.Integer())
    op.drop_index("ix_station_outbox_recent", table_name="station_outbox")
    op.drop_index("ix_station_outbox_message", table_name="station_outbox")
    op.drop_index("ix_station_outbox_pending", table_name="station_outbox")
    op.drop_table("station_outbox")
    op.drop_table("charger_transactions")
