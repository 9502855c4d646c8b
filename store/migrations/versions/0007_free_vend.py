"""merge the feature branches; stations.free_vend

Revision ID: 0007
Revises: 0003, 0004, 0005, 0006_monitoring
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = ("0003", "0004", "0005", "0006_monitoring")
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Free vend: anyone may charge at this station, without authorization and without charge.
    op.add_column(
        "stations",
        sa.Column("free_vend", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("stations", "free_vend")
