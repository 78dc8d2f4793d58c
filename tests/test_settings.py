"""Settings as an operator meets them: env and .env, one clear line on a bad value, secrets
generated once in development and required in production, masked when shown."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from zapdesk.settings import ConfigError, RuntimeSettings, ServiceSettings, resolve_secrets


def zapdesk(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zapdesk", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["up", "core", "gateway", "config"])
def test_an_invalid_value_exits_2_with_one_line_naming_the_variable(command: str) -> None:
    result = zapdesk(command, ZAPDESK_CORE_PORT="abc")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ZAPDESK_CORE_PORT" in lines[0]
    assert "abc" in lines[0]
    assert not Path("data").exists(), "nothing may be created before the settings are valid"


def test_a_bad_database_url_is_named_without_its_password() -> None:
    result = zapdesk("core", ZAPDESK_DATABASE_URL="mysql://app:hunter2@db/zapdesk")
    assert result.returncode == 2
    assert "ZAPDESK_DATABASE_URL" in result.stderr
    assert "hunter2" not in result.stderr


def test_production_refuses_to_start_without_secrets() -> None:
    result = zapdesk("core", ZAPDESK_ENV="production")
    assert result.returncode == 2
    assert "ZAPDESK_WEBHOOK_SECRET" in result.stderr
    assert "ZAPDESK_ENV=production" in result.stderr
    assert not Path("data", "secrets.json").exists()


def test_production_names_every_missing_secret() -> None:
    runtime = RuntimeSettings(env="production")
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(runtime, ServiceSettings())
    assert "ZAPDESK_WEBHOOK_SECRET" in str(caught.value)
    assert "ZAPDESK_GATEWAY_TOKEN" in str(caught.value)


def test_development_secrets_are_generated_once_and_kept_private() -> None:
    first = Settings.load()
    second = Settings.load()
    assert first.services.webhook_secret is not None
    assert second.services.webhook_secret is not None
    assert first.web.secret_key is not None
    assert (
        first.services.webhook_secret.get_secret_value()
        == second.services.webhook_secret.get_secret_value()
    )
    assert len(first.services.webhook_secret.get_secret_value()) >= 32
    path = Path("data", "secrets.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {
        "ZAPDESK_WEBHOOK_SECRET",
        "ZAPDESK_GATEWAY_TOKEN",
        "ZAPDESK_SECRET_KEY",
    }


def test_a_secret_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    Settings.load()
    monkeypatch.setenv("ZAPDESK_WEBHOOK_SECRET", "from-the-environment")
    settings = Settings.load()
    assert settings.services.webhook_secret is not None
    assert settings.services.webhook_secret.get_secret_value() == "from-the-environment"


def test_dotenv_is_read_and_database_urls_get_the_async_driver() -> None:
    Path(".env").write_text(
        "ZAPDESK_CORE_PORT=9090\nZAPDESK_DATABASE_URL=postgres://app@db.internal/zapdesk\n"
    )
    settings = Settings.load()
    assert settings.services.core_port == 9090
    assert settings.database_url == "postgresql+asyncpg://app@db.internal/zapdesk"
    assert settings.public_url == "http://127.0.0.1:9090"


def test_the_default_database_is_a_sqlite_file_in_the_data_dir() -> None:
    settings = Settings.load()
    assert settings.database_url == f"sqlite+aiosqlite:///{Path('data').resolve()}/zapdesk.db"


def test_config_shows_the_effective_values_with_secrets_masked() -> None:
    result = zapdesk(
        "config",
        ZAPDESK_WEBHOOK_SECRET="do-not-print-me",
        ZAPDESK_DATABASE_URL="postgresql://app:hunter2@db/zapdesk",
        ZAPDESK_CORE_PORT="9000",
    )
    assert result.returncode == 0, result.stderr
    assert "ZAPDESK_CORE_PORT=9000" in result.stdout
    assert "ZAPDESK_WEBHOOK_SECRET=********" in result.stdout
    assert "ZAPDESK_DATABASE_URL=postgresql+asyncpg://app:***@db/zapdesk" in result.stdout
    assert "do-not-print-me" not in result.stdout
    assert "hunter2" not in result.stdout
    assert not Path("data", "secrets.json").exists(), "showing the config creates nothing"


def test_config_in_production_says_which_secrets_are_missing() -> None:
    result = zapdesk("config", ZAPDESK_ENV="production")
    assert result.returncode == 0, result.stderr
    assert "ZAPDESK_GATEWAY_TOKEN=(unset: required in production)" in result.stdout


@pytest.mark.parametrize("command", ["up", "migrate"])
def test_an_unreachable_database_is_one_clear_line(command: str) -> None:
    result = zapdesk(command, ZAPDESK_DATABASE_URL="postgresql://app:hunter2@127.0.0.1:1/zapdesk")
    assert result.returncode == 1
    assert "cannot" in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


def test_realtime_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.app import create_app
    from core.realtime.config import REALTIME

    monkeypatch.setenv("ZAPDESK_WS_SEND_QUEUE", "7")
    monkeypatch.setenv("ZAPDESK_WS_REPLAY", "500")
    limits = create_app(Settings.load())[REALTIME]
    assert (limits.send_queue, limits.replay) == (7, 500)
