"""access control: driver logins, operators, API keys, login sessions, refresh tokens, password
resets, brute-force counters, the append-only audit log, credential limits, local lists

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True, now: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.text("now()") if now else None,
    )


def upgrade() -> None:
    op.create_table(
        "driver_logins",
        sa.Column("driver_id", sa.Integer(), sa.ForeignKey("drivers.id"), primary_key=True),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("app_token_id", sa.Integer(), sa.ForeignKey("id_tokens.id"), nullable=True),
        _ts("created_at", nullable=False, now=True),
        _ts("updated_at", nullable=False, now=True),
    )
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at", nullable=False, now=True),
    )
    op.create_index("ix_operators_email", "operators", ["email"], unique=True)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        _ts("created_at", nullable=False, now=True),
        _ts("revoked_at"),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        _ts("created_at", nullable=False, now=True),
        _ts("expires_at", nullable=False),
        _ts("revoked_at"),
    )
    op.create_index("ix_auth_sessions_subject", "auth_sessions", ["subject_kind", "subject_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(length=32),
            sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        _ts("expires_at", nullable=False),
        _ts("used_at"),
        _ts("created_at", nullable=False, now=True),
    )
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("driver_id", sa.Integer(), sa.ForeignKey("drivers.id"), nullable=False),
        _ts("expires_at", nullable=False),
        _ts("used_at"),
        _ts("created_at", nullable=False, now=True),
    )
    op.create_index("ix_password_resets_driver_id", "password_resets", ["driver_id"])
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        _ts("window_start"),
        _ts("locked_until"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        _ts("at", nullable=False, now=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
    )
    op.create_index("ix_audit_log_target", "audit_log", ["target", "id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "id"])
    # Append-only: rows can be added, never changed or removed (TRUNCATE stays for tests/ops).
    op.execute(
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.create_table(
        "id_token_policies",
        sa.Column(
            "token_id",
            sa.Integer(),
            sa.ForeignKey("id_tokens.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("max_concurrent_sessions", sa.Integer(), nullable=True),
    )
    op.create_table(
        "local_lists",
        sa.Column(
            "station_id", sa.String(length=48), sa.ForeignKey("stations.id"), primary_key=True
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(), nullable=False),
        sa.Column("last_outcome", sa.String(), nullable=True),
        _ts("synced_at"),
        _ts("updated_at", nullable=False, now=True),
    )
    op.create_table(
        "local_list_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("update_type", sa.String(length=16), nullable=False),
        sa.Column("entries", postgresql.JSONB(), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        _ts("created_at", nullable=False, now=True),
        _ts("finished_at"),
    )
    op.create_index("ix_local_list_versions_station", "local_list_versions", ["station_id", "id"])


def downgrade() -> None:
    op.drop_table("local_list_versions")
    op.drop_table("local_lists")
    op.drop_table("id_token_policies")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("audit_log")
    op.drop_table("auth_throttle")
    op.drop_table("password_resets")
    op.drop_table("refresh_tokens")
    op.drop_table("auth_sessions")
    op.drop_table("api_keys")
    op.drop_index("ix_operators_email", table_name="operators")
    op.drop_table("operators")
    op.drop_table("driver_logins")
