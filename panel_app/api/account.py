"""Tokens and the caller's own account."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from panel_app.api.base import api, documented, read_body
from panel_app.api.schemas import AgencyOut, ErrorOut, MeOut, TokenIn, TokenOut
from panel_app.doors import actor, error_response
from panel_app.services import accounts, partnerships
from panel_app.throttling import sign_in_per_account, sign_in_per_address


@api.route("/auth/token", methods=["POST"])
# The same counts as the sign-in page: failures through either door add up.
@sign_in_per_account
@sign_in_per_address
@documented(
    "Exchange an email address and password for a bearer token",
    tag="Account",
    body=TokenIn,
    responses={200: TokenOut, 400: ErrorOut, 401: ErrorOut, 429: ErrorOut},
    public=True,
    description="The same 401 answers an unknown address and a wrong password. Repeated failures "
    "are throttled (429) per account and per client address.",
)
def issue_token() -> ResponseReturnValue:
    credentials = read_body(TokenIn)
    user = accounts.authenticate(credentials.email, credentials.password)
    if user is None:
        # Answered, not raised: the failed attempt's audit row must be committed, not rolled back.
        return error_response(401, "unauthorized", _("The email address or password is not right."))
    token, expires_at = accounts.issue_api_token(user)
    return jsonify(TokenOut(token=token, expires_at=expires_at).model_dump(mode="json"))


@api.route("/me")
@documented("The signed-in caller", tag="Account", responses={200: MeOut, 401: ErrorOut})
def me() -> ResponseReturnValue:
    user = actor()
    body = MeOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        agency=AgencyOut.model_validate(user.agency) if user.agency else None,
        partnership_ids=partnerships.partnership_ids_for(user),
    )
    return jsonify(body.model_dump(mode="json"))
