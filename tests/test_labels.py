"""The enums people read carry their words (docs/architecture.md, "Labels live on the enum"): every
member has each of its enum's labels, so no page, PDF, email or form meets a value without words."""

from __future__ import annotations

import enum

import pytest
from flask import Flask

from panel_app.models import (
    AccessReason,
    ActionStatus,
    AgendaKind,
    AttendanceStatus,
    ClosureReason,
    EmailStatus,
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
from panel_app.pathways import Pathway

READ_BY_PEOPLE: list[type[enum.Enum]] = [
    AccessReason, ActionStatus, AgendaKind, AttendanceStatus, ClosureReason, EmailStatus, GapSeverity, GapStatus,
    LegalStatus, MeetingStatus, MinutesStatus, NeedRating, NotDoneReason, Pathway, ReferralStatus, Role,
]


@pytest.mark.parametrize("kind", READ_BY_PEOPLE, ids=lambda kind: kind.__name__)
def test_every_member_has_words_for_each_of_its_labels(app: Flask, kind: type[enum.Enum]) -> None:
    names = [name for name in ("label", "short_label", "choice_label") if hasattr(kind, name)]
    assert "label" in names
    for member in kind:
        for name in names:
            words = getattr(member, name)
            assert isinstance(words, str) and words.strip(), f"{kind.__name__}.{member.name}.{name}"


def test_labels_are_not_taken_for_members() -> None:
    assert [member.value for member in NeedRating] == ["red", "amber", "green", "none"]
    assert NeedRating("red") is NeedRating.RED and NeedRating.RED == "red"
