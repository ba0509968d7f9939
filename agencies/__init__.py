"""The types of agency that sit on a resettlement panel, one module per type.

Each module declares ``KEY`` (stored on ``Agency.type``), ``NAME``, ``USUAL_PATHWAYS`` (the
pathways such an agency usually works on, offered first when sharing or assigning) and
``RESTRICTED_PATHWAYS_READABLE`` (which of the special-category pathways, health and substance
misuse, staff of this type may read when their agency works on that pathway). Adding a type of
agency is adding one module here; nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from panel_app.pathways import RESTRICTED_PATHWAYS, Pathway


@dataclass(frozen=True)
class AgencyType:
    key: str
    name: object  # a lazy translatable string
    usual_pathways: tuple[Pathway, ...]
    restricted_pathways_readable: frozenset[Pathway]

    @property
    def label(self) -> str:
        return str(self.name)


def _discover() -> dict[str, AgencyType]:
    types: dict[str, AgencyType] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        readable = frozenset(module.RESTRICTED_PATHWAYS_READABLE)
        if not readable <= RESTRICTED_PATHWAYS:
            raise ValueError(f"{module.__name__}: only restricted pathways belong in RESTRICTED_PATHWAYS_READABLE")
        agency_type = AgencyType(
            key=module.KEY,
            name=module.NAME,
            usual_pathways=tuple(module.USUAL_PATHWAYS),
            restricted_pathways_readable=readable,
        )
        if agency_type.key in types:
            raise ValueError(f"two agency types share the key {agency_type.key!r}")
        types[agency_type.key] = agency_type
    return types


AGENCY_TYPES: dict[str, AgencyType] = _discover()


def agency_type(key: str) -> AgencyType:
    """The agency type with this key; ``KeyError`` for a key no module declares."""
    return AGENCY_TYPES[key]
