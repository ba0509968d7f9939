"""Actions through the API: the same services, scoping and concurrency rule as the pages."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from panel_app import policy
from panel_app.api.base import api, documented, fields_named, read_body, read_query
from panel_app.api.schemas import (
    ActionIn,
    ActionList,
    ActionOut,
    ActionPatch,
    ActionQuery,
    ActionUpdateOut,
    AgencyOut,
    ErrorOut,
)
from panel_app.doors import actor, load_action, load_referral
from panel_app.models import Action, User
from panel_app.services import actions as service


def _body(viewer: User, action: Action, *, history: bool = False) -> dict:
    visible = policy.can_read_action(viewer, action)
    body = ActionOut(
        id=action.id, referral_id=action.referral_id, pathway=action.pathway,
        agency=AgencyOut.model_validate(action.owner_agency), owner_user_id=action.owner_user_id,
        due_date=action.due_on, status=action.status, outcome=action.outcome if visible else None,
        not_done_reason=action.not_done_reason,
        meeting_id=action.meeting_id, version=action.version,
        history=[ActionUpdateOut(at=u.at, by_user_id=u.by_id, note=u.note if visible else None,
                                 status_from=u.status_from, status_to=u.status_to,
                                 due_from=u.due_from, due_to=u.due_to) for u in action.updates] if history else None,
        **({"description": action.description} if visible else {}),
    )
    return body.model_dump(mode="json", exclude_unset=True)


@api.route("/referrals/<int:referral_id>/actions", methods=["POST"])
@documented(
    "Record an action on a referral",
    tag="Actions",
    body=ActionIn,
    responses={201: ActionOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    description="Brokers of the referral's partnership. The agency must be on the panel and covered by the young "
    "person's consent; it is told by email and can then see the referral for the action's pathway.",
)
def action_create(referral_id: int) -> ResponseReturnValue:
    data = read_body(ActionIn)
    referral = load_referral(referral_id, "record_action")
    with fields_named(due_on="due_date"):
        action = service.create_action(actor(), referral, service.NewAction(
            pathway=data.pathway, description=data.description, agency_id=data.agency_id,
            due_on=data.due_date, owner_user_id=data.owner_user_id))
    return jsonify(_body(actor(), action)), 201


@api.route("/actions")
@documented(
    "The actions the caller may see (assigned_to=my_agency: those the caller's agency owes)",
    tag="Actions",
    query={"assigned_to": "my_agency", "page": "Page number, from 1", "per_page": "Items per page, at most 100"},
    responses={200: ActionList, 400: ErrorOut, 401: ErrorOut},
)
def actions_list() -> ResponseReturnValue:
    query = read_query(ActionQuery)
    caller = actor()
    rows, total = service.find_actions(caller, mine=query.assigned_to == "my_agency", page=query.page,
                                       per_page=query.per_page)
    return jsonify(ActionList(items=[_body(caller, a) for a in rows], total=total).model_dump(mode="json",
                                                                                          exclude_unset=True))


@api.route("/actions/<int:action_id>")
@documented("One action with its history of updates", tag="Actions",
            responses={200: ActionOut, 401: ErrorOut, 404: ErrorOut})
def action_detail(action_id: int) -> ResponseReturnValue:
    return jsonify(_body(actor(), load_action(action_id), history=True))


@api.route("/actions/<int:action_id>", methods=["PATCH"])
@documented(
    "Update an action: status, note, due date, outcome",
    tag="Actions",
    body=ActionPatch,
    responses={200: ActionOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
               422: ErrorOut},
    description="The broker or staff of the agency that owns it. Send the version you read: if someone else "
    "changed the action since, the answer is a 409 and nothing is saved.",
)
def action_update(action_id: int) -> ResponseReturnValue:
    data = read_body(ActionPatch)
    action = load_action(action_id, "update")
    with fields_named(due_on="due_date"):
        service.update_action(actor(), action, service.ActionChange(
            version=data.version, status=data.status, note=data.note,
            due_on=data.due_date, outcome=data.outcome))
    return jsonify(_body(actor(), action, history=True))
