"""What the benchmark scripts share: a fresh database (SQLite in a temporary directory, or a new
database on the PostgreSQL server ``DATABASE_URL`` names, dropped afterwards), the app's settings for
a run, and timing of repeated runs."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def settings(database_url: str) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Cheap password hashing: the benchmarks measure pages and documents, not Argon2.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
        "MAIL_SERVER": "",  # emails wait in the outbox, never sent
        "JOBS_URL": "memory://",  # no worker: nothing to deliver to
        "PANEL_BASE_URL": "http://panels.example",
        "SECRET_KEY": "benchmark-only-" + uuid.uuid4().hex,
        "RATELIMIT_STORAGE_URI": "memory://",
    }


def _postgres_url(raw: str) -> str:
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw.removeprefix("postgresql://")
    return raw


@contextmanager
def fresh_database(tmp: Path) -> Iterator[tuple[str, str]]:
    """A fresh empty database: a SQLite file in ``tmp``, or a new database on the PostgreSQL server
    that ``DATABASE_URL`` names (dropped afterwards)."""
    raw = os.environ.get("DATABASE_URL", "").strip()
    if not raw:
        yield f"sqlite:///{tmp / 'benchmark.sqlite'}", "SQLite (temporary file)"
        return
    server = _postgres_url(raw)
    if not server.startswith("postgresql"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL server (postgresql://...)")
    name = f"panel_benchmark_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(server).set(database=name)
        yield url.render_as_string(hide_password=False), f"PostgreSQL ({make_url(server).host}, database {name})"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def time_runs(render: Callable[[], bytes], runs: int) -> tuple[list[float], bytes]:
    from panel_app.models import db

    seconds = []
    data = b""
    for _run in range(runs):
        started = time.perf_counter()
        data = render()
        seconds.append(time.perf_counter() - started)
        db.session.rollback()  # the export's audit row: each run starts from the same state
    return seconds, data
