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
    authorization_timeout_s: int = 180  # authorized but never started -> released
    max_session_s: int = 72 * 3600  # "eternal" session guard
    meter_signal_interval_s: float = 2.0  # at most one meter signal per session per interval

    stripe_api_key: str | None = None
    stripe_api_base: str | None = None

    log_level: str = "INFO"

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
