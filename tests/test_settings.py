"""Settings come from the environment first, then `.streamlit/secrets.toml`; secrets never print."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.settings import SECRETS_FILE_ENV, Settings


def test_secrets_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('OPENAI_API_KEY = "sk-from-file"\nredis_url = "redis://file:6379/0"\n')
    monkeypatch.setenv(SECRETS_FILE_ENV, str(secrets))
    monkeypatch.setenv("REDIS_URL", "redis://env:6379/0")

    settings = Settings()

    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-from-file"
    assert settings.redis_url == "redis://env:6379/0"
    assert "sk-from-file" not in repr(settings) and "sk-from-file" not in str(settings.model_dump())


def test_plain_postgres_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db:5432/app")
    assert Settings().database_url == "postgresql+psycopg://app@db:5432/app"


def test_media_root_defaults_under_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIA_ROOT")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert Settings().media_path == (tmp_path / "data" / "media").resolve()
