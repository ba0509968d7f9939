"""The administrator's partnership pages: the list, adding a partnership and changing one (its
member agencies, brokers, region and journey stages)."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app.doors import actor
from panel_app.models import Partnership
from panel_app.services import partnerships as service
from panel_app.services import referrals as referral_service
from panel_app.web import forms
from panel_app.web.form_pages import form_page

partnerships = Blueprint("partnerships", __name__, url_prefix="/admin/partnerships")


@partnerships.route("/")
def index() -> ResponseReturnValue:
    rows = service.list_partnerships(actor())
    return render_template("partnerships/index.html", partnerships=rows)


def _partnership_page(partnership: Partnership | None) -> ResponseReturnValue:
    admin = actor()
    options = service.partnership_choices(admin)
    form = forms.PartnershipForm(obj=partnership)
    form.agency_ids.choices = [(agency.id, agency.name) for agency in options.agencies]
    form.broker_ids.choices = [(broker.id, f"{broker.name} ({broker.email})") for broker in options.brokers]
    if request.method == "GET" and partnership is not None:
        form.region.data = partnership.region.name
        form.agency_ids.data = [agency.id for agency in partnership.agencies]
        form.broker_ids.data = [broker.id for broker in partnership.brokers]
        form.stages.data = "\n".join(referral_service.stages_of(partnership.id))
    heading = _("Add a partnership") if partnership is None else _("Change %(name)s", name=partnership.name)

    def act() -> Partnership:
        return service.save_partnership(admin, partnership, name=form.name.data, area=form.area.data,
                                        region=form.region.data, agency_ids=form.agency_ids.data or [],
                                        broker_ids=form.broker_ids.data or [],
                                        stages=(form.stages.data or "").splitlines(),
                                        without_broker=bool(form.without_broker.data))

    return form_page(form, act=act, then=url_for("partnerships.index"),
                     done=lambda saved: _("%(name)s saved", name=saved.name),
                     page=lambda: render_template("partnerships/form.html", form=form, heading=heading,
                                                  back={"text": _("Back to partnerships"),
                                                        "href": url_for("partnerships.index")}))


@partnerships.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    return _partnership_page(None)


@partnerships.route("/<int:partnership_id>", methods=["GET", "POST"])
def edit(partnership_id: int) -> ResponseReturnValue:
    return _partnership_page(service.get_partnership(actor(), partnership_id))
