"""The API door: tokens, who am I, pathways, partnerships, uniform errors, the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import select

from panel_app.api.schemas import ErrorOut, MeOut, PartnershipList, PathwayOut, TokenOut
from panel_app.models import ApiToken, AuditEvent, Role, db, utcnow
from tests.conftest import PASSWORD
from tests.factories import make_agency, make_partnership, make_region, make_user


def _token(client: FlaskClient, email: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def _error(response) -> dict:
    body = ErrorOut.model_validate(response.get_json())
    return body.error.model_dump()


def test_a_token_is_issued_for_good_credentials_and_stored_hashed(client: FlaskClient) -> None:
    user = make_user(Role.BROKER, email="api@example.org")
    response = _token(client, "api@example.org")
    assert response.status_code == 200
    body = TokenOut.model_validate(response.get_json())
    assert body.expires_at.tzinfo is not None
    assert timedelta(hours=11) < body.expires_at - utcnow() <= timedelta(hours=12)
    stored = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert stored.token_digest != body.token and body.token not in stored.token_digest
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body.token}"})
    assert me.status_code == 200 and me.get_json()["email"] == "api@example.org"


def test_bad_credentials_get_the_same_401_whether_the_email_exists_or_not(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="exists@example.org")
    wrong = _token(client, "exists@example.org", "not the password at all")
    unknown = _token(client, "ghost@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert _error(wrong)["code"] == "unauthorized"
    failures = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in.failed")).all()
    assert [(event.channel, event.detail["reason"]) for event in failures] == [("api", "password"), ("api", "unknown")]


def test_token_requests_are_throttled(client: FlaskClient) -> None:
    make_user(Role.BROKER, email="brute@example.org")
    assert [_token(client, "brute@example.org", "x").status_code for _ in range(5)] == [401] * 5
    blocked = _token(client, "brute@example.org")
    assert blocked.status_code == 429
    assert _error(blocked)["code"] == "too_many_requests"


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        ("{not json", "application/json", None),
        ("[1, 2]", "application/json", "body"),
        ('{"email": "a@b.org"}', "application/json", "password"),
        ('{"email": 5, "password": "x"}', "application/json", "email"),
        ('{"email": "a@b.org", "password": "x", "extra": 1}', "application/json", "extra"),
        ('{"email": "' + "a" * 300 + '", "password": "x"}', "application/json", "email"),
        ("email=a&password=b", "application/x-www-form-urlencoded", None),
    ],
)
def test_malformed_token_requests_are_a_400_naming_the_field(client: FlaskClient, body, content_type, field) -> None:
    response = client.post("/api/v1/auth/token", data=body, content_type=content_type)
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "bad_request" and error["message"]
    if field is not None:
        assert field in error["fields"]


def test_no_token_an_expired_token_and_a_forged_token_are_401(client: FlaskClient, api_token) -> None:
    user = make_user(Role.BROKER)
    missing = client.get("/api/v1/me")
    assert missing.status_code == 401 and _error(missing)["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    forged = client.get("/api/v1/me", headers={"Authorization": "Bearer forged-token-value"})
    assert forged.status_code == 401 and "expired or is not valid" in _error(forged)["message"]
    headers = api_token(user)
    stored = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    stored.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_session_cookie_does_not_open_the_api(client: FlaskClient, login_as) -> None:
    login_as(make_user(Role.BROKER))
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").status_code == 401


def test_a_deactivated_account_tokens_stop_working(client: FlaskClient, api_token) -> None:
    user = make_user(Role.BROKER)
    headers = api_token(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    user.active = False
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_me_describes_each_role(client: FlaskClient, api_token) -> None:
    region = make_region(name="Wales")
    housing = make_agency(name="Housing Team", type="housing")
    broker = make_user(Role.BROKER)
    staff = make_user(Role.AGENCY_STAFF, agency=housing)
    lead = make_user(Role.STRATEGIC_LEAD, region=region)
    admin = make_user(Role.ADMIN)
    brokered = make_partnership(region=region, brokers=[broker], agencies=[housing])
    other = make_partnership(region=region)
    make_partnership()  # another region: nobody here works in it

    def me(user):
        response = client.get("/api/v1/me", headers=api_token(user))
        assert response.status_code == 200
        return MeOut.model_validate(response.get_json())

    assert me(broker).role == "broker" and me(broker).partnership_ids == [brokered.id] and me(broker).agency is None
    staff_me = me(staff)
    assert staff_me.role == "agency_staff" and staff_me.partnership_ids == [brokered.id]
    assert staff_me.agency is not None and staff_me.agency.model_dump() == {"id": housing.id, "name": "Housing Team",
                                                                           "type": "housing"}
    assert me(lead).role == "strategic_lead" and sorted(me(lead).partnership_ids) == sorted([brokered.id, other.id])
    assert me(admin).role == "admin" and me(admin).partnership_ids == []


def test_pathways_are_the_seven_in_order(client: FlaskClient, api_token) -> None:
    response = client.get("/api/v1/pathways", headers=api_token(make_user(Role.AGENCY_STAFF)))
    assert response.status_code == 200
    pathways = [PathwayOut.model_validate(item) for item in response.get_json()]
    assert [p.key for p in pathways] == [
        "accommodation", "ete", "health", "substance_misuse", "families", "finance", "transitions",
    ]
    assert pathways[1].name == "Education, Training & Employment"


def test_partnerships_are_those_the_caller_works_in_paginated(client: FlaskClient, api_token) -> None:
    region = make_region()
    broker = make_user(Role.BROKER)
    yot = make_agency(type="yot", name="A YOT")
    mine = [make_partnership(region=region, brokers=[broker], agencies=[yot], name=f"P{i}") for i in range(3)]
    make_partnership(region=region, name="Not mine")
    headers = api_token(broker)
    response = client.get("/api/v1/partnerships?per_page=2", headers=headers)
    assert response.status_code == 200
    body = PartnershipList.model_validate(response.get_json())
    assert body.total == 3
    assert [p.name for p in body.items] == ["P0", "P1"]
    assert body.items[0].agencies[0].model_dump() == {"id": yot.id, "name": "A YOT", "type": "yot"}
    page_two = PartnershipList.model_validate(client.get("/api/v1/partnerships?per_page=2&page=2",
                                                         headers=headers).get_json())
    assert [p.id for p in page_two.items] == [mine[2].id] and page_two.total == 3


@pytest.mark.parametrize("query", ["per_page=101", "per_page=0", "page=0", "page=two"])
def test_bad_page_parameters_are_a_400(client: FlaskClient, api_token, query: str) -> None:
    response = client.get(f"/api/v1/partnerships?{query}", headers=api_token(make_user(Role.BROKER)))
    assert response.status_code == 400
    assert _error(response)["fields"]


def test_unknown_paths_and_methods_answer_in_json(client: FlaskClient, api_token) -> None:
    headers = api_token(make_user(Role.BROKER))
    missing = client.get("/api/v1/nothing-here", headers=headers)
    assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
    wrong_method = client.delete("/api/v1/me", headers=headers)
    assert wrong_method.status_code == 405 and _error(wrong_method)["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


def test_an_oversized_body_is_a_413_in_json(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/token", data="x" * (3 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


# --- The OpenAPI document -----------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_public(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.")


def test_the_openapi_document_describes_exactly_the_registered_routes(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = rule.rule.removeprefix("/api/v1")
            for converter in ("<int:", "<"):
                path = path.replace(converter, "{")
            path = path.replace(">", "}")
            registered |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == registered
    # The contract of docs/api.md for this foundation, written out by hand.
    for path, method in [("/auth/token", "post"), ("/openapi.json", "get"), ("/me", "get"),
                         ("/pathways", "get"), ("/partnerships", "get")]:
        assert (path, method) in documented
    assert document["paths"]["/auth/token"]["post"]["security"] == []
    assert "security" not in document["paths"]["/me"]["get"]  # falls back to the global bearer requirement


def test_answers_match_the_schemas_the_document_promises(client: FlaskClient, api_token) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert {"TokenIn", "TokenOut", "MeOut", "PathwayOut", "PartnershipList", "ErrorOut"} <= schemas.keys()
    me = document["paths"]["/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert me == {"$ref": "#/components/schemas/MeOut"}
    assert set(schemas["MeOut"]["required"]) == {"id", "email", "name", "role", "agency", "partnership_ids"}


def _allowed(schemas: dict, schema: dict) -> list[str]:
    """The values a property's schema allows, through a reference to an enum's schema and a null."""
    if "$ref" in schema:
        return _allowed(schemas, schemas[schema["$ref"].rsplit("/", 1)[-1]])
    if "anyOf" in schema:
        return [value for option in schema["anyOf"] if option.get("type") != "null" for value in _allowed(schemas, option)]
    return schema["enum"]


def test_the_document_lists_the_values_docs_api_md_promises(client: FlaskClient) -> None:
    # The keys written out by hand, as docs/api.md gives them: the enums behind the schemas must not move them.
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    expected = {
        ("ReferralIn", "legal_status"): ["custody", "community_order", "other"],
        ("ReferralOut", "closure_reason"): ["completed", "disengaged", "transferred", "moved_away", "other"],
        ("ReferralSummaryOut", "status"): ["submitted", "accepted", "declined", "active", "closed"],
        ("NeedIn", "rating"): ["red", "amber", "green", "none"],
        ("ActionIn", "pathway"): ["accommodation", "ete", "health", "substance_misuse", "families", "finance",
                                  "transitions"],
        ("ActionPatch", "status"): ["open", "in_progress", "blocked", "done", "cancelled"],
        ("ActionOut", "not_done_reason"): ["change_of_circumstances", "agency_has_not_acted"],
        ("AgendaIn", "kind"): ["new", "review", "escalation"],
        ("MeetingOut", "status"): ["scheduled", "held", "cancelled"],
        ("MeetingOut", "minutes_status"): ["draft", "approved"],
        ("GapIn", "severity"): ["low", "medium", "high", "critical"],
        ("GapOut", "status"): ["open", "escalated", "in_progress", "resolved", "accepted"],
        # A response moves an escalated gap on: never back to open or escalated.
        ("ResponseIn", "status"): ["in_progress", "resolved", "accepted"],
        ("MeOut", "role"): ["broker", "agency_staff", "strategic_lead", "admin"],
    }
    for (model, field), values in expected.items():
        assert _allowed(schemas, schemas[model]["properties"][field]) == values, (model, field)
