"""Partnerships, their member agencies and brokers, as each person may see them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from panel_app import audit, policy
from panel_app.errors import NotFound, RuleBroken
from panel_app.models import Agency, Partnership, Region, User, db
from panel_app.services import referrals
from panel_app.services.base import Problems, page_of

NAME_MAX = 160
REGION_MAX = 120


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


# --- The administrator's partnership pages ------------------------------------------------------


def list_partnerships(actor: User) -> list[Partnership]:
    policy.require_runs_installation(actor)
    return list(db.session.scalars(
        select(Partnership).options(joinedload(Partnership.region), selectinload(Partnership.agencies),
                                    selectinload(Partnership.brokers))
        .order_by(func.lower(Partnership.name), Partnership.id)))


def get_partnership(actor: User, partnership_id: int) -> Partnership:
    policy.require_runs_installation(actor)
    partnership = db.session.get(Partnership, partnership_id)
    if partnership is None:
        raise NotFound(_("There is no such partnership."))
    return partnership


@dataclass(frozen=True)
class PartnershipChoices:
    agencies: list[Agency]
    brokers: list[User]
    regions: list[Region]


def partnership_choices(actor: User) -> PartnershipChoices:
    policy.require_runs_installation(actor)
    return PartnershipChoices(
        agencies=list(db.session.scalars(select(Agency).order_by(func.lower(Agency.name)))),
        brokers=list(db.session.scalars(policy.possible_brokers())),
        regions=list(db.session.scalars(select(Region).order_by(Region.name))),
    )


def _described(partnership: Partnership) -> dict[str, Any]:
    return {"name": partnership.name, "area": partnership.area,
            "region": partnership.region.name if partnership.region else None,
            "agency_ids": sorted(agency.id for agency in partnership.agencies),
            "broker_ids": sorted(broker.id for broker in partnership.brokers),
            "stages": referrals.stages_of(partnership.id) if partnership.id else None}


def save_partnership(actor: User, partnership: Partnership | None, *, name: str, area: str, region: str,
                     agency_ids: Iterable[int], broker_ids: Iterable[int], stages: Iterable[str],
                     without_broker: bool = False) -> Partnership:
    """Add a partnership (``partnership`` None) or change one: its name, area, region (found by
    name, or added), member agencies, brokers and journey stages (none given: the Kalix five).

    422, naming every field at once, for a missing or taken name (whatever its case), a missing area
    or region, an agency or broker that is not one (or does not exist), stages too long or twice
    named or fewer than a referral stands at, or no broker at all unless ``without_broker`` says the
    administrator means it (nobody would triage its referrals). Nothing is saved unless all is well."""
    policy.require_runs_installation(actor)
    problems = Problems()
    name = " ".join((name or "").split())
    if not name:
        problems.add("name", _("Enter the partnership's name"))
    elif len(name) > NAME_MAX:
        problems.add("name", _("Name must be %(count)d characters or fewer", count=NAME_MAX))
    else:
        taken = select(Partnership.id).where(func.lower(Partnership.name) == name.lower())
        if partnership is not None:
            taken = taken.where(Partnership.id != partnership.id)
        if db.session.scalar(taken.limit(1)) is not None:
            problems.add("name", _("There is already a partnership called %(name)s", name=name))
    area = problems.text("area", area, NAME_MAX, required=_("Enter the area the partnership covers"))
    region_name = problems.text("region", region, REGION_MAX, required=_("Enter the region it belongs to"))
    wanted_agencies = list(dict.fromkeys(agency_ids))
    agencies = list(db.session.scalars(select(Agency).where(Agency.id.in_(wanted_agencies)))) if wanted_agencies else []
    if len(agencies) != len(wanted_agencies):
        problems.add("agency_ids", _("Choose only agencies listed"))
    wanted_brokers = list(dict.fromkeys(broker_ids))
    brokers = list(db.session.scalars(policy.possible_brokers().where(User.id.in_(wanted_brokers)))) \
        if wanted_brokers else []
    if len(brokers) != len(wanted_brokers):
        problems.add("broker_ids", _("Choose only brokers listed"))
    elif not brokers and not without_broker:
        problems.add("broker_ids", _("Choose at least one broker, or confirm that the partnership has none for now "
                                     "(nobody would triage its referrals)"))
    problems.raise_if_any(_("The partnership was not saved. Check the highlighted answers."))

    before = _described(partnership) if partnership is not None else None
    found_region = db.session.scalar(select(Region).where(func.lower(Region.name) == region_name.lower()))
    try:
        with db.session.begin_nested():
            if found_region is None:
                found_region = Region(name=region_name)
                db.session.add(found_region)
            if partnership is None:
                partnership = Partnership()
                db.session.add(partnership)
            partnership.name, partnership.area, partnership.region = name, area, found_region
            partnership.agencies, partnership.brokers = agencies, brokers
            db.session.flush()
            try:
                referrals.set_stages(partnership, list(stages))
            except RuleBroken as error:
                raise RuleBroken(_("The partnership was not saved. Check the highlighted answers."),
                                 {"stages": error.message}) from None
    except IntegrityError:
        # Another request took the name meanwhile: the unique index decides, the same 422.
        raise RuleBroken(_("The partnership was not saved. Check the highlighted answers."),
                         {"name": _("There is already a partnership called %(name)s", name=name)}) from None
    audit.record("partnership.created" if before is None else "partnership.changed", actor=actor,
                 record_type="partnership", record_id=partnership.id,
                 detail={"before": before, "after": _described(partnership)})
    return partnership
