"""Young offender institutions, secure training centres and secure children's homes."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "secure_estate"
NAME = _l("Secure estate")
USUAL_PATHWAYS = (Pathway.TRANSITIONS, Pathway.ETE, Pathway.HEALTH,)
RESTRICTED_PATHWAYS_READABLE = ()
