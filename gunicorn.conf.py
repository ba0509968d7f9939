"""Gunicorn's settings for panel_app (gunicorn reads ./gunicorn.conf.py by itself; or pass ``-c``).

    .venv/bin/gunicorn 'panel_app:create_app()'

Settings on the command line win over these.
"""

import os

import gunicorn.http.wsgi

bind = os.environ.get("PANEL_BIND", "127.0.0.1:8000")
# Two per core is gunicorn's usual advice; a PDF takes a worker for a second or more.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))

# The Server header names no product (nothing to look up known flaws of). Gunicorn has no setting for
# it; its response module reads this name when it writes each response.
gunicorn.http.wsgi.SERVER = "web"


def on_starting(server: object) -> None:
    """Several workers with counts kept in each worker's memory would multiply the sign-in limits by
    the number of workers: refuse to start that way."""
    storage = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    if server.cfg.workers > 1 and storage.startswith("memory://"):  # type: ignore[attr-defined]
        raise SystemExit(
            "panel_app: with more than one worker, set RATELIMIT_STORAGE_URI=redis://... so that the "
            "workers share the sign-in and request counts (or run --workers 1)."
        )
