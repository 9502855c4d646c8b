"""station credentials: a password being rotated, and Pending at the next boot

`stations.pending_password_hash`: the keyed hash of a Basic-auth password an operator sent to the
station (1.6 ChangeConfiguration AuthorizationKey, 2.0.1 SetVariables BasicAuthPassword) while its
answer is not known; it becomes `password_hash` once the station accepts it or logs in with it,
and is dropped when the station refuses it (`gateway/station_auth.py`).
`stations.pending_next_boot`: an operator asked for the station's next BootNotification to be
answered Pending (it then waits in the operator inbox until approved).

Revision ID: 0012_station_credentials
Revises: 0011_station_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_station_credentials"
down_revision = "0011_station_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("pending_password_hash", sa.String(), nullable=True))
    op.add_column(
        "stations",
        sa.Column("pending_next_boot", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("stations", "pending_next_boot")
    op.drop_column("stations", "pending_password_hash")
