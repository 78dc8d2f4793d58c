"""Core's settings: one class per concern, gathered in ``Settings``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

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
    core_workers: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "Core processes sharing its port (Linux `SO_REUSEPORT`), one per CPU core to spare; "
            "more than 1 needs `ZAPDESK_REDIS_URL`, the bus that reaches every worker's sockets."
        ),
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
    database_pool_size: int = Field(20, ge=1, le=200, description="PostgreSQL pool size.")
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


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AuthSettings(Concern):
    title = "Sign-in"

    refresh_token_days: int = Field(
        30, ge=1, le=365, description="Days a sign-in lasts without use (refresh-token lifetime)."
    )
    login_max_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="Failed sign-ins allowed per account and per address in the window; "
        "further attempts are refused (429) until the oldest failure leaves it.",
    )
    login_window_seconds: int = Field(
        900, ge=1, le=86400, description="Window in which failed sign-ins are counted."
    )
    trusted_proxies: str | None = Field(
        None,
        description="Comma-separated addresses or networks of reverse proxies whose "
        "`X-Forwarded-For` is believed. Unset: the connecting address is the client's.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        if value is None:
            return None
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        # Normalized, so a typo fails at start-up instead of silently trusting nobody.
        return ",".join(str(ipaddress.ip_network(entry, strict=False)) for entry in entries) or None

    @property
    def proxy_networks(self) -> tuple[IPNetwork, ...]:
        if not self.trusted_proxies:
            return ()
        return tuple(ipaddress.ip_network(entry) for entry in self.trusted_proxies.split(","))


class InboxSettings(Concern):
    title = "Inbox"

    reopen_window_s: int = Field(
        86_400,
        ge=0,
        description=(
            "A customer's message sent within this many seconds after their conversation was "
            "resolved reopens it; a later one starts a new conversation."
        ),
    )


DEFAULT_MEDIA_TYPES = ",".join(
    [
        "image/jpeg",
        "image/png",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "video/mp4",
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ]
)


class OutboundSettings(Concern):
    title = "Sending"

    send_timeout_s: float = Field(
        30, gt=0, le=600, description="How long one send may take at the gateway before a retry."
    )
    send_retry_base_s: float = Field(
        1, gt=0, le=3600, description="First retry delay; it doubles per attempt (with jitter)."
    )
    send_retry_max_s: float = Field(
        300, gt=0, le=86400, description="Longest delay between two attempts of one send."
    )
    send_max_attempts: int = Field(
        30, ge=1, le=10_000, description="Attempts before a message is marked failed."
    )
    send_max_age_s: int = Field(
        86_400, ge=1, description="A message not sent within this many seconds is marked failed."
    )
    typing_throttle_s: float = Field(
        3, ge=0, le=60, description="At most one typing indicator per conversation this often."
    )


class DeskSettings(Concern):
    title = "Desk"

    jobs_poll_s: float = Field(
        1, gt=0, le=3600, description="How often a core looks for due jobs (timers, retries)."
    )
    jobs_lock_s: float = Field(
        120,
        gt=0,
        le=3600,
        description="How long a core holds a job it took; after that another core may.",
    )
    presence_offline_s: float = Field(
        60,
        gt=0,
        le=3600,
        description="An attendant with no tab connected for this long is offline.",
    )
    presence_beat_s: float = Field(
        10, gt=0, le=600, description="How often each core refreshes who is connected."
    )


class MediaSettings(Concern):
    title = "Media"

    media_max_bytes: int = Field(
        16 * 1024 * 1024, ge=1, description="Largest file an attendant may upload, in bytes."
    )
    media_types: str = Field(
        DEFAULT_MEDIA_TYPES, description="Comma-separated MIME types an attendant may upload."
    )

    @property
    def allowed_types(self) -> frozenset[str]:
        return frozenset(t.strip().lower() for t in self.media_types.split(",") if t.strip())


class RealtimeSettings(Concern):
    title = "Realtime"

    ws_send_queue: int = Field(
        256,
        ge=1,
        le=100_000,
        description="Frames waiting for one websocket; a browser that falls this far behind "
        "is disconnected so it never slows the others.",
    )
    ws_replay: int = Field(
        10_000,
        ge=10,
        le=10_000_000,
        description="Changes kept for reconnecting browsers (memory, or the Redis stream); "
        "one further behind reloads instead.",
    )
    redis_prefix: str = Field(
        "zapdesk", min_length=1, max_length=64, description="Prefix of core's Redis keys."
    )


class CopilotSettings(Concern):
    """The reply copilot: which engine drafts, how it talks, what it may send out."""

    model_config = SettingsConfigDict(
        env_prefix="ZAPDESK_COPILOT_", env_file=".env", extra="ignore", frozen=True
    )
    title = "Copilot"

    provider: Literal["auto", "openai", "local", "off"] = Field(
        "auto",
        description="`openai`: any OpenAI-compatible endpoint; `local`: drafts from past "
        "replies and the knowledge base, no network; `auto`: openai when a base URL or key "
        "is set, else local; `off`: no drafts.",
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (Azure, Ollama, vLLM, LM Studio...)."
    )
    api_key: SecretStr | None = Field(None, description="Key for the endpoint.")
    model: str = Field("gpt-4o-mini", min_length=1, description="Model asked for drafts.")
    timeout_s: float = Field(20, gt=0, le=600, description="Longest wait for the endpoint.")
    max_retries: int = Field(
        2, ge=0, le=10, description="Retries of a failed call (429, 5xx, timeouts)."
    )
    debounce_ms: int = Field(
        300,
        ge=0,
        le=60_000,
        description="Quiet time after a customer's message before drafting, so a burst of "
        "messages gets one draft (short: the draft should be ready when the attendant opens "
        "the conversation; the customer typing extends it).",
    )
    typing_hold_s: float = Field(
        8,
        ge=0,
        le=120,
        description="While WhatsApp shows the customer typing, the draft waits up to this "
        "long for the next message.",
    )
    history_tokens: int = Field(
        1500, ge=100, le=100_000, description="Budget of recent messages sent as context."
    )
    knowledge_passages: int = Field(
        3, ge=0, le=20, description="Knowledge-base passages given with each draft."
    )
    mask_pii: bool = Field(
        True,
        description="Mask phone numbers, e-mails, CPF and CNPJ before text leaves for an "
        "external endpoint.",
    )
    tone: str = Field("cordial, claro e objetivo", max_length=200, description="How drafts sound.")
    language: str = Field(
        "pt-BR", max_length=20, description="Language when the customer's is unclear."
    )
    greet_by_name: bool = Field(
        True, description="Greet the customer by first name (in the first reply only)."
    )
    sign_off: str | None = Field(
        None, max_length=200, description="Sign-off appended to drafts. Unset: none."
    )
    rules: str | None = Field(
        None, max_length=4000, description="Company rules the drafts must follow (free text)."
    )
    price_in_per_1k: float = Field(
        0.0, ge=0, description="Price of 1,000 prompt tokens, for the cost estimate."
    )
    price_out_per_1k: float = Field(
        0.0, ge=0, description="Price of 1,000 completion tokens, for the cost estimate."
    )
    breaker_failures: int = Field(
        5, ge=1, le=1000, description="Consecutive endpoint failures that open the breaker."
    )
    breaker_cooldown_s: float = Field(
        30, gt=0, le=3600, description="While open, drafts fail at once for this long."
    )

    @property
    def uses_openai(self) -> bool:
        if self.provider == "auto":
            return self.base_url is not None or self.api_key is not None
        return self.provider == "openai"


@dataclass(frozen=True)
class Settings:
    runtime: RuntimeSettings
    services: ServiceSettings
    web: WebSettings
    database: DatabaseSettings
    redis: RedisSettings
    s3: S3Settings
    # Defaults when built in code; load() reads the environment.
    auth: AuthSettings = field(default_factory=AuthSettings.model_construct)
    inbox: InboxSettings = field(default_factory=InboxSettings.model_construct)
    outbound: OutboundSettings = field(default_factory=OutboundSettings.model_construct)
    desk: DeskSettings = field(default_factory=DeskSettings.model_construct)
    media: MediaSettings = field(default_factory=MediaSettings.model_construct)
    realtime: RealtimeSettings = field(default_factory=RealtimeSettings.model_construct)
    copilot: CopilotSettings = field(default_factory=CopilotSettings.model_construct)

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
            auth=AuthSettings.load(),
            inbox=InboxSettings.load(),
            outbound=OutboundSettings.load(),
            desk=DeskSettings.load(),
            media=MediaSettings.load(),
            realtime=RealtimeSettings.load(),
            copilot=CopilotSettings.load(),
        )
