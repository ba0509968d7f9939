"""Charities and community organisations: mentoring, coaching, advocacy."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "third_sector"
NAME = _l("Third sector")
USUAL_PATHWAYS = (Pathway.FAMILIES, Pathway.ETE, Pathway.ACCOMMODATION,)
RESTRICTED_PATHWAYS_READABLE = ()
