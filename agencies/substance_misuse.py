"""Young people's substance-misuse services."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "substance_misuse"
NAME = _l("Substance misuse")
USUAL_PATHWAYS = (Pathway.SUBSTANCE_MISUSE, Pathway.HEALTH,)
RESTRICTED_PATHWAYS_READABLE = (Pathway.SUBSTANCE_MISUSE,)
