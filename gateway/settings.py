"""The gateway's settings: one class per concern, gathered in ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from zapdesk.settings import (
    Concern,
    RuntimeSettings,
    S3Settings,
    ServiceSettings,
    async_database_url,
    resolve_secrets,
)


class GatewaySettings(Concern):
    title = "Gateway"

    gateway_database_url: str | None = Field(
        None,
        description="Session registry database. Default: SQLite file `gateway.db` in the data dir.",
    )
    gateway_driver: Literal["neonize", "sim"] = Field(
        "neonize", description="`neonize` talks to WhatsApp; `sim` to the simulated WhatsApp."
    )
    sim_url: str = Field(
        "http://127.0.0.1:8090", description="The simulated WhatsApp (`zapdesk sim`), for `sim`."
    )
    host_capacity: int = Field(
        10, ge=1, le=500, description="Sessions per session-host process (a crash takes one host)."
    )
    credential_key: SecretStr | None = Field(
        None,
        description="Key that encrypts session credentials at rest (AES-GCM); backups go to S3 "
        "when ZAPDESK_S3_BUCKET is set, else to the data dir.",
        json_schema_extra={"generated": True},
    )
    backup_interval_s: float = Field(
        300, gt=0, description="Seconds between periodic credential backups of each session."
    )
    send_per_minute: int = Field(
        30, ge=1, description="Outbound messages per minute per number (bursts get numbers banned)."
    )
    send_burst: int = Field(5, ge=1, description="Messages a number may send at once.")
    typing_before_send: bool = Field(
        False, description="Show 'typing…' to the customer for a moment before each text."
    )

    @field_validator("gateway_database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        return None if value is None else async_database_url(value)


@dataclass(frozen=True)
class Settings:
    runtime: RuntimeSettings
    services: ServiceSettings
    gateway: GatewaySettings
    s3: S3Settings

    @property
    def database_url(self) -> str:
        if self.gateway.gateway_database_url:
            return self.gateway.gateway_database_url
        return f"sqlite+aiosqlite:///{(self.runtime.data_dir / 'gateway.db').resolve()}"

    @classmethod
    def load(cls, *, create_secrets: bool = True) -> Settings:
        runtime = RuntimeSettings.load()
        return cls(
            runtime=runtime,
            services=resolve_secrets(runtime, ServiceSettings.load(), create=create_secrets),
            gateway=resolve_secrets(runtime, GatewaySettings.load(), create=create_secrets),
            s3=S3Settings.load(),
        )
