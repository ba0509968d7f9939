"""Agencies: the administrator's list, adding one and changing one (name, type from ``agencies/``,
area, the team inbox and the lead's address for escalations, active). Every change is audited with
the values before and after."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from agencies import AGENCY_TYPES
from panel_app import audit, policy
from panel_app.errors import NotFound, RuleBroken
from panel_app.models import Agency, User, db
from panel_app.services.accounts import normalise_email
from panel_app.services.base import Problems
from panel_app.services.people import email_shape_problem

NAME_MAX = 160
AREA_MAX = 120


def list_agencies(actor: User) -> list[Agency]:
    policy.require_runs_installation(actor)
    return list(db.session.scalars(select(Agency).order_by(func.lower(Agency.name), Agency.id)))


def get_agency(actor: User, agency_id: int) -> Agency:
    policy.require_runs_installation(actor)
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        raise NotFound(_("There is no such agency."))
    return agency


def _described(agency: Agency) -> dict[str, Any]:
    return {"name": agency.name, "type": agency.type, "area": agency.area, "contact_email": agency.contact_email,
            "lead_contact_email": agency.lead_contact_email, "active": agency.active}


def _email(problems: Problems, field: str, value: str | None) -> str | None:
    email = normalise_email(value or "") or None
    if email is not None:
        problem = email_shape_problem(email)
        if problem is not None:
            problems.add(field, problem)
    return email


def save_agency(actor: User, agency: Agency | None, *, name: str, type: str, area: str | None,
                contact_email: str | None, lead_contact_email: str | None, active: bool = True) -> Agency:
    """Add an agency (``agency`` None) or change one. 422, naming every field at once, for a missing
    or taken name (whatever its case), a type no module of ``agencies/`` declares, or a malformed
    address; nothing is saved unless all is well."""
    policy.require_runs_installation(actor)
    problems = Problems()
    name = " ".join((name or "").split())
    if not name:
        problems.add("name", _("Enter the agency's name"))
    elif len(name) > NAME_MAX:
        problems.add("name", _("Name must be %(count)d characters or fewer", count=NAME_MAX))
    else:
        taken = select(Agency.id).where(func.lower(Agency.name) == name.lower())
        if agency is not None:
            taken = taken.where(Agency.id != agency.id)
        if db.session.scalar(taken.limit(1)) is not None:
            problems.add("name", _("There is already an agency called %(name)s", name=name))
    if type not in AGENCY_TYPES:
        problems.add("type", _("Choose one of the types of agency listed"))
    area = problems.text("area", area, AREA_MAX)
    contact = _email(problems, "contact_email", contact_email)
    lead = _email(problems, "lead_contact_email", lead_contact_email)
    problems.raise_if_any(_("The agency was not saved. Check the highlighted answers."))

    before = _described(agency) if agency is not None else None
    if agency is None:
        agency = Agency()
    agency.name, agency.type, agency.area = name, type, area
    agency.contact_email, agency.lead_contact_email, agency.active = contact, lead, active
    try:
        with db.session.begin_nested():
            db.session.add(agency)
            db.session.flush()
    except IntegrityError:
        # Another request took the name meanwhile: the unique index decides, the same 422.
        raise RuleBroken(_("The agency was not saved. Check the highlighted answers."),
                         {"name": _("There is already an agency called %(name)s", name=name)}) from None
    audit.record("agency.created" if before is None else "agency.changed", actor=actor, record_type="agency",
                 record_id=agency.id, detail={"before": before, "after": _described(agency)})
    return agency
