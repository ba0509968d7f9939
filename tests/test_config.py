"""Settings from the environment."""

from __future__ import annotations

import pytest

from panel_app import create_app
from panel_app.config import ConfigurationError, settings_from_environment

LONG_KEY = "k" * 40


def test_production_refuses_to_start_without_a_secret_key(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        settings_from_environment(str(tmp_path), {"PANEL_ENV": "production"})
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        settings_from_environment(str(tmp_path), {"PANEL_ENV": "production", "SECRET_KEY": "short"})


def test_create_app_refuses_production_without_a_secret_key(monkeypatch) -> None:
    monkeypatch.setenv("PANEL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError):
        create_app()


def test_production_settings_make_cookies_secure(tmp_path) -> None:
    settings = settings_from_environment(str(tmp_path), {"PANEL_ENV": "production", "SECRET_KEY": LONG_KEY})
    assert settings["PRODUCTION"] is True
    assert settings["SECRET_KEY"] == LONG_KEY
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert settings["REMEMBER_COOKIE_SECURE"] is True


def test_development_is_the_default_with_sqlite_in_the_instance_folder(tmp_path) -> None:
    settings = settings_from_environment(str(tmp_path), {})
    assert settings["PRODUCTION"] is False
    assert settings["PANEL_ENV"] == "development"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/panel_app.sqlite"
    # The development server runs on plain http://127.0.0.1, where a Secure cookie would be lost.
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["SESSION_COOKIE_HTTPONLY"] is True


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/x.sqlite"),
    ],
)
def test_database_url_names_the_psycopg_driver(tmp_path, given: str, used: str) -> None:
    assert settings_from_environment(str(tmp_path), {"DATABASE_URL": given})["SQLALCHEMY_DATABASE_URI"] == used


def test_a_malformed_number_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="API_TOKEN_HOURS"):
        settings_from_environment(str(tmp_path), {"API_TOKEN_HOURS": "twelve"})
