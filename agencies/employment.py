"""Careers advice, training providers and employment support."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "employment"
NAME = _l("Employment and careers")
USUAL_PATHWAYS = (Pathway.ETE, Pathway.FINANCE,)
RESTRICTED_PATHWAYS_READABLE = ()
