"""The people pages: the administrator's list of accounts, a person's page, inviting someone, and
the steps on an account (re-send or revoke an invitation, deactivate, reactivate).

Brokers reach the invitation form only (for the staff of their partnerships' member agencies:
``policy.PERSON_STEPS`` and the ``invitable_*`` scopes); everything else here is the administrator's
(``policy.ROUTE_RULES``). Nothing here shows a young person.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app import policy
from panel_app.doors import actor, load_person
from panel_app.models import Role, User
from panel_app.services import people as service
from panel_app.web import forms
from panel_app.web.form_pages import form_page
from panel_app.web.pagination import page_number, pagination

people = Blueprint("people", __name__, url_prefix="/admin/people")

PER_PAGE = 25


@people.route("/")
def index() -> ResponseReturnValue:
    viewer = actor()
    options = service.invitation_choices(viewer)
    form = forms.PeopleFilterForm(request.args)
    form.agency.choices = [(0, _("Every agency"))] + [(agency.id, agency.name) for agency in options.agencies]
    form.partnership.choices = [(0, _("Every partnership"))] + [(p.id, p.name) for p in options.partnerships]
    filtered = any(value for key, value in request.args.items() if key != "page")
    if request.args and not form.validate():
        # Show the problems and nobody, rather than people who do not match what was asked for.
        return render_template("people/index.html", filter_form=form, rows=[], total=0, pages=None,
                               filtered=True), 400
    filters = service.PeopleFilters(
        search=form.q.data or None,
        role=Role(form.role.data) if form.role.data else None,
        agency_id=form.agency.data or None,
        partnership_id=form.partnership.data or None,
        state=service.AccountState(form.state.data) if form.state.data else None,
    )
    page = page_number()
    rows, total = service.find_people(viewer, filters, page=page, per_page=PER_PAGE)
    return render_template("people/index.html", filter_form=form,
                           rows=[(person, service.state_of(person)) for person in rows], total=total,
                           pages=pagination(total, page, PER_PAGE), filtered=filtered)


@people.route("/<int:person_id>")
def show(person_id: int) -> ResponseReturnValue:
    viewer = actor()
    person = load_person(person_id)
    return render_template("people/show.html", person=person, facts=service.account_facts(person),
                           steps=policy.person_steps(viewer, person), step_form=forms.PersonStepForm())


@people.route("/invite", methods=["GET", "POST"])
def invite() -> ResponseReturnValue:
    inviter = actor()
    options = service.invitation_choices(inviter)
    form = forms.InviteForm()
    form.role.choices = [(role.value, role.label) for role in options.roles]
    form.agency_id.choices = [(0, _("No agency"))] + [(agency.id, agency.name) for agency in options.agencies]
    form.partnership_ids.choices = [(p.id, p.name) for p in options.partnerships]
    form.region_id.choices = [(0, _("No region"))] + [(region.id, region.name) for region in options.regions]
    if len(options.roles) == 1 and not form.is_submitted():
        form.role.data = options.roles[0].value
    if not options.regions:
        del form.region_id

    def act() -> User:
        return service.invite(inviter, email=form.email.data, name=form.name.data, role=Role(form.role.data),
                              agency_id=form.agency_id.data or None, partnership_ids=form.partnership_ids.data or [],
                              region_id=(form.region_id.data or None) if "region_id" in form else None)

    def then(person: User) -> str:
        # A broker invites but does not look after accounts: back to their home page.
        return url_for("people.show", person_id=person.id) if policy.may_open(inviter, "people.show") \
            else url_for("home.index")

    back = url_for("people.index") if policy.may_open(inviter, "people.index") else url_for("home.index")
    return form_page(form, act=act, then=then,
                     done=lambda person: _("Invitation sent to %(email)s", email=person.email),
                     page=lambda: render_template("people/invite.html", form=form, heading=_("Invite someone"),
                                                  back={"text": _("Back"), "href": back}))


def _step_page(person_id: int, step: str, heading: str, explanation: str, button: str,
               act: Callable[[User, User], object], done: str, *, warning: bool = False) -> ResponseReturnValue:
    viewer = actor()
    person = load_person(person_id, step)
    form = forms.PersonStepForm()
    return form_page(form, act=lambda: act(viewer, person), done=done,
                     then=url_for("people.show", person_id=person.id),
                     page=lambda: render_template("people/step.html", form=form, person=person, heading=heading,
                                                  explanation=explanation, button=button, warning=warning,
                                                  back={"text": _("Back to %(name)s", name=person.name),
                                                        "href": url_for("people.show", person_id=person.id)}))


@people.route("/<int:person_id>/resend-invitation", methods=["GET", "POST"])
def resend_invitation(person_id: int) -> ResponseReturnValue:
    return _step_page(person_id, "resend_invitation", _("Re-send the invitation"),
                      _("A new email with a new link goes out; the links sent before stop working."),
                      _("Re-send invitation"), service.resend_invitation, _("Invitation sent again"))


@people.route("/<int:person_id>/revoke-invitation", methods=["GET", "POST"])
def revoke_invitation(person_id: int) -> ResponseReturnValue:
    return _step_page(person_id, "revoke_invitation", _("Revoke the invitation"),
                      _("The links sent to this person stop working. You can invite them again later."),
                      _("Revoke invitation"), service.revoke_invitation, _("Invitation revoked"))


@people.route("/<int:person_id>/deactivate", methods=["GET", "POST"])
def deactivate(person_id: int) -> ResponseReturnValue:
    return _step_page(person_id, "deactivate", _("Deactivate this account"),
                      _("They can no longer sign in. Every session and API token they have stops working at "
                        "their next request, and their calendar link ends."),
                      _("Deactivate account"), service.deactivate, _("Account deactivated"), warning=True)


@people.route("/<int:person_id>/reactivate", methods=["GET", "POST"])
def reactivate(person_id: int) -> ResponseReturnValue:
    return _step_page(person_id, "reactivate", _("Reactivate this account"),
                      _("They can sign in again. Nothing from before deactivation (sessions, API tokens, the "
                        "calendar link) works again."),
                      _("Reactivate account"), service.reactivate, _("Account reactivated"))
