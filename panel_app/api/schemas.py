"""The shapes of the API's bodies (docs/api.md), as pydantic models: they check what comes in and
describe what goes out in the OpenAPI document.

A field that holds one of our enums is typed with the enum itself: the JSON carries its values (the
keys docs/api.md lists), the OpenAPI document lists them, and a wrong one is refused naming them."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from panel_app.models import (
    ActionStatus,
    AgendaKind,
    ClosureReason,
    GapSeverity,
    GapStatus,
    LegalStatus,
    MeetingStatus,
    MinutesStatus,
    NeedRating,
    NotDoneReason,
    ReferralStatus,
    Role,
)
from panel_app.models.base import MAX_ID
from panel_app.pathways import Pathway
from panel_app.services.gaps import RESPONSE_STATUSES
from panel_app.services.referrals import ADDRESS_MAX, NAME_MAX, NOTE_MAX, REASON_MAX, SHORT_MAX

# A record's id: a number too large to be one is an error in the request, not in the database.
RecordId = Annotated[int, Field(ge=1, le=MAX_ID)]


def some_of(members: Sequence[StrEnum]) -> Any:
    """A field that takes only some members of an enum. Checked (and listed in the OpenAPI document)
    as a Literal of their values, since pydantic would name a Literal of the members by their reprs
    in its error message; the model then holds the members themselves."""
    return Annotated[Literal[tuple(member.value for member in members)], AfterValidator(type(members[0]))]


class Incoming(BaseModel):
    # Unknown fields are refused, so a misspelt field is an error rather than silently ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Outgoing(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(Outgoing):
    code: str = Field(description="bad_request, unauthorized, forbidden, not_found, conflict, invalid, ...")
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(Outgoing):
    error: ErrorDetail


class TokenIn(Incoming):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(Outgoing):
    token: str
    expires_at: datetime


class AgencyOut(Outgoing):
    id: int
    name: str
    type: str


class MeOut(Outgoing):
    id: int
    email: str
    name: str
    role: Role
    agency: AgencyOut | None
    partnership_ids: list[int]


class PathwayOut(Outgoing):
    key: Pathway
    name: str
    number: int


class PartnershipOut(Outgoing):
    id: int
    name: str
    area: str
    region: str
    agencies: list[AgencyOut]


class PartnershipList(Outgoing):
    items: list[PartnershipOut]
    total: int


# --- Referrals ----------------------------------------------------------------------------------

class YoungPersonIn(Incoming):
    given_name: str = Field(min_length=1, max_length=NAME_MAX)
    family_name: str = Field(min_length=1, max_length=NAME_MAX)
    date_of_birth: date
    pronouns: str | None = Field(default=None, max_length=SHORT_MAX)
    preferred_language: str | None = Field(default=None, max_length=SHORT_MAX)
    yot_reference: str | None = Field(default=None, max_length=SHORT_MAX)
    phone: str | None = Field(default=None, max_length=SHORT_MAX)
    email: str | None = Field(default=None, max_length=254)
    address: str | None = Field(default=None, max_length=ADDRESS_MAX)


class NeedIn(Incoming):
    rating: NeedRating
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class ConsentIn(Incoming):
    given: bool
    date: dt.date | None = Field(default=None, description="When consent was given; today if left out")
    agency_ids: list[RecordId] | None = Field(default=None, description="The agencies the young person agreed to share "
                                         "with; every agency on the panel if left out")
    review_on: dt.date | None = Field(default=None, description="When to review consent; a year on if left out")


class ReferralIn(Incoming):
    partnership_id: RecordId
    young_person: YoungPersonIn
    reason: str = Field(min_length=1, max_length=REASON_MAX)
    needs: dict[Pathway, NeedIn] = Field(default_factory=dict)
    consent: ConsentIn
    legal_status: LegalStatus = LegalStatus.OTHER
    sentenced_on: dt.date | None = None
    expected_release_on: dt.date | None = None
    order_ends_on: dt.date | None = None
    after_recall: bool = False
    referring_agency_id: RecordId | None = Field(default=None, description="Brokers only: the agency the referral is "
                                            "made for. Agency staff always refer for their own agency.")


class AcceptIn(Incoming):
    same_as_young_person_id: RecordId | None = Field(
        default=None, description="One of the referral's possible_matches: the young person this referral is about "
        "(the referral joins their record). Leave out to accept it as a new young person.")
    version: int | None = Field(default=None, ge=0, le=MAX_ID,
                                description="The version you read; a 409 if the referral changed since")


class DeclineIn(Incoming):
    reason: str = Field(min_length=1, max_length=NOTE_MAX, description="Why; the referring agency sees it")
    version: int | None = Field(default=None, ge=0, le=MAX_ID,
                                description="The version you read; a 409 if the referral changed since")


class ShareIn(Incoming):
    agency_id: RecordId
    pathways: list[Pathway] | None = Field(default=None, description="The pathways the agency will work on; "
                                              "its usual ones if left out")


class ReferralQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=25, ge=1, le=100)
    partnership_id: RecordId | None = None
    status: ReferralStatus | None = None
    stage: int | None = Field(default=None, ge=1, le=50)
    pathway: Pathway | None = None
    rating: NeedRating | None = None
    release_within_weeks: int | None = Field(default=None, ge=1, le=104)
    q: str | None = Field(default=None, max_length=100)


class YoungPersonOut(Outgoing):
    id: int
    given_name: str
    family_name: str
    date_of_birth: dt.date
    pronouns: str | None = None
    preferred_language: str | None = None
    yot_reference: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


class NeedOut(Outgoing):
    rating: NeedRating
    note: str | None = Field(default=None, description="Absent when the caller may not read it (a restricted "
                                                        "pathway the caller does not work on)")


class ConsentOut(Outgoing):
    given: bool
    date: dt.date | None
    all_member_agencies: bool
    agency_ids: list[int]
    review_on: dt.date | None
    withdrawn_on: dt.date | None


class InvolvedAgencyOut(Outgoing):
    id: int
    name: str
    reasons: list[str]
    pathways: list[Pathway]


class FlagOut(Outgoing):
    key: str
    label: str


class StageOut(Outgoing):
    number: int
    name: str


class ReferralSummaryOut(Outgoing):
    id: int
    status: ReferralStatus
    partnership_id: int
    young_person: YoungPersonOut
    referring_agency: AgencyOut
    referred_on: dt.date
    expected_release_on: dt.date | None
    stage: int
    flags: list[FlagOut]


class ReferralOut(ReferralSummaryOut):
    reason: str
    legal_status: LegalStatus
    sentenced_on: dt.date | None
    order_ends_on: dt.date | None
    after_recall: bool
    stage_detail: StageOut
    needs: dict[Pathway, NeedOut]
    consent: ConsentOut | None
    agencies: list[InvolvedAgencyOut]
    previous_referral_id: int | None = None
    possible_matches: list[YoungPersonOut] | None = Field(
        default=None, description="The broker's triage only: records of the partnership with this young person's "
        "names and date of birth, possibly the same young person")
    decline_reason: str | None
    closure_reason: ClosureReason | None
    version: int


class ReferralList(Outgoing):
    items: list[ReferralSummaryOut]
    total: int


# --- Meetings -----------------------------------------------------------------------------------


class MeetingIn(Incoming):
    partnership_id: RecordId
    starts_at: AwareDatetime = Field(description="ISO 8601 with an offset, e.g. 2026-12-01T10:00:00+00:00")
    ends_at: AwareDatetime
    location: str | None = Field(default=None, max_length=200)
    online_link: str | None = Field(default=None, max_length=500)
    invited_agency_ids: list[RecordId] | None = Field(default=None, description="Every member agency if left out")
    recurrence: str | None = Field(default=None, max_length=200, description="An RFC 5545 rule for a series, e.g. "
                                   "FREQ=MONTHLY;BYDAY=1TU;COUNT=6 (weekly or monthly, at most 24 meetings)")


class AgendaIn(Incoming):
    referral_id: RecordId
    kind: AgendaKind
    minutes_allotted: int | None = Field(default=None, ge=1, le=240)


class MeetingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=25, ge=1, le=100)
    partnership_id: RecordId | None = None
    when: Literal["upcoming", "past"] | None = None


class RestrictedCaseOut(Outgoing):
    initials: str
    age: int
    pathways_of_need: list[Pathway]


class CaseNoteOut(Outgoing):
    pathway: Pathway | None = Field(description="The pathway the note is about; null for the general note")
    text: str


class UpdateOut(Outgoing):
    agency_id: int
    pathway: Pathway | None = Field(description="The pathway the update is about; null for a general update")
    text: str
    sent_at: datetime


class AgendaItemOut(Outgoing):
    id: int
    position: int
    kind: AgendaKind
    minutes_allotted: int | None
    referral_id: int | None = Field(description="Only for cases the caller may see")
    young_person: YoungPersonOut | None = Field(description="Only for cases the caller may see")
    restricted: RestrictedCaseOut | None = Field(description="For the other cases: initials, age, pathways of need")
    information_sent_by: list[int] = Field(description="Agencies that sent their update (cases the caller may see; "
                                           "an update about health or substance misuse only to its readers)")
    notes: list[CaseNoteOut] = Field(default_factory=list, description="The panel's discussion notes the caller "
                                     "may read: the general note, and each pathway's (health and substance misuse "
                                     "only for the broker, the referrer and the agencies working on that pathway)")
    decisions: str | None = Field(default=None, description="The panel's decisions (cases the caller may see)")
    updates: list[UpdateOut] = Field(default_factory=list, description="The updates sent before the panel that the "
                                     "caller may read (restricted as the notes are)")


class MeetingOut(Outgoing):
    id: int
    partnership_id: int
    starts_at: datetime
    ends_at: datetime
    location: str | None
    online_link: str | None
    status: MeetingStatus
    minutes_status: MinutesStatus
    invited_agency_ids: list[int]
    uid: str
    sequence: int
    agenda: list[AgendaItemOut]
    version: int


class MeetingList(Outgoing):
    items: list[MeetingOut]
    total: int


# --- Actions ------------------------------------------------------------------------------------

class ActionIn(Incoming):
    pathway: Pathway
    description: str = Field(min_length=1, max_length=2_000)
    agency_id: RecordId
    due_date: dt.date
    owner_user_id: RecordId | None = Field(default=None, description="A named worker of the agency (optional)")


class ActionPatch(Incoming):
    version: int = Field(ge=1, description="The version you read: a stale one is a 409")
    status: ActionStatus | None = None
    note: str | None = Field(default=None, max_length=4_000)
    due_date: dt.date | None = None
    outcome: str | None = Field(default=None, max_length=4_000)


class ActionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=25, ge=1, le=100)
    assigned_to: Literal["my_agency"] | None = None


class ActionUpdateOut(Outgoing):
    at: datetime
    by_user_id: int | None
    note: str | None
    status_from: ActionStatus | None
    status_to: ActionStatus | None
    due_from: dt.date | None
    due_to: dt.date | None


class ActionOut(Outgoing):
    id: int
    referral_id: int
    pathway: Pathway
    description: str | None = Field(default=None, description="Absent for an action on a restricted pathway the "
                                                              "caller does not work on")
    agency: AgencyOut
    owner_user_id: int | None
    due_date: dt.date
    status: ActionStatus
    outcome: str | None
    not_done_reason: NotDoneReason | None
    meeting_id: int | None
    version: int
    history: list[ActionUpdateOut] | None = Field(default=None, description="On GET /actions/{id} and PATCH")


class ActionList(Outgoing):
    items: list[ActionOut]
    total: int


# --- Service gaps -------------------------------------------------------------------------------

class GapIn(Incoming):
    partnership_id: RecordId
    pathway: Pathway
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=10_000)
    severity: GapSeverity
    referral_ids: list[RecordId] = Field(default_factory=list, max_length=500)


class EscalateIn(Incoming):
    note: str = Field(min_length=1, max_length=10_000)


# A response moves an escalated gap on: it cannot leave it open or escalated (the service says so too).
GapResponseStatus = some_of(RESPONSE_STATUSES)


class ResponseIn(Incoming):
    response: str = Field(min_length=1, max_length=10_000)
    status: GapResponseStatus
    owner: str | None = Field(default=None, max_length=200)
    target_date: dt.date | None = None


class GapQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=25, ge=1, le=100)
    partnership_id: RecordId | None = None
    pathway: Pathway | None = None
    status: GapStatus | None = None
    severity: GapSeverity | None = None


class GapOut(Outgoing):
    id: int
    partnership_id: int
    pathway: Pathway
    title: str
    description: str
    severity: GapSeverity
    status: GapStatus
    logged_at: datetime
    escalated_at: datetime | None
    owner: str | None
    target_date: dt.date | None
    young_people_affected: int
    longest_wait_days: int
    agencies_raising: int
    referral_ids: list[int] | None = Field(default=None, description="Case workers only: the referrals among "
                                           "the evidence they may see. Never given to strategic leads.")
    version: int


class GapList(Outgoing):
    items: list[GapOut]
    total: int
