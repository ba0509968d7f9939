"""Work done beside the requests, by a worker (Huey): delivering the outbox.

``JOBS_URL`` chooses where the queue of jobs lives: ``sqlite:///path`` (the default, a file in the
instance folder: the demo needs nothing else), ``redis://...`` in production, ``memory://`` for
tests, which runs each job at once, in the caller, so that tests are deterministic.

The worker runs as ``huey_consumer panel_app.worker.huey`` (``./scripts/start`` starts it beside the
app). After a request that queued emails commits, the doors call ``deliver_soon()``; a periodic job
every minute delivers whatever is due as well, which is what retries with back-off and what catches
an email whose nudge was lost. ``flask --app panel_app deliver-emails`` does the same by hand or from
cron.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from panel_app.extensions import db
from panel_app.services import outbox

log = logging.getLogger(__name__)

# One Huey for the process; ``init_app`` points its storage where the app's settings say. Results are
# not kept: nobody waits on a job's return value.
huey = Huey("panel_app", results=False, storage_class=MemoryStorage)
_app: Flask | None = None


def configure(url: str) -> None:
    """Point the job queue at ``url`` (see the module's docstring)."""
    if url.startswith("memory://"):
        storage_class, kwargs, immediate = MemoryStorage, {}, True
    elif url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        storage_class, kwargs, immediate = SqliteStorage, {"filename": str(path)}, False
    elif url.startswith(("redis://", "rediss://", "unix://")):
        storage_class, kwargs, immediate = RedisStorage, {"url": url}, False
    else:
        raise ValueError(f"JOBS_URL must start with sqlite:///, redis://, rediss://, unix:// or memory://, not {url!r}")
    huey.storage_class = storage_class
    huey.storage_kwargs = kwargs
    huey.immediate = immediate
    huey.storage = huey.create_storage()  # the setter above rebuilds it only when immediate changes


def init_app(app: Flask) -> None:
    global _app
    _app = app
    configure(app.config["JOBS_URL"])


def _deliver() -> outbox.DeliveryRun:
    if has_app_context():
        return _deliver_here()
    if _app is None:
        raise RuntimeError("panel_app.jobs: no app; start the worker with huey_consumer panel_app.worker.huey")
    with _app.app_context():
        try:
            return _deliver_here()
        finally:
            db.session.remove()


def _deliver_here() -> outbox.DeliveryRun:
    run = outbox.deliver_due()
    if run.sent or run.retrying or run.failed:
        log.info("outbox: %s", run)
    return run


@huey.task()
def deliver_emails() -> None:
    """Deliver what is due now (asked for after a request queued emails)."""
    _deliver()


@huey.periodic_task(crontab(minute="*"))
def deliver_due_emails() -> None:
    """Every minute: retries whose wait is over, and anything a lost nudge left behind."""
    _deliver()


def deliver_soon() -> None:
    """Ask the worker to deliver now. Called after a commit, never inside a transaction (the worker
    must find the emails). If the queue cannot be reached, the emails are safe in the outbox and the
    periodic job will find them: say so in the log, never to the person whose change is saved."""
    try:
        deliver_emails()
    except Exception:  # the broker of jobs (Redis, a file) is down: the outbox itself is intact
        log.exception("could not ask the worker to deliver emails; the periodic job will")
