"""The JSON API door, ``/api/v1`` (docs/api.md). It calls the same services and policy as the pages."""

from panel_app.api import account, actions, gaps, meetings, openapi, reference, referrals  # noqa: F401  (each registers its routes)
from panel_app.api.base import api

__all__ = ["api"]
