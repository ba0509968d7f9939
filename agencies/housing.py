"""Local authority housing, supported lodgings and accommodation providers."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "housing"
NAME = _l("Housing")
USUAL_PATHWAYS = (Pathway.ACCOMMODATION, Pathway.FINANCE,)
RESTRICTED_PATHWAYS_READABLE = ()
