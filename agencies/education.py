"""Schools, pupil referral units, colleges and the local education service."""

from flask_babel import lazy_gettext as _l

from panel_app.pathways import Pathway

KEY = "education"
NAME = _l("Education")
USUAL_PATHWAYS = (Pathway.ETE,)
RESTRICTED_PATHWAYS_READABLE = ()
