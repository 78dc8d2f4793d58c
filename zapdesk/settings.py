"""Settings shared by core and gateway, and the machinery every settings class uses.

Each concern is one pydantic-settings class read from ``ZAPDESK_*`` variables (or ``.env``).
Secrets marked ``generated`` may be left unset in development: they are created once and kept
in ``<data_dir>/secrets.json`` so that core and gateway agree on them. In production they must
be set.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRETS_FILE = "secrets.json"


class ConfigError(Exception):
    """Configuration that cannot be used; the message is one line meant for the operator."""


class Concern(BaseSettings):
    """Base of every settings class: ``ZAPDESK_`` prefix, ``.env`` support, immutable."""

    model_config = SettingsConfigDict(
        env_prefix="ZAPDESK_", env_file=".env", extra="ignore", frozen=True
    )
    title: ClassVar[str] = ""

    @classmethod
    def env_name(cls, field: str) -> str:
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def load(cls) -> Self:
        """Read from the environment; an invalid value raises ConfigError naming the variable."""
        try:
            return cls()
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else ""
                value = "" if is_secret(cls, field) else f"={masked(str(err.get('input')))}"
                problems.append(f"{cls.env_name(field)}{value}: {err['msg']}")
            raise ConfigError("invalid " + "; ".join(problems)) from None


def masked(value: str) -> str:
    """Hides the password of a URL such as ``postgresql://user:pass@host/db``."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", value)


def is_secret(cls: type[BaseSettings], field: str) -> bool:
    info = cls.model_fields.get(field)
    return info is not None and "SecretStr" in str(info.annotation)


def is_generated(cls: type[BaseSettings], field: str) -> bool:
    extra = cls.model_fields[field].json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("generated"))


class RuntimeSettings(Concern):
    title = "Runtime"

    env: Literal["development", "production"] = Field(
        "development",
        description="`production` refuses to start with generated secrets or missing settings.",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Where the embedded defaults keep their files (SQLite, secrets, credentials).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level that is logged."
    )
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="`auto`: readable on a terminal, JSON lines otherwise."
    )


class ServiceSettings(Concern):
    """Where core and gateway listen, how they find each other and how they trust each other."""

    title = "Services"

    core_host: str = Field("127.0.0.1", description="Address core listens on.")
    core_port: int = Field(8080, ge=1, le=65535, description="Port core listens on.")
    gateway_host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    gateway_port: int = Field(8081, ge=1, le=65535, description="Port the gateway listens on.")
    core_url: str | None = Field(
        None,
        description="Base URL the gateway delivers events to. Default: core on this machine.",
    )
    gateway_url: str | None = Field(
        None, description="Base URL core sends commands to. Default: gateway on this machine."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC key that signs event deliveries to core.",
        json_schema_extra={"generated": True},
    )
    gateway_token: SecretStr | None = Field(
        None,
        description="Bearer token that protects the gateway's HTTP API.",
        json_schema_extra={"generated": True},
    )

    @property
    def core_endpoint(self) -> str:
        return self.core_url or f"http://127.0.0.1:{self.core_port}"

    @property
    def gateway_endpoint(self) -> str:
        return self.gateway_url or f"http://127.0.0.1:{self.gateway_port}"


class S3Settings(Concern):
    """An S3-compatible object store; unset bucket means local disk under the data dir."""

    model_config = SettingsConfigDict(
        env_prefix="ZAPDESK_S3_", env_file=".env", extra="ignore", frozen=True
    )
    title = "Object storage (S3)"

    bucket: str | None = Field(
        None, description="Bucket for credentials backups and media. Unset: local disk."
    )
    endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, R2...). Unset: AWS."
    )
    region: str = Field("us-east-1", description="Region of the bucket.")
    access_key_id: str | None = Field(
        None, description="Access key id. Unset: boto3's usual credential chain."
    )
    secret_access_key: SecretStr | None = Field(None, description="Secret access key.")


_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def async_database_url(url: str) -> str:
    """Accepts the usual spellings and answers the async driver's URL, or raises ValueError."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _ASYNC_DRIVERS:
        raise ValueError("use postgresql+asyncpg://user@host/db or sqlite+aiosqlite:///path.db")
    return f"{_ASYNC_DRIVERS[scheme]}://{rest}"


C = TypeVar("C", bound=Concern)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_secrets(path: Path) -> dict[str, str]:
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def resolve_secrets(runtime: RuntimeSettings, concern: C, *, create: bool = True) -> C:
    """Fill the concern's unset generated secrets from the data dir (creating them if asked).

    In production nothing is generated: a missing secret is a ConfigError naming the variable,
    unless ``create`` is off (commands that only read, such as ``zapdesk config``).
    """
    cls = type(concern)
    missing = [
        name
        for name in cls.model_fields
        if is_generated(cls, name) and getattr(concern, name) is None
    ]
    if not missing:
        return concern
    if runtime.env == "production":
        if not create:
            return concern
        names = ", ".join(cls.env_name(n) for n in missing)
        raise ConfigError(f"{names} must be set when ZAPDESK_ENV=production")
    path = runtime.data_dir / SECRETS_FILE
    if not create:
        found = _read_secrets(path)
        return concern.model_copy(
            update={
                n: SecretStr(found[cls.env_name(n)]) for n in missing if cls.env_name(n) in found
            }
        )
    with _locked(path):
        stored = _read_secrets(path)
        added = {cls.env_name(n): secrets.token_urlsafe(32) for n in missing}
        added = {k: v for k, v in added.items() if k not in stored}
        if added:
            stored.update(added)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(stored, out, indent=2, sort_keys=True)
            tmp.replace(path)
    return concern.model_copy(update={n: SecretStr(stored[cls.env_name(n)]) for n in missing})


def describe(concern: Concern, runtime: RuntimeSettings) -> list[tuple[str, str]]:
    """The concern's effective values as (variable, shown value), secrets masked."""
    cls = type(concern)
    rows = []
    for name in cls.model_fields:
        value = getattr(concern, name)
        if value is None and is_generated(cls, name):
            production = runtime.env == "production"
            shown = "(unset: required in production)" if production else "(generated at start)"
        elif is_secret(cls, name):
            shown = "(unset)" if value is None else "********"
        else:
            shown = "(unset)" if value is None else masked(str(value))
        rows.append((cls.env_name(name), shown))
    return rows


def markdown_table(classes: list[type[Concern]]) -> str:
    """The configuration reference: one row per variable, generated from the classes."""
    lines = ["| variable | default | description |", "|---|---|---|"]
    for cls in classes:
        for name, info in cls.model_fields.items():
            if is_generated(cls, name):
                default = "generated in development"
            elif info.default is None:
                default = ""
            else:
                default = f"`{info.default}`"
            text = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{cls.env_name(name)}` | {default} | {text} |")
    return "\n".join(lines) + "\n"
