"""Sessions remember the workflow's newest write (fencing stale writes); merges the 0008 heads

A session workflow numbers its writes of the session row. A worker that lost its workflow task
(it was cut off from Temporal while the store was down) may still be retrying an earlier write
after another worker has carried the workflow to its end; the store applies a write only when
its number is not older than the one it holds, so such a write can no longer move a Completed
session back to Stopped.

Revision ID: 0009_session_record_seq
Revises: 0008_api_security, 0008_charger_path
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_session_record_seq"
down_revision = ("0008_api_security", "0008_charger_path")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("record_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("sessions", "record_seq")
