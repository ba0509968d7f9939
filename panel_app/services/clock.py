"""Today's date where the partnerships work: kept in ``panel_app.clock`` (policy reads it too, to
say whether an action is overdue), and offered here to the services and the pages as before."""

from __future__ import annotations

from panel_app.clock import DEFAULT_TIMEZONE, local_date, local_timezone, today

__all__ = ["DEFAULT_TIMEZONE", "local_date", "local_timezone", "today"]
