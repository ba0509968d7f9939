"""Settings, read from the environment once, when the app is created.

Every setting is documented in docs/operations.md ("Settings"). Development is the default;
``PANEL_ENV=production`` chooses production settings, which refuse to start without a real
``SECRET_KEY``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any


class ConfigurationError(RuntimeError):
    """The environment does not describe a safe installation; the app refuses to start."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from error


def _database_url(raw: str) -> str:
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants the driver named.
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw.removeprefix("postgresql://")
    return raw


def _development_secret_key(instance_path: str) -> str:
    """Development only: a random key made once per instance folder and kept there, so the dev
    server's CSRF tokens survive a restart, and no key anyone can read in the source signs anything."""
    path = Path(instance_path) / "secret_key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if len(key) >= 32:
        return key
    key = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a file of its own (readable by its owner only), then put in place in one
    # step: several dev workers starting at once all end up with the one key that got there first.
    draft = path.with_name(f"secret_key.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    try:
        if path.exists():
            os.replace(draft, path)  # the file held no usable key: this one takes its place
        else:
            os.link(draft, path)
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        draft.unlink(missing_ok=True)
    return key


def settings_from_environment(instance_path: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask configuration from environment variables."""
    env = dict(os.environ if env is None else env)
    production = env.get("PANEL_ENV", "").strip().lower() == "production"
    secret_key = env.get("SECRET_KEY", "")
    if production and len(secret_key) < 32:
        raise ConfigurationError(
            "PANEL_ENV=production needs a SECRET_KEY of at least 32 characters "
            '(for example: python -c "import secrets; print(secrets.token_hex(32))").'
        )
    if not secret_key:
        secret_key = _development_secret_key(instance_path)

    idle_minutes = _int(env, "SESSION_IDLE_MINUTES", 30)
    lifetime_hours = _int(env, "SESSION_LIFETIME_HOURS", 10)
    if idle_minutes < 1 or lifetime_hours < 1:
        raise ConfigurationError("SESSION_IDLE_MINUTES and SESSION_LIFETIME_HOURS must be at least 1.")
    invitation_hours = _int(env, "PANEL_INVITATION_HOURS", 72)
    reset_minutes = _int(env, "PANEL_RESET_MINUTES", 60)
    if invitation_hours < 1 or reset_minutes < 1:
        raise ConfigurationError("PANEL_INVITATION_HOURS and PANEL_RESET_MINUTES must be at least 1.")

    default_db = "sqlite:///" + str(Path(instance_path) / "panel_app.sqlite")
    database_url = _database_url(env.get("DATABASE_URL") or default_db)

    return {
        "PANEL_ENV": "production" if production else "development",
        "PRODUCTION": production,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Cookies: never readable from scripts, not sent on cross-site requests, HTTPS-only in
        # production (the development server runs on plain http://127.0.0.1).
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), production),
        "SESSION_COOKIE_NAME": "panel_session",
        # Sessions live in the database (panel_app.session_store): they end after this long without
        # a request, and this long after signing in however much they are used.
        "SESSION_IDLE_MINUTES": idle_minutes,
        "SESSION_LIFETIME_HOURS": lifetime_hours,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=lifetime_hours),
        # A session's "last used" time (and an API token's) is written at most this often, not on
        # every request: an idle timeout counted in minutes does not need more.
        "SESSION_TOUCH_SECONDS": _int(env, "SESSION_TOUCH_SECONDS", 60),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), production),
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        # Request bodies larger than this are refused with a 413 before any view runs.
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        "MAX_FORM_MEMORY_SIZE": 500_000,
        "API_TOKEN_HOURS": _int(env, "API_TOKEN_HOURS", 12),
        # Issuing one more revokes the oldest: a forgotten script cannot pile up live tokens.
        "API_TOKENS_PER_PERSON": _int(env, "API_TOKENS_PER_PERSON", 5),
        # Argon2id parameters (RFC 9106 "second recommended option"); tests lower them.
        "ARGON2_TIME_COST": _int(env, "ARGON2_TIME_COST", 3),
        "ARGON2_MEMORY_COST": _int(env, "ARGON2_MEMORY_COST", 64 * 1024),
        "ARGON2_PARALLELISM": _int(env, "ARGON2_PARALLELISM", 4),
        # Throttling (Flask-Limiter, panel_app.throttling). Failed sign-ins only are counted, page and
        # API together. Several worker processes must share a Redis (redis://...) to share the counts.
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "panel_app"),
        # Redis down: count in each process's memory meanwhile (the same limits, per process) rather
        # than answer every API call with a 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        "SIGN_IN_FAILURES_PER_ACCOUNT": env.get("SIGN_IN_FAILURES_PER_ACCOUNT", "5 per 15 minutes"),
        "SIGN_IN_FAILURES_PER_ADDRESS": env.get("SIGN_IN_FAILURES_PER_ADDRESS", "30 per 15 minutes"),
        # "Forgotten your password?": every request counts (it may send an email), per address asked
        # about and per client address.
        "PASSWORD_RESETS_PER_ACCOUNT": env.get("PASSWORD_RESETS_PER_ACCOUNT", "3 per hour"),
        "PASSWORD_RESETS_PER_ADDRESS": env.get("PASSWORD_RESETS_PER_ADDRESS", "20 per hour"),
        "API_RATE_LIMIT": env.get("API_RATE_LIMIT", "300 per minute"),
        # A burst limit as well: ten PDFs started at once would still hold ten workers for seconds.
        "PDF_RATE_LIMIT": env.get("PDF_RATE_LIMIT", "4 per 10 seconds; 10 per minute"),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": env.get("PANEL_TIMEZONE", "Europe/London"),
        "PANEL_DEMO_PASSWORD": env.get("PANEL_DEMO_PASSWORD", "demo-password-2026"),
        # Links in emails and calendar files point here (no request to take the host from in a cron job).
        "PANEL_BASE_URL": env.get("PANEL_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        # Whether the installation said where it is: a link printed by ``flask create-admin`` in
        # production must not point at the development default.
        "PANEL_BASE_URL_GIVEN": bool(env.get("PANEL_BASE_URL", "").strip()),
        # How long single-use account links work: an invitation (and the first admin's sign-in link),
        # and a password reset (short: it is asked for by someone who may not be the person).
        "PANEL_INVITATION_HOURS": invitation_hours,
        "PANEL_RESET_MINUTES": reset_minutes,
        # Outgoing email. With no MAIL_SERVER, emails wait in the outbox (queued) and are not sent.
        "MAIL_SERVER": env.get("MAIL_SERVER", ""),
        "MAIL_PORT": _int(env, "MAIL_PORT", 25),
        "MAIL_USE_TLS": _flag(env.get("MAIL_USE_TLS"), False),
        "MAIL_USERNAME": env.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD", ""),
        "MAIL_SENDER": env.get("MAIL_SENDER", "Resettlement panels <no-reply@panels.invalid>"),
        "MAIL_TIMEOUT": _int(env, "MAIL_TIMEOUT", 10),
        # Where the worker's queue of jobs (delivering the outbox) lives: a file beside the database by
        # default, redis://... in production, memory:// (each job run at once, in the caller) in tests.
        "JOBS_URL": env.get("JOBS_URL") or "sqlite:///" + str(Path(instance_path) / "jobs.db"),
        # Follow-up of overdue actions: the owner agency the day after; its lead contact, then the broker,
        # this many days after the due date.
        "ACTION_ESCALATE_TO_LEAD_DAYS": _int(env, "ACTION_ESCALATE_TO_LEAD_DAYS", 7),
        "ACTION_ESCALATE_TO_BROKER_DAYS": _int(env, "ACTION_ESCALATE_TO_BROKER_DAYS", 14),
        "PANEL_PROXY_HOPS": _int(env, "PANEL_PROXY_HOPS", 0),
    }
