"""Core's settings: one class per concern, gathered in ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from zapdesk.settings import (
    Concern,
    RuntimeSettings,
    S3Settings,
    ServiceSettings,
    async_database_url,
    resolve_secrets,
)


class WebSettings(Concern):
    title = "Web"

    public_url: str | None = Field(
        None, description="URL people open in the browser, when behind a proxy."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that signs access tokens and websocket tickets.",
        json_schema_extra={"generated": True},
    )
    webui_dir: Path = Field(
        Path("webui/dist"), description="Built web UI served at `/` (`npm run build`)."
    )


class DatabaseSettings(Concern):
    title = "Database"

    database_url: str | None = Field(
        None,
        description=(
            "`postgresql+asyncpg://user:pass@host/db` or `sqlite+aiosqlite:///file.db`. "
            "Default: SQLite file `zapdesk.db` in the data dir."
        ),
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL pool size.")
    database_echo: bool = Field(False, description="Log every SQL statement (debugging).")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        return None if value is None else async_database_url(value)

    def url(self, runtime: RuntimeSettings) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(runtime.data_dir / 'zapdesk.db').resolve()}"


class RedisSettings(Concern):
    title = "Redis"

    redis_url: str | None = Field(
        None,
        description="`redis://host:6379/0` to fan events out across core replicas. "
        "Unset: in-process bus (one core).",
    )


@dataclass(frozen=True)
class Settings:
    runtime: RuntimeSettings
    services: ServiceSettings
    web: WebSettings
    database: DatabaseSettings
    redis: RedisSettings
    s3: S3Settings

    @property
    def database_url(self) -> str:
        return self.database.url(self.runtime)

    @property
    def public_url(self) -> str:
        return self.web.public_url or f"http://127.0.0.1:{self.services.core_port}"

    @classmethod
    def load(cls, *, create_secrets: bool = True) -> Settings:
        runtime = RuntimeSettings.load()
        return cls(
            runtime=runtime,
            services=resolve_secrets(runtime, ServiceSettings.load(), create=create_secrets),
            web=resolve_secrets(runtime, WebSettings.load(), create=create_secrets),
            database=DatabaseSettings.load(),
            redis=RedisSettings.load(),
            s3=S3Settings.load(),
        )
