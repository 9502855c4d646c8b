"""Locations (sites) and connector specifications; the analytics sites become locations

A location is the site a station stands at (OCPI `Location`): the address drivers see and the
grouping analytics and reports use. `station_sites` (a bare site id per station) is folded into
it: every site id becomes a location of that id and name, and its stations point to it through
`stations.location_id`. `connector_specs` holds each connector's standard, format, power type
and limits (OCPI `Connector`).

Revision ID: 0010_locations
Revises: 0009_session_record_seq
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_locations"
down_revision = "0009_session_record_seq"
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.Column("city", sa.String(length=45), nullable=True),
        sa.Column("postal_code", sa.String(length=10), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=3), nullable=True),
        sa.Column("latitude", sa.String(length=12), nullable=True),
        sa.Column("longitude", sa.String(length=12), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("parking_type", sa.String(length=32), nullable=True),
        sa.Column("opening_times", JSONB(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.add_column("stations", sa.Column("location_id", sa.String(length=64), nullable=True))
    op.create_foreign_key(
        "fk_stations_location_id", "stations", "locations", ["location_id"], ["id"]
    )
    op.create_index("ix_stations_location_id", "stations", ["location_id"])
    op.execute(
        "INSERT INTO locations (id, name) SELECT DISTINCT site_id, site_id FROM station_sites"
    )
    op.execute(
        "UPDATE stations SET location_id = s.site_id FROM station_sites s "
        "WHERE s.station_id = stations.id"
    )
    op.drop_index("ix_station_sites_site_id", table_name="station_sites")
    op.drop_table("station_sites")
    op.create_table(
        "connector_specs",
        sa.Column(
            "station_id",
            sa.String(length=48),
            sa.ForeignKey("stations.id"),
            primary_key=True,
        ),
        sa.Column("connector_id", sa.Integer(), primary_key=True),
        sa.Column("standard", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("power_type", sa.String(length=20), nullable=False),
        sa.Column("max_voltage", sa.Integer(), nullable=False),
        sa.Column("max_amperage", sa.Integer(), nullable=False),
        sa.Column("max_electric_power", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("connector_specs")
    op.create_table(
        "station_sites",
        sa.Column("station_id", sa.String(length=48), primary_key=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
    )
    op.create_index("ix_station_sites_site_id", "station_sites", ["site_id"])
    op.execute(
        "INSERT INTO station_sites (station_id, site_id) "
        "SELECT id, location_id FROM stations WHERE location_id IS NOT NULL"
    )
    op.drop_index("ix_stations_location_id", table_name="stations")
    op.drop_constraint("fk_stations_location_id", "stations", type_="foreignkey")
    op.drop_column("stations", "location_id")
    op.drop_table("locations")
