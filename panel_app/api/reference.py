"""The pathways and the partnerships the caller works in."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from panel_app.api.base import api, documented, read_page
from panel_app.api.schemas import AgencyOut, ErrorOut, PartnershipList, PartnershipOut, PathwayOut
from panel_app.doors import actor
from panel_app.pathways import Pathway
from panel_app.services import partnerships


@api.route("/pathways")
@documented("The seven resettlement pathways", tag="Reference", responses={200: [PathwayOut], 401: ErrorOut})
def pathways() -> ResponseReturnValue:
    return jsonify([PathwayOut(key=p, name=p.label, number=p.number).model_dump(mode="json") for p in Pathway])


@api.route("/partnerships")
@documented(
    "The partnerships the caller works in, with their member agencies",
    tag="Reference",
    query={"page": "Page number, from 1", "per_page": "Items per page, at most 100"},
    responses={200: PartnershipList, 400: ErrorOut, 401: ErrorOut},
)
def partnerships_list() -> ResponseReturnValue:
    page = read_page()
    rows, total = partnerships.partnerships_for(actor(), page=page.number, per_page=page.per_page)
    items = [
        PartnershipOut(
            id=row.id,
            name=row.name,
            area=row.area,
            region=row.region.name,
            agencies=[AgencyOut.model_validate(agency) for agency in row.agencies],
        )
        for row in rows
    ]
    return jsonify(PartnershipList(items=items, total=total).model_dump(mode="json"))
