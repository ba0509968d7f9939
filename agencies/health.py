"""Health boards, CAMHS, school nursing and GP services."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "health"
NAME = _l("Health")
USUAL_PATHWAYS = (Pathway.HEALTH,)
RESTRICTED_PATHWAYS_READABLE = (Pathway.HEALTH,)
