"""charger_transactions: a 2.0.1 charger's transactionId -> our session number (ADR-005)

Revision ID: 0008_charger_path
Revises: 0007

Session ids are `session-{station}-{n}` with `n` from `session_number_seq` for both OCPP
versions; a 2.0.1 charger's own transactionId is looked up here, always by the authenticated
station id. The backfill maps the transactions of sessions started under the old scheme (the
charger's id in the workflow id, or a `TransactionLinked` station event) so that running
sessions keep receiving their events after the upgrade.
"""

import sqlalchemy as sa
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


def downgrade() -> None:
    op.drop_table("charger_transactions")
