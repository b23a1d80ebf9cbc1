"""The one settings object.

Every knob comes from an `OPENSPANNER_*` environment variable, a CLI flag
(which wins), or the default below; the defaults run out of the box with the
embedded ClickHouse engine under ./data. Settings are validated once, at
start-up, and every problem is reported together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from openspanner.errors import ConfigError

LogFormat = Literal["auto", "console", "json"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENSPANNER_", frozen=True, extra="forbid")

    grpc_host: str = "[::]"
    grpc_port: int = Field(50051, ge=0, le=65535)
    # The REST API (docs/rest.md) of the same process; port 0 picks any.
    # An empty host listens on every interface.
    http_host: str = ""
    http_port: int = Field(8080, ge=0, le=65535)
    # Larger HTTP bodies are refused with 413 before they are read.
    http_max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    # The embedded engine keeps its files here, under clickhouse/.
    data_dir: Path = Path("./data")
    # http(s)://user:password@host:8123/database selects a ClickHouse server;
    # unset means the embedded engine in data_dir.
    clickhouse_url: str | None = None
    # Database used with the embedded engine, or with a URL that names none.
    clickhouse_database: str = "openspanner"
    # A ClickHouse cluster (from the server's remote_servers config): tables
    # are created ON CLUSTER with Replicated engines. Needs clickhouse_url.
    clickhouse_cluster: str | None = None
    # Bootstrap admin key, accepted in addition to stored keys.
    admin_api_key: SecretStr | None = None

    log_format: LogFormat = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # GET /metrics answers without a key (like /health) unless this is set;
    # then it needs a read or admin key (docs/operations.md, Metrics).
    metrics_require_key: bool = False

    # How often each server re-reads meters and API keys written by others.
    cache_refresh_seconds: float = Field(5.0, gt=0, le=3600)
    max_message_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    max_bulk_events: int = Field(50_000, ge=1, le=1_000_000)
    # How long a repeated bulk call with the same idempotency key is answered
    # from the stored first answer.
    bulk_key_retention_days: int = Field(30, ge=1, le=3650)
    # Hourly rollups (docs/storage.md, "Rollups"): an hour is built once it has
    # ended and this long has passed, the longest an insert may take to commit
    # (on replicas: to reach the replica read from); builds are looked for this often.
    rollup_settle_seconds: float = Field(30.0, ge=0, le=3600)
    rollup_interval_seconds: float = Field(10.0, gt=0, le=3600)
    # Worker threads for storage calls (the client library is blocking).
    storage_threads: int = Field(4, ge=1, le=64)
    # On SIGTERM (or SIGINT), the whole drain (HTTP requests, streams, the
    # pending batch, gRPC calls) gets this long, counted from the signal.
    shutdown_grace_seconds: float = Field(10.0, ge=0)

    # TLS for both listeners (gRPC and HTTP): a PEM certificate (chain) and
    # its key, both or neither; read at start-up only. With a client CA,
    # clients must present a certificate it signed (mutual TLS).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None

    # Every write path (single events, bulk calls, streams) shares one
    # batcher: a block is written as soon as the writer is free, holding up
    # to batch_max_events; while one is written the next fills, so under load
    # blocks grow on their own. Writes start at most once per batch_linger_ms,
    # which bounds the parts per second ClickHouse merges.
    batch_max_events: int = Field(20_000, ge=1, le=1_000_000)
    batch_linger_ms: float = Field(20.0, ge=0, le=60_000)
    # Unacknowledged events one stream may have; past it the server stops reading it.
    stream_window_events: int = Field(20_000, ge=1)
    # Events submitted and not yet answered, all write paths together. Past
    # it streams wait (flow control) and unary calls are refused with
    # RESOURCE_EXHAUSTED (HTTP 429) and a retry delay.
    max_pending_events: int = Field(200_000, ge=1)
    # How long a batch is retried while storage is down before its events are
    # answered RETRY.
    storage_retry_seconds: float = Field(30.0, gt=0)
    # HTTP/2 keepalive pings on idle connections, so load balancers and NATs
    # keep long-lived streams open and dead peers are noticed.
    keepalive_seconds: float = Field(30.0, gt=0)
    # Connections are recycled after this long (GOAWAY), spreading clients
    # over servers that were added later; open streams get
    # max_connection_age_grace_seconds to finish, then clients reconnect.
    max_connection_age_seconds: float = Field(1800.0, gt=0)
    max_connection_age_grace_seconds: float = Field(60.0, ge=0)

    # Background work (webhook delivery, and what joins it): `serve` runs it
    # unless this is false; `openspanner worker` runs only it. One process
    # of a deployment should (docs/webhooks.md).
    workers: bool = True
    # Webhooks (docs/webhooks.md). Loopback, private, link-local and cloud
    # metadata targets are refused unless this is true.
    webhook_allow_private: bool = False
    # Each attempt, connect to the end of what is read of the answer.
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # The first retry waits this long, each next one twice as long (at most an hour).
    webhook_retry_seconds: float = Field(30.0, gt=0, le=3600)
    # Attempts before a delivery is a dead letter (a manual retry gives as many again).
    webhook_max_attempts: int = Field(5, ge=1, le=100)
    # A delivery in flight when its worker died is attempted again after this long.
    webhook_lease_seconds: float = Field(30.0, gt=0, le=3600)
    # Attempts in flight at once; more due deliveries wait for a free one.
    webhook_concurrency: int = Field(16, ge=1, le=1000)
    # How often the outbox is read for due deliveries (an enqueue in this process wakes it at once).
    webhook_poll_seconds: float = Field(1.0, gt=0, le=60)
    # Limits (docs/limits.md): the usage ledger holds at most this many
    # (subject, meter, window) entries (~1 KB each), least recently used
    # dropped first and read again from storage when next needed.
    limits_ledger_max_entries: int = Field(200_000, ge=1)
    # With a ClickHouse server, other servers' commits reach this server's
    # ledger only when an entry is read again: at most this long after it
    # was read. Bounds the overshoot of a hard limit across servers. Unused
    # with the embedded engine, where this server is the only writer.
    limits_refresh_seconds: float = Field(1.0, gt=0, le=3600)
    # States, entitlement events and period snapshots follow usage within this.
    limits_state_flush_ms: float = Field(500.0, ge=1, le=60_000)
    # Export jobs (docs/exports.md): artifacts are written here (data_dir/exports when unset)
    # and deleted this long after their job completed.
    export_dir: Path | None = None
    export_retention_hours: float = Field(24.0, gt=0, le=24 * 365)
    # A running export renews its lease as it goes; one whose worker died is started again after this long.
    export_lease_seconds: float = Field(60.0, ge=1, le=3600)
    # How often queued exports are looked for (a job created in this process wakes the worker at once).
    export_poll_seconds: float = Field(1.0, gt=0, le=60)

    @field_validator("clickhouse_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https:// (unset it for the embedded engine)")
        return value

    @field_validator("clickhouse_database")
    @classmethod
    def _database_is_identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum():
            raise ValueError("must contain only letters, digits and _")
        return value

    @field_validator("clickhouse_cluster")
    @classmethod
    def _cluster_is_a_name(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.replace("_", "").replace("-", "").isalnum():
            raise ValueError("must contain only letters, digits, _ and -")
        return value

    @field_validator("tls_cert_file", "tls_key_file", "tls_client_ca_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("tls_cert_file", "tls_key_file", "tls_client_ca_file")
    @classmethod
    def _file_is_readable(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            with value.open("rb"):
                pass
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror}") from None
        return value

    @model_validator(mode="after")
    def _tls_files_come_together(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("OPENSPANNER_TLS_CERT_FILE and OPENSPANNER_TLS_KEY_FILE are set together, or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError(
                "OPENSPANNER_TLS_CLIENT_CA_FILE needs OPENSPANNER_TLS_CERT_FILE and OPENSPANNER_TLS_KEY_FILE"
            )
        return self

    @model_validator(mode="after")
    def _cluster_needs_a_server(self) -> Settings:
        if self.clickhouse_cluster and self.clickhouse_url is None:
            raise ValueError(
                "OPENSPANNER_CLICKHOUSE_CLUSTER needs OPENSPANNER_CLICKHOUSE_URL (the embedded engine has no cluster)"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "OPENSPANNER_WEBHOOK_LEASE_SECONDS must be longer than OPENSPANNER_WEBHOOK_TIMEOUT_SECONDS"
                " (an attempt must end before another worker may take its delivery)"
            )
        return self

    @property
    def uses_embedded_engine(self) -> bool:
        return self.clickhouse_url is None

    @property
    def uses_tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def embedded_path(self) -> Path:
        return self.data_dir / "clickhouse"

    @property
    def export_path(self) -> Path:
        return self.export_dir if self.export_dir is not None else self.data_dir / "exports"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment with CLI overrides (None = not given)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_setting_name(err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def _setting_name(location: tuple[int | str, ...]) -> str:
    """The environment variable that sets it (a flag of the same name overrides it)."""
    return f"OPENSPANNER_{str(location[0]).upper()}" if location else "settings"
