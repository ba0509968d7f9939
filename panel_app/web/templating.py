"""What every page template can use: the signed-in person, the navigation, the CSP nonce, dates in
the reader's time zone, and GOV.UK error summaries for forms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Flask, current_app, request, url_for
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import FormField

from panel_app import policy
from panel_app.pathways import Pathway
from panel_app.services.clock import today
from panel_app.doors import csp_nonce, current_actor
from panel_app.web.widgets import DateInput


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: Any


# The service navigation. A link shows only to people the route's rule admits.
NAVIGATION = (
    NavItem("home.index", _l("Home")),
    NavItem("referrals.triage", _l("Triage")),
    NavItem("referrals.index", _l("Referrals")),
    NavItem("referrals.new", _l("Refer a young person")),
    NavItem("actions.mine", _l("My actions")),
    NavItem("actions.follow_up", _l("Follow-up")),
    NavItem("meetings.index", _l("Meetings")),
    NavItem("gaps.review", _l("Escalated gaps")),
    NavItem("gaps.register", _l("Service gaps")),
    NavItem("gaps.dashboard", _l("Dashboard")),
    NavItem("people.index", _l("People")),
    NavItem("agencies.index", _l("Agencies")),
    NavItem("partnerships.index", _l("Partnerships")),
)


def select_locale() -> str:
    # English only for now; Welsh arrives with its translations (the markers are already in place).
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def _navigation() -> list[dict[str, Any]]:
    actor = current_actor()
    if actor is None:
        return []
    items = []
    for item in NAVIGATION:
        rule = policy.route_rule(item.endpoint)
        if rule is not None and rule.admits(actor):
            items.append(
                {"href": url_for(item.endpoint), "text": str(item.label), "active": request.endpoint == item.endpoint}
            )
    return items


def _form_errors(form: Any) -> dict[str, Any]:
    """GOV.UK error summary parameters for a form: its own errors first, then each field's first
    error linked to the field (into sub-forms; a date links to its day box)."""
    items: list[dict[str, str]] = [{"text": str(message)} for message in form.form_errors]

    def walk(fields: Any) -> None:
        for field in fields:
            if isinstance(field, FormField):
                walk(field.form)
            elif field.errors:
                target = f"{field.id}-day" if isinstance(field.widget, DateInput) else field.id
                items.append({"text": str(field.errors[0]), "href": f"#{target}"})

    walk(form)
    return {"titleText": _("There is a problem"), "errorList": items}


def _date(value: date | None, style: str = "d MMMM yyyy") -> str:
    return format_date(value, style) if value else ""


def _instant(value: datetime | None) -> str:
    """An instant in the reader's time zone, as people write it: 23 November 2026, 14:05."""
    return format_datetime(value, "d MMMM yyyy, HH:mm") if value else ""


def _when(value: datetime | None) -> str:
    """When a meeting is, in the reader's time zone: Tuesday 1 December 2026, 10:00."""
    return format_datetime(value, "EEEE d MMMM yyyy, HH:mm") if value else ""


def _clock(value: datetime | None) -> str:
    return format_datetime(value, "HH:mm") if value else ""


def install(app: Flask) -> None:
    app.add_template_filter(_date, "date")
    app.add_template_filter(_when, "when")
    app.add_template_filter(_clock, "clock")
    app.add_template_filter(_instant, "instant")
    app.add_template_filter(lambda key: Pathway(key).label, "pathway_label")
    app.add_template_filter(lambda text: _date(date.fromisoformat(text)) if text else "", "isodate")
    @app.context_processor
    def _page_context() -> dict[str, Any]:
        return {
            "actor": current_actor(),
            "navigation": _navigation(),
            "cspNonce": csp_nonce(),
            "form_errors": _form_errors,
            "service_name": _("Resettlement panels"),
            "today": today(),
        }
