"""The worker's entry point: ``huey_consumer panel_app.worker.huey``.

It builds the app (settings from the environment, as the web process does) so that jobs run with
the same database, mail server and job queue as the requests that asked for them."""

from __future__ import annotations

from panel_app import create_app
from panel_app.jobs import huey

app = create_app()

__all__ = ["app", "huey"]
