"""Partnerships, their member agencies and brokers, as each person may see them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from panel_app import policy
from panel_app.models import Agency, Partnership, User, db
from panel_app.services.base import page_of


def partnerships_for(user: User, *, page: int = 1, per_page: int | None = None) -> tuple[list[Partnership], int]:
    """The partnerships a person works in, with member agencies loaded, and how many there are: all
    of them, or one page (``per_page``)."""
    query = policy.visible_partnerships(user).options(
        joinedload(Partnership.region), selectinload(Partnership.agencies), selectinload(Partnership.brokers)
    )
    if per_page is not None:
        return page_of(query, page=page, per_page=per_page)
    rows = list(db.session.scalars(query))
    return rows, len(rows)


def partnership_named(name: str) -> Partnership | None:
    """A partnership by its exact name (for the installation's own commands)."""
    return db.session.scalar(select(Partnership).where(Partnership.name == name))


def partnership_ids_for(user: User) -> list[int]:
    """The ids of the partnerships a person works in (for the API's ``/me``)."""
    scope = policy.visible_partnerships(user).with_only_columns(Partnership.id)
    return list(db.session.scalars(scope))


@dataclass(frozen=True)
class InstallationFigures:
    partnerships: int
    agencies: int
    active_users: int
    inactive_users: int


def installation_figures() -> InstallationFigures:
    """What the admin's home page counts: no case data, only the installation's shape."""
    partnerships, agencies, active, inactive = db.session.execute(
        select(
            select(func.count(Partnership.id)).scalar_subquery(),
            select(func.count(Agency.id)).scalar_subquery(),
            select(func.count(User.id)).where(User.active.is_(True)).scalar_subquery(),
            select(func.count(User.id)).where(User.active.is_(False)).scalar_subquery(),
        )
    ).one()
    return InstallationFigures(partnerships, agencies, active, inactive)
