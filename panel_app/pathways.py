"""The seven resettlement pathways: the fixed axis of needs, actions, gaps and reports.

The keys are part of the API contract (docs/api.md) and are stored in the database; the names are
what people read, so they are marked for translation.
"""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l


class Pathway(enum.StrEnum):
    ACCOMMODATION = "accommodation"
    ETE = "ete"
    HEALTH = "health"
    SUBSTANCE_MISUSE = "substance_misuse"
    FAMILIES = "families"
    FINANCE = "finance"
    TRANSITIONS = "transitions"

    @property
    def label(self) -> str:
        return str(_PATHWAY_NAMES[self])

    @property
    def short_label(self) -> str:
        """A short name for tight spaces (lists, tags)."""
        return str(_SHORT_NAMES[self])

    @property
    def number(self) -> int:
        """The pathway's number as practitioners count them (1 to 7)."""
        return list(Pathway).index(self) + 1

    @property
    def is_restricted(self) -> bool:
        """Health and substance-misuse details are special-category data read by a narrower circle."""
        return self in RESTRICTED_PATHWAYS


_PATHWAY_NAMES = {
    Pathway.ACCOMMODATION: _l("Accommodation"),
    Pathway.ETE: _l("Education, Training & Employment"),
    Pathway.HEALTH: _l("Health"),
    Pathway.SUBSTANCE_MISUSE: _l("Substance misuse"),
    Pathway.FAMILIES: _l("Families"),
    Pathway.FINANCE: _l("Finance, Benefits & Debt"),
    Pathway.TRANSITIONS: _l("Transitions & Case Management"),
}

_SHORT_NAMES = {
    Pathway.ACCOMMODATION: _l("Accommodation"),
    Pathway.ETE: _l("ETE"),
    Pathway.HEALTH: _l("Health"),
    Pathway.SUBSTANCE_MISUSE: _l("Substance misuse"),
    Pathway.FAMILIES: _l("Families"),
    Pathway.FINANCE: _l("Finance"),
    Pathway.TRANSITIONS: _l("Transitions"),
}

RESTRICTED_PATHWAYS = frozenset({Pathway.HEALTH, Pathway.SUBSTANCE_MISUSE})
