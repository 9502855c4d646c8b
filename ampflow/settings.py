"""All runtime settings, read from `AMPFLOW_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Ampflow settings; every field can be set as `AMPFLOW_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="AMPFLOW_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path(".ampflow")
    database_url: str | None = None  # unset: embedded PostgreSQL under data_dir
    temporal_address: str | None = None  # unset: Temporal dev server on temporal_port
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = "ampflow-sessions"

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 9000
    gateway_max_frame_bytes: int = 65536
    gateway_ping_interval_s: float = 30.0
    gateway_ping_timeout_s: float = 30.0
    # A charger that sends no Sec-WebSocket-Protocol is treated as OCPP 1.6 (common in the field).
    gateway_assume_ocpp16: bool = True
    heartbeat_interval_s: int = 300

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_api_key: str | None = None
    public_url: str | None = None  # how chargers and drivers reach the API; default from host/port

    demo_station_password: str = "demo-secret"

    # Session guards (seconds).
    authorization_timeout_s: int = 180  # authorized (or remote-started) but never started
    max_session_s: int = 72 * 3600  # "eternal" session guard: remote stop, then close
    session_offline_close_s: int = 3600  # charger offline this long: close, flag, reconcile
    remote_stop_grace_s: int = 120  # wait this long for the charger's stop after a remote stop
    reconcile_window_s: int = 7 * 24 * 3600  # keep waiting this long for a late stop
    cost_update_interval_s: int = 60  # push the running cost to 2.0.1 chargers (0 = never)
    session_history_limit: int = 10_000  # a session continues-as-new past this many events
    meter_signal_interval_s: float = 2.0  # at most one meter signal per session per interval

    stripe_api_key: str | None = None
    stripe_api_base: str | None = None

    log_level: str = "INFO"

    def session_guards(self) -> dict[str, int]:
        """The guard fields of a `ChargingSession` input, from these settings."""
        return {
            "authorization_timeout_s": self.authorization_timeout_s,
            "max_session_s": self.max_session_s,
            "offline_close_s": self.session_offline_close_s,
            "remote_stop_grace_s": self.remote_stop_grace_s,
            "reconcile_window_s": self.reconcile_window_s,
            "cost_update_interval_s": self.cost_update_interval_s,
            "history_limit": self.session_history_limit,
        }

    @property
    def temporal_target(self) -> str:
        """The Temporal frontend address to connect to."""
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def api_base_url(self) -> str:
        """The public base URL of the API."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
