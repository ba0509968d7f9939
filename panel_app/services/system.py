"""The installation's own state, for the health check."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from panel_app.models import db

log = logging.getLogger(__name__)


def database_answers() -> bool:
    """Whether the database answers a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("health check: the database did not answer", exc_info=True)
        db.session.rollback()
        return False
    return True
