"""The administrator's agency pages: the list, adding an agency and changing one."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from agencies import AGENCY_TYPES
from panel_app.doors import actor
from panel_app.models import Agency
from panel_app.services import agencies as service
from panel_app.web import forms
from panel_app.web.form_pages import form_page

agencies = Blueprint("agencies", __name__, url_prefix="/admin/agencies")


@agencies.route("/")
def index() -> ResponseReturnValue:
    return render_template("agencies/index.html", agencies=service.list_agencies(actor()))


def _agency_page(agency: Agency | None) -> ResponseReturnValue:
    admin = actor()
    form = forms.AgencyForm(obj=agency)
    form.type.choices = [("", _("Choose a type"))] + sorted(
        ((key, agency_type.label) for key, agency_type in AGENCY_TYPES.items()), key=lambda choice: choice[1])
    heading = _("Add an agency") if agency is None else _("Change %(name)s", name=agency.name)

    def act() -> Agency:
        return service.save_agency(admin, agency, name=form.name.data, type=form.type.data, area=form.area.data,
                                   contact_email=form.contact_email.data,
                                   lead_contact_email=form.lead_contact_email.data, active=bool(form.active.data))

    return form_page(form, act=act, then=url_for("agencies.index"),
                     done=lambda saved: _("%(name)s saved", name=saved.name),
                     page=lambda: render_template("agencies/form.html", form=form, heading=heading,
                                                  back={"text": _("Back to agencies"),
                                                        "href": url_for("agencies.index")}))


@agencies.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    return _agency_page(None)


@agencies.route("/<int:agency_id>", methods=["GET", "POST"])
def edit(agency_id: int) -> ResponseReturnValue:
    return _agency_page(service.get_agency(actor(), agency_id))
