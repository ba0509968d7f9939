"""Partnerships, their member agencies and brokers, as each person may see them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from panel_app import policy
from panel_app.models import Agency, Partnership, User, db


def partnerships_for(user: User, *, page: int = 1, per_page: int | None = None) -> tuple[list[Partnership], int]:
    """The partnerships a person works in, with member agencies loaded, and how many there are."""
    scope = policy.visible_partnerships(user)
    total = db.session.scalar(select(func.count()).select_from(scope.order_by(None).subquery())) or 0
    query = scope.options(
        joinedload(Partnership.region), selectinload(Partnership.agencies), selectinload(Partnership.brokers)
    )
    if per_page is not None:
        query = query.limit(per_page).offset((page - 1) * per_page)
    return list(db.session.scalars(query)), total


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
