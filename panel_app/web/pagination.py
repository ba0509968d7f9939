"""Parameters for the GOV.UK pagination component, keeping the list's other query parameters."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_babel import gettext as _

from panel_app.errors import BadRequest


def page_number() -> int:
    """The page a list was asked for (``?page=``, 1 when absent); 400 with a message for anything else."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(_("The page number must be 1 or more."))
    return int(raw)


def _link(page: int) -> str:
    args = request.args.to_dict()
    args["page"] = str(page)
    return url_for(request.endpoint or "", **(request.view_args or {}), **args)


def pagination(total: int, page: int, per_page: int) -> dict[str, Any] | None:
    """``None`` when everything fits on one page."""
    last = max(1, -(-total // per_page))
    if last == 1:
        return None
    numbers = sorted({1, last, page - 1, page, page + 1} & set(range(1, last + 1)))
    items: list[dict[str, Any]] = []
    for index, number in enumerate(numbers):
        if index and number - numbers[index - 1] > 1:
            items.append({"ellipsis": True})
        items.append({"number": number, "href": _link(number), "current": number == page})
    params: dict[str, Any] = {"items": items, "landmarkLabel": _("Pages")}
    if page > 1:
        params["previous"] = {"href": _link(page - 1), "text": _("Previous")}
    if page < last:
        params["next"] = {"href": _link(page + 1), "text": _("Next")}
    return params
