"""Referrals through the API: the same services, scoping and field rules as the pages."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from panel_app.api.base import api, documented, read_body, read_query, values_of
from panel_app.api.schemas import (
    AgencyOut,
    ConsentOut,
    ErrorOut,
    FlagOut,
    InvolvedAgencyOut,
    NeedOut,
    ReferralIn,
    ReferralList,
    ReferralOut,
    ReferralQuery,
    ReferralSummaryOut,
    AcceptIn,
    DeclineIn,
    ShareIn,
    StageOut,
    YoungPersonOut,
)
from panel_app.doors import actor, load_referral
from panel_app.models import Referral, ReferralStatus, User
from panel_app.services import referral_views
from panel_app.services import referrals as service


def _summary_fields(viewer: User, referral: Referral) -> dict:
    return {
        "id": referral.id,
        "status": referral.status,
        "partnership_id": referral.partnership_id,
        "young_person": YoungPersonOut.model_validate(referral.young_person),
        "referring_agency": AgencyOut.model_validate(referral.referring_agency),
        "referred_on": referral.referred_on,
        "expected_release_on": referral.expected_release_on,
        "stage": referral.stage,
        "flags": [FlagOut(key=flag.key, label=flag.label) for flag in referral_views.flags(referral, viewer)],
    }


def _detail(viewer: User, referral: Referral) -> dict:
    record = referral_views.referral_record(viewer, referral)
    needs = {}
    for need in record.needs:
        # A note the caller may not read is left out entirely, not sent empty.
        needs[need.pathway] = (NeedOut(rating=need.rating) if need.note_hidden
                               else NeedOut(rating=need.rating, note=need.note))
    consent = record.consent
    body = ReferralOut(
        **_summary_fields(viewer, referral),
        reason=referral.reason,
        legal_status=referral.legal_status,
        sentenced_on=referral.sentenced_on,
        order_ends_on=referral.order_ends_on,
        after_recall=referral.after_recall,
        stage_detail=StageOut(number=referral.stage, name=record.stage_name),
        needs=needs,
        consent=None if consent is None else ConsentOut(
            given=consent.given, date=consent.given_on, all_member_agencies=consent.all_member_agencies,
            agency_ids=[agency.id for agency in consent.agencies], review_on=consent.review_on,
            withdrawn_on=consent.withdrawn_on),
        agencies=[InvolvedAgencyOut(id=a.agency_id, name=a.name, reasons=a.reasons,
                                    pathways=a.pathways) for a in record.agencies],
        previous_referral_id=referral.previous_referral_id if record.previous_visible else None,
        **({"possible_matches": [YoungPersonOut.model_validate(p) for p in record.possible_matches]}
           if record.possible_matches else {}),
        decline_reason=referral.decline_reason,
        closure_reason=referral.closure_reason,
        version=referral.version,
    )
    return body.model_dump(mode="json", exclude_unset=True)


def _answer(referral: Referral) -> ResponseReturnValue:
    """The referral as the caller may see it (docs/api.md: every call about one referral answers so)."""
    return jsonify(_detail(actor(), referral))


@api.route("/referrals", methods=["POST"])
@documented(
    "Refer a young person",
    tag="Referrals",
    body=ReferralIn,
    responses={201: ReferralOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    description="Brokers and staff of a member agency. The caller's agency is the referring agency (brokers "
    "name one in referring_agency_id). A young person the caller already sees is matched by name and date of "
    "birth; any other match is left to the broker's triage and the caller is told nothing about it.",
)
def referral_create() -> ResponseReturnValue:
    data = read_body(ReferralIn)
    person = data.young_person
    new = service.NewReferral(
        partnership_id=data.partnership_id,
        young_person=service.YoungPersonDetails(**person.model_dump()),
        reason=data.reason,
        consent=service.ConsentInput(
            given=data.consent.given,
            given_on=data.consent.date,
            all_member_agencies=data.consent.agency_ids is None,
            agency_ids=data.consent.agency_ids or [],
            review_on=data.consent.review_on,
        ),
        legal_status=data.legal_status,
        sentenced_on=data.sentenced_on,
        expected_release_on=data.expected_release_on,
        order_ends_on=data.order_ends_on,
        after_recall=data.after_recall,
        needs={pathway: service.NeedInput(need.rating, need.note) for pathway, need in data.needs.items()},
        referring_agency_id=data.referring_agency_id,
    )
    referral = service.refer(actor(), new)
    # Read back as the caller may see it, with what its record needs loaded (and the read audited).
    return _answer(load_referral(referral.id)), 201


@api.route("/referrals")
@documented(
    "The referrals the caller may see",
    tag="Referrals",
    query={"page": "Page number, from 1", "per_page": "Items per page, at most 100",
           "partnership_id": "Only this partnership", "status": values_of(ReferralStatus),
           "stage": "Only this stage number", "pathway": "With a red or amber need on this pathway",
           "rating": "With this rating (on the pathway, if given)",
           "release_within_weeks": "Expected release within this many weeks",
           "q": "Search by name or YOT reference"},
    responses={200: ReferralList, 400: ErrorOut, 401: ErrorOut},
)
def referrals_list() -> ResponseReturnValue:
    query = read_query(ReferralQuery)
    caller = actor()
    filters = service.ReferralFilters(
        partnership_id=query.partnership_id,
        status=query.status,
        stage=query.stage,
        pathway=query.pathway,
        rating=query.rating,
        release_within_weeks=query.release_within_weeks,
        search=query.q,
    )
    rows, total = service.find_referrals(caller, filters, page=query.page, per_page=query.per_page)
    body = ReferralList(items=[ReferralSummaryOut(**_summary_fields(caller, row)) for row in rows], total=total)
    return jsonify(body.model_dump(mode="json"))


@api.route("/referrals/<int:referral_id>")
@documented("One referral, as the caller may see it", tag="Referrals",
            responses={200: ReferralOut, 401: ErrorOut, 404: ErrorOut})
def referral_detail(referral_id: int) -> ResponseReturnValue:
    return _answer(load_referral(referral_id))


@api.route("/referrals/<int:referral_id>/share", methods=["POST"])
@documented(
    "Share a referral with a member agency, under the young person's consent",
    tag="Referrals",
    body=ShareIn,
    responses={200: ReferralOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    description="Brokers of the referral's partnership only.",
)
def referral_share(referral_id: int) -> ResponseReturnValue:
    data = read_body(ShareIn)
    referral = load_referral(referral_id, "share")
    service.share(actor(), referral, data.agency_id, data.pathways or [])
    return _answer(referral)


@api.route("/referrals/<int:referral_id>/accept", methods=["POST"])
@documented(
    "Accept a submitted referral (triage)",
    tag="Referrals",
    body=AcceptIn,
    responses={200: ReferralOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
               422: ErrorOut},
    description="Brokers of the referral's partnership only. When the referral lists possible_matches, name the "
    "one it is about in same_as_young_person_id, or leave it out to keep a new young person.",
)
def referral_accept(referral_id: int) -> ResponseReturnValue:
    data = read_body(AcceptIn)
    referral = load_referral(referral_id, "accept")
    service.accept(actor(), referral, data.version, same_as=data.same_as_young_person_id)
    return _answer(referral)


@api.route("/referrals/<int:referral_id>/decline", methods=["POST"])
@documented(
    "Decline a submitted referral, saying why (triage)",
    tag="Referrals",
    body=DeclineIn,
    responses={200: ReferralOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
               422: ErrorOut},
    description="Brokers of the referral's partnership only. The referring agency sees the reason.",
)
def referral_decline(referral_id: int) -> ResponseReturnValue:
    data = read_body(DeclineIn)
    referral = load_referral(referral_id, "decline")
    service.decline(actor(), referral, data.reason, data.version)
    return _answer(referral)
