"""People: inviting someone to the service, re-sending and revoking their invitation, and the
installation's first administrator.

An invited person is a ``User`` from the moment they are invited, with their role, agency, region
and brokered partnerships in the usual tables (so lists and the policy see them), but no password:
they cannot sign in until they follow their invitation link and choose one
(``services.accounts.choose_password``). Who may invite whom is ``policy.PERSON_STEPS`` and the
``policy.invitable_*`` scopes. The invitation email is queued in the outbox with the change, so it
leaves only once the change is committed, and never if it is not.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from panel_app import audit, policy
from panel_app import session_store
from panel_app.errors import NotFound, RuleBroken
from panel_app.models import AccountLink, Agency, LinkPurpose, OutboxEmail, Partnership, Region, Role, User, db
from panel_app.models.people import partnership_agency, partnership_broker
from panel_app.services import account_links, accounts, outbox
from panel_app.services.accounts import normalise_email
from panel_app.services.base import Problems, page_of

EMAIL_MAX = 254
NAME_MAX = 120
# The shape of an address (something@somewhere.tld, no spaces): whether it reaches anyone only the
# person's mailbox can tell.
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

Found = TypeVar("Found")


def _within(scope: Select[tuple[Found]], model: Any, record_id: int, field: str, message: str) -> Found:
    """A record the person may name, by id: anything else is a 404 naming the field (never telling
    an agency that exists from one outside their scope)."""
    found = db.session.scalar(scope.where(model.id == record_id))
    if found is None:
        raise NotFound(message, {field: message})
    return found


def _described(person: User) -> dict[str, Any]:
    """What an invitation made of a person, for the audit trail's "after"."""
    return {"email": person.email, "name": person.name, "role": person.role.value, "agency_id": person.agency_id,
            "region_id": person.region_id, "partnership_ids": [p.id for p in person.brokered_partnerships],
            "active": person.active}


def _email_and_name(problems: Problems, email: str, name: str) -> tuple[str, str]:
    """A new person's email address (lower-cased: one account per address, whatever its case) and
    name (its spaces tidied), each with its problem if any."""
    email = normalise_email(email or "")
    if (problem := _email_problem(email)) is not None:
        problems.add("email", problem)
    name = " ".join((name or "").split())
    problems.text("name", name, NAME_MAX, required=_("Enter their name"))
    return email, name


def email_shape_problem(email: str) -> str | None:
    """What is wrong with the shape of an address given (too long, not like name@example.org)."""
    if len(email) > EMAIL_MAX:
        return _("Email address must be %(count)d characters or fewer", count=EMAIL_MAX)
    if not _EMAIL_SHAPE.fullmatch(email):
        return _("Enter an email address in the correct format, like name@example.org")
    return None


def _email_problem(email: str) -> str | None:
    if not email:
        return _("Enter their email address")
    if (problem := email_shape_problem(email)) is not None:
        return problem
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        return _("Someone already has an account with this email address")
    return None


def invite(
    actor: User,
    *,
    email: str,
    name: str,
    role: Role,
    agency_id: int | None = None,
    partnership_ids: Iterable[int] = (),
    region_id: int | None = None,
) -> User:
    """Invite a person: their account (no password yet) and a single-use link by email, valid for
    ``PANEL_INVITATION_HOURS``.

    403 when the actor may not invite into this role; 404 for an agency, partnership or region
    outside what the actor may name (or that does not exist); 422, naming every field at once, for
    an email address taken (whatever its case) or malformed, a missing name, agency staff without an
    agency, a strategic lead without a region, a broker without partnerships, an agency, region or
    partnerships the role does not hold, or a partnership the agency is not a member of. Nothing is
    saved unless all is well.

    A broker brokers the partnerships named. Agency staff work in every partnership their agency
    sits on (``policy.visible_partnerships``): partnerships named for them are checked against their
    agency's, not stored, and the email names all of the agency's."""
    policy.require_person(actor, policy.PERSON_STEPS, "invite", User(role=role, agency_id=agency_id))
    agency = region = None
    if agency_id is not None:
        agency = _within(policy.invitable_agencies(actor), Agency, agency_id, "agency_id",
                         _("There is no agency you can invite people into with that id."))
    if region_id is not None:
        region = _within(policy.invitable_regions(actor), Region, region_id, "region_id",
                         _("There is no region with that id."))
    partnerships = [_within(policy.invitable_partnerships(actor), Partnership, partnership_id, "partnership_ids",
                            _("There is no partnership you can invite people into with that id."))
                    for partnership_id in dict.fromkeys(partnership_ids)]

    problems = Problems()
    email, name = _email_and_name(problems, email, name)
    shape = policy.account_shape(role)
    if shape.agency and agency is None:
        problems.add("agency_id", _("Choose the agency they work for"))
    elif not shape.agency and agency is not None:
        problems.add("agency_id", _("Only agency staff belong to an agency: choose no agency"))
    if shape.region and region is None:
        problems.add("region_id", _("Choose the region they oversee"))
    elif not shape.region and region is not None:
        problems.add("region_id", _("Only strategic leads oversee a region: choose no region"))
    if shape.brokers_partnerships and not partnerships:
        problems.add("partnership_ids", _("Choose the partnerships they broker"))
    elif partnerships and not (shape.brokers_partnerships or shape.works_in_agency_partnerships):
        problems.add("partnership_ids", _("Only brokers and agency staff work in partnerships: choose none"))
    elif partnerships and agency is not None:
        outside = [p.name for p in partnerships if agency not in p.agencies]
        if outside:
            problems.add("partnership_ids", _("%(agency)s is not a member of %(names)s: choose only partnerships "
                                              "the agency sits on", agency=agency.name, names=", ".join(outside)))
    problems.raise_if_any(_("The invitation was not sent. Check the highlighted answers."))

    person = User(email=email, name=name, password_hash=None, role=role,
                  agency_id=agency.id if agency is not None else None,
                  region_id=region.id if region is not None else None)
    _add(person, brokers=partnerships if shape.brokers_partnerships else [])
    link = _send_invitation(actor, person)
    audit.record("person.invited", actor=actor, record_type="user", record_id=person.id,
                 detail={"after": _described(person), "link_id": link.id, "expires_at": link.expires_at.isoformat()})
    return person


def _add(person: User, *, brokers: list[Partnership] | None = None) -> None:
    """Save a new account (and the partnerships it brokers); an address taken meanwhile by another
    request is the same 422 as one taken before (the unique index decides, inside a SAVEPOINT so the
    rest of the change survives)."""
    try:
        with db.session.begin_nested():
            db.session.add(person)
            person.brokered_partnerships = list(brokers or [])
            db.session.flush()
    except IntegrityError:
        raise RuleBroken(_("The invitation was not sent. Check the highlighted answers."),
                         {"email": _("Someone already has an account with this email address")}) from None


def _send_invitation(actor: User, person: User) -> AccountLink:
    """A new invitation link for the person (their earlier ones stop working), in an email from the
    inviter naming the role, the agency, the partnerships or region and when the link expires."""
    secret, link = account_links.issue(person, LinkPurpose.INVITATION, by=actor)
    outbox.queue_template("invitation.txt", person.email, kind="account.invitation", about=("user", person.id),
                          sent_by=actor, person=person, inviter=actor, partnerships=_partnerships_of(person),
                          secret=secret, expires_at=link.expires_at)
    return link


def _partnerships_of(person: User) -> list[Partnership]:
    """The partnerships a person works in: those they broker, or those their agency sits on."""
    shape = policy.account_shape(person.role)
    partnerships = (person.brokered_partnerships if shape.brokers_partnerships
                    else person.agency.partnerships if shape.works_in_agency_partnerships and person.agency
                    else [])
    return sorted(partnerships, key=lambda partnership: partnership.name)


@dataclass(frozen=True)
class InvitationChoices:
    """What the actor may name in an invitation (also the people list's filters)."""

    roles: list[Role]
    agencies: list[Agency]
    partnerships: list[Partnership]
    regions: list[Region]


def invitation_choices(actor: User) -> InvitationChoices:
    invitable = policy.invitable_roles(actor)
    return InvitationChoices(roles=[role for role in Role if role in invitable],
                             agencies=list(db.session.scalars(policy.invitable_agencies(actor))),
                             partnerships=list(db.session.scalars(policy.invitable_partnerships(actor))),
                             regions=list(db.session.scalars(policy.invitable_regions(actor))))


def get_person(actor: User, person_id: int) -> User:
    """A person whose account the actor looks after (``policy.managed_people``); anyone else is a 404."""
    person = db.session.scalar(policy.managed_people(actor).where(User.id == person_id))
    if person is None:
        raise NotFound(_("There is no such person, or they are not someone whose account you look after."))
    return person


def resend_invitation(actor: User, person: User) -> AccountLink:
    """A new invitation email with a new link; the person's earlier invitation links stop working."""
    policy.require_step(actor, policy.PERSON_STEPS, "resend_invitation", person)
    before = account_links.latest(person, LinkPurpose.INVITATION)
    before_detail = {"link_id": before.id, "state": before.state().value} if before is not None else None
    link = _send_invitation(actor, person)
    audit.record("person.invitation_resent", actor=actor, record_type="user", record_id=person.id,
                 detail={"before": before_detail,
                         "after": {"link_id": link.id, "state": link.state().value,
                                   "expires_at": link.expires_at.isoformat()}})
    return link


def revoke_invitation(actor: User, person: User) -> int:
    """The person's invitation links stop working (the account stays, without a password, until it
    is invited again or deactivated); how many links were revoked."""
    policy.require_step(actor, policy.PERSON_STEPS, "revoke_invitation", person)
    revoked = account_links.revoke_live(person, [LinkPurpose.INVITATION, LinkPurpose.FIRST_SIGN_IN])
    audit.record("person.invitation_revoked", actor=actor, record_type="user", record_id=person.id,
                 detail={"before": {"live_links": revoked}, "after": {"live_links": 0}})
    return revoked


# --- Finding people and ending or restoring their access -----------------------------------------


class AccountState(enum.StrEnum):
    """Where an account stands: signing in, waiting for its invitation to be used, or switched off."""

    ACTIVE = "active"
    INVITED = "invited"
    DEACTIVATED = "deactivated"

    @property
    def label(self) -> str:
        return str({"active": _l("Active"), "invited": _l("Invited"), "deactivated": _l("Deactivated")}[self.value])

    @property
    def tag_class(self) -> str:
        return {"active": "govuk-tag--green", "invited": "govuk-tag--blue", "deactivated": "govuk-tag--grey"}[self.value]


def state_of(person: User) -> AccountState:
    if not person.active:
        return AccountState.DEACTIVATED
    return AccountState.ACTIVE if person.has_password else AccountState.INVITED


@dataclass(frozen=True)
class PeopleFilters:
    search: str | None = None
    role: Role | None = None
    agency_id: int | None = None
    partnership_id: int | None = None
    state: AccountState | None = None


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own wildcards taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_people(actor: User, filters: PeopleFilters, *, page: int = 1, per_page: int = 25) -> tuple[list[User], int]:
    """A page of the people whose accounts the actor looks after, matching the filters (in SQL), and
    how many match in all. "In a partnership" is brokering it, or working for one of its member
    agencies."""
    query = policy.managed_people(actor)
    if filters.search:
        pattern = _like(filters.search)
        query = query.where(or_(func.lower(User.name).like(pattern, escape="\\"),
                                func.lower(User.email).like(pattern, escape="\\")))
    if filters.role is not None:
        query = query.where(User.role == filters.role)
    if filters.agency_id is not None:
        query = query.where(User.agency_id == filters.agency_id)
    if filters.partnership_id is not None:
        brokers = select(partnership_broker.c.user_id).where(
            partnership_broker.c.partnership_id == filters.partnership_id)
        members = select(partnership_agency.c.agency_id).where(
            partnership_agency.c.partnership_id == filters.partnership_id)
        query = query.where(or_(User.id.in_(brokers), User.agency_id.in_(members)))
    if filters.state is AccountState.DEACTIVATED:
        query = query.where(User.active.is_(False))
    elif filters.state is AccountState.ACTIVE:
        query = query.where(User.active.is_(True), User.password_hash.is_not(None), User.password_hash != "")
    elif filters.state is AccountState.INVITED:
        query = query.where(User.active.is_(True), or_(User.password_hash.is_(None), User.password_hash == ""))
    return page_of(query.order_by(func.lower(User.name), User.id), page=page, per_page=per_page)


@dataclass(frozen=True)
class AccountFacts:
    """What the person's page says about their account beyond the record itself."""

    state: AccountState
    partnerships: list[Partnership]  # those they broker, or their agency sits on
    live_sessions: int
    emails: list[OutboxEmail]  # only their subject and dates are shown: the text holds a sign-in link


def account_facts(person: User) -> AccountFacts:
    emails = list(db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.record_type == "user", OutboxEmail.record_id == person.id,
                                  OutboxEmail.kind.like("account.%"))
        .order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())))
    return AccountFacts(state=state_of(person), partnerships=_partnerships_of(person),
                        live_sessions=len(session_store.live_sessions(person)), emails=emails)


def deactivate(actor: User, person: User) -> None:
    """The person can no longer sign in; their sessions and API tokens stop working at their next
    request. Never the last active administrator (nobody could then run the installation)."""
    policy.require_step(actor, policy.PERSON_STEPS, "deactivate", person)
    accounts.deactivate(person, actor=actor)


def reactivate(actor: User, person: User) -> None:
    """The person can sign in again (with a password they had, or through a new invitation)."""
    policy.require_step(actor, policy.PERSON_STEPS, "reactivate", person)
    accounts.reactivate(person, actor=actor)


# --- The first administrator ----------------------------------------------------------------------


def active_admins() -> list[User]:
    """The administrators who can still sign in (or will, once they follow their link)."""
    return list(db.session.scalars(policy.installation_runners()))


def create_first_admin(email: str, name: str, *, force: bool = False) -> tuple[User, str, AccountLink]:
    """An administrator with no password yet, and the secret of their single-use first sign-in link
    (valid for ``PANEL_INVITATION_HOURS``), for ``flask create-admin`` to print. Refused (422) while
    an active administrator exists, unless ``force``: a second admin is the first admin's to invite."""
    if not force and active_admins():
        raise RuleBroken(_("An active administrator already exists (%(emails)s). Use --force to add another "
                           "anyway.", emails=", ".join(admin.email for admin in active_admins())))
    problems = Problems()
    email, name = _email_and_name(problems, email, name)
    problems.raise_if_any(" ".join(problems.fields.values()) + ".")
    person = User(email=email, name=name, password_hash=None, role=Role.ADMIN)
    _add(person)
    secret, link = account_links.issue(person, LinkPurpose.FIRST_SIGN_IN, by=None)
    audit.record("person.created_admin", actor=None, record_type="user", record_id=person.id,
                 detail={"after": _described(person), "link_id": link.id, "forced": force,
                         "expires_at": link.expires_at.isoformat()})
    return person, secret, link
