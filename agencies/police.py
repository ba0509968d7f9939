"""Police forces and their youth or prevention teams."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "police"
NAME = _l("Police")
USUAL_PATHWAYS = (Pathway.TRANSITIONS,)
RESTRICTED_PATHWAYS_READABLE = ()
